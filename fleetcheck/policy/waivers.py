"""Waivers: an accepted exception for a check on a host or group, with an expiry.

```yaml
waivers:
  - check: ie-mode-portal          # check id (or policy-id/check-id)
    hosts: [PC-SZ-014]             # and/or groups: [shenzhen]
    reason: 该机只做查询，不做证书更新
    approver: 张三
    expires: 2026-12-31
```
An expired waiver no longer applies (the finding shows its real status).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleetcheck.i18n import T, TextValueError


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    hosts: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    reason: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: date

    @model_validator(mode="after")
    def _targets(self) -> Waiver:
        if not self.hosts and not self.groups:
            raise TextValueError(T("豁免必须写明 hosts 或 groups（适用于谁）",
                                    "a waiver needs 'hosts' or 'groups' (whom it applies to)"))
        return self

    def applies(self, policy_id: str, check_id: str, host: str, groups: list[str], today: date) -> bool:
        return not self.expired(today) and self.matches(policy_id, check_id, host, groups)

    def expired(self, today: date) -> bool:
        """Whether the waiver has run out (``expires`` is the last day it holds, office date)."""
        return today > self.expires

    def matches(self, policy_id: str, check_id: str, host: str, groups: list[str]) -> bool:
        """Whether the waiver names this check on this host (or one of its groups), expired or not."""
        if self.check not in (check_id, f"{policy_id}/{check_id}"):
            return False
        return host in self.hosts or any(g in self.groups for g in groups)


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = Field(default_factory=list)
