"""``when:`` conditions: on which hosts a check applies.

A condition is a mapping; every key given must hold (logical AND):

```yaml
when:
  os: ">=10.0"                 # version spec on the OS version (6.1 = Windows 7)
  os_family: [win10, win11]    # win7 | win8 | win10 | win11
  arch: x64                    # x86 | x64 | arm64, or a list
  host: {branch: 深圳}          # inventory variables, equal (a list = any of)
```

When false the finding is ``not_applicable``. Anything else in ``when:`` is
rejected by the loader with the position of the offending key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from fleetcheck.agent.contract import OsFacts
from fleetcheck.checks.common import VersionSpecField
from fleetcheck.versions import parse_version

OsFamily = Literal["win7", "win8", "win10", "win11"]
Arch = Literal["x86", "x64", "arm64"]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    os: VersionSpecField | None = None
    os_family: list[OsFamily] | None = None
    arch: list[Arch] | None = None
    host: dict[str, Any] | None = None

    @field_validator("os_family", "arch", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def os_family(os: OsFacts) -> OsFamily | None:
    """Windows 7 is 6.1, 8/8.1 are 6.2/6.3, 11 is 10.0 with build >= 22000."""
    major, minor, build = parse_version(os.version)[:3]
    build = os.build or build
    if (major, minor) == (6, 1):
        return "win7"
    if (major, minor) in ((6, 2), (6, 3)):
        return "win8"
    if major == 10:
        return "win11" if build >= 22000 else "win10"
    return None


def holds(cond: Condition | None, os: OsFacts, host_vars: dict[str, Any]) -> bool:
    """True when every part of the condition holds on this host."""
    if cond is None:
        return True
    if cond.os is not None and not cond.os.matches(os.version):
        return False
    if cond.os_family is not None and os_family(os) not in cond.os_family:
        return False
    if cond.arch is not None and os.arch not in cond.arch:
        return False
    for name, wanted in (cond.host or {}).items():
        actual = host_vars.get(name)
        options = wanted if isinstance(wanted, list) else [wanted]
        if actual not in options:
            return False
    return True
