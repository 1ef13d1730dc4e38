"""``edge_policy``: one Microsoft Edge policy value (R1 DownloadRestrictions, R7 IE mode).

```yaml
- id: edge-ie-reload
  type: edge_policy
  name: InternetExplorerIntegrationReloadInIEModeAllowed
  equals: 1                      # or  allowed: [0, 1]
  absent_ok: false               # is "not configured" acceptable?
  alternatives:                  # any of these holding also passes
    - {name: InternetExplorerIntegrationLevel, equals: 1}
```

Edge reads, highest first (Microsoft Edge policy precedence: mandatory over
recommended, machine over user): mandatory machine policy
``HKLM\\SOFTWARE\\Policies\\Microsoft\\Edge``, mandatory user policy
``HKU\\<SID>\\Software\\Policies\\Microsoft\\Edge``, then the ``\\Recommended``
subkeys (machine, user) — but only for a policy Microsoft documents as
"Can be recommended: Yes" (:data:`EDGE_POLICIES`; e.g. InternetExplorerIntegrationLevel
and InternetExplorerIntegrationSiteList cannot be recommended, so a Recommended
value of theirs is ignored by Edge and never passes here). A policy not in the
table needs ``can_be_recommended`` in the check; until then a Recommended-only
value is an ``error`` finding, not a guess.

Earned passes: the user layers are read only when an operator profile is known;
without one, only a mandatory machine value can decide (it beats every user
value); anything else is ``not_evaluated``.

Decision (R7): the user's own toggle in edge://settings ("允许在 Internet
Explorer 模式下重新加载网站") is stored in Edge's profile in a form that is not
documented; fleetcheck checks (and fixes) the policy, which also stops the
setting being switched off again. The "site list covers the portal" half of R7
is R8's ``ie_mode_site`` check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleetcheck.agent.contract import Query, RegistryQuery, RegKey, RegValue
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, reg_query, register
from fleetcheck.checks.facts import FactError, no_operator, reg_location, registry_key
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, TextValueError

EDGE = r"SOFTWARE\Policies\Microsoft\Edge"
USER_EDGE = r"Software\Policies\Microsoft\Edge"
_DOCS = "https://learn.microsoft.com/deployedge/microsoft-edge-browser-policies/"


@dataclass(frozen=True)
class EdgePolicyInfo:
    """What Microsoft documents for one Edge policy ("Supported features", "Windows registry settings")."""

    can_be_recommended: bool
    machine: bool = True  # Computer Configuration / HKLM
    user: bool = True  # User Configuration / HKCU
    source: str = ""


#: The Edge policies the shipped checks use, with their documented scopes
#: (docs/windows-semantics.md, Edge rows; each page's "Supported features").
EDGE_POLICIES: dict[str, EdgePolicyInfo] = {
    info_name.lower(): info
    for info_name, info in {
        "DownloadRestrictions": EdgePolicyInfo(True, source=_DOCS + "downloadrestrictions"),
        "InternetExplorerIntegrationLevel": EdgePolicyInfo(
            False, source=_DOCS + "internetexplorerintegrationlevel"
        ),
        "InternetExplorerIntegrationSiteList": EdgePolicyInfo(
            False, source=_DOCS + "internetexplorerintegrationsitelist"
        ),
        "InternetExplorerIntegrationReloadInIEModeAllowed": EdgePolicyInfo(
            True, source=_DOCS + "internetexplorerintegrationreloadiniemodeallowed"
        ),
    }.items()
}

Scalar = int | str


class EdgeSetting(BaseModel):
    """One policy value and what it must be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    equals: Scalar | None = None
    allowed: list[Scalar] | None = None
    absent_ok: bool = False

    @model_validator(mode="after")
    def _one_expectation(self) -> EdgeSetting:
        if self.equals is not None and self.allowed is not None:
            raise TextValueError(T("equals 与 allowed 只能写一个", "give either 'equals' or 'allowed', not both"))
        if self.equals is None and self.allowed is None and not self.absent_ok:
            raise TextValueError(T("请写明取值要求：equals、allowed 或 absent_ok: true",
                                    "say what the value must be: 'equals', 'allowed' or 'absent_ok: true'"))
        return self

    def accepts(self, value: RegValue | None) -> bool:
        if value is None:
            return self.absent_ok
        options = [self.equals] if self.equals is not None else list(self.allowed or [])
        return any(_same(value, want) for want in options)

    def expectation(self) -> str:
        if self.equals is not None:
            text = f"{self.name} = {self.equals}"
        elif self.allowed is not None:
            text = f"{self.name} ∈ {{{', '.join(str(a) for a in self.allowed)}}}"
        else:
            text = f"{self.name} 不存在 absent"
        if self.absent_ok and (self.equals is not None or self.allowed is not None):
            text += " (或未配置 or not configured)"
        return text


def edge_int(value: RegValue) -> int | None:
    """An integer policy value as Edge (Chromium's registry loader) reads it: a REG_DWORD or
    QWORD, or a REG_SZ that is a plain decimal integer (no spaces, no hex)."""
    if value.t in ("DWORD", "QWORD") and isinstance(value.v, int):
        return value.v
    if value.t == "SZ" and isinstance(value.v, str) and re.fullmatch("-?[0-9]{1,10}", value.v):
        return int(value.v)
    return None


def _same(value: RegValue, want: Scalar) -> bool:
    if isinstance(want, int):
        return edge_int(value) == want
    got = value.as_str()
    return got is not None and got.strip().lower() == want.strip().lower()


class Spec(CheckBase):
    type: Literal["edge_policy"]
    name: str = Field(min_length=1)
    equals: Scalar | None = None
    allowed: list[Scalar] | None = None
    absent_ok: bool = False
    alternatives: list[EdgeSetting] = Field(default_factory=list)
    # For a policy not in EDGE_POLICIES: does Edge honour a Recommended value of it?
    can_be_recommended: bool | None = None

    @model_validator(mode="after")
    def _valid(self) -> Spec:
        self.main_setting()
        return self

    def main_setting(self) -> EdgeSetting:
        return EdgeSetting(name=self.name, equals=self.equals, allowed=self.allowed, absent_ok=self.absent_ok)


@cache  # queries are frozen; building them is the hot path
def _layers() -> tuple[tuple[str, RegistryQuery, bool, bool], ...]:
    """(label, key, per user, recommended), in Edge's order of precedence."""
    return (
        ("计算机强制策略 machine policy", reg_query("HKLM", EDGE), False, False),
        ("用户强制策略 user policy", reg_query("HKU", USER_EDGE), True, False),
        ("计算机推荐策略 machine recommended", reg_query("HKLM", EDGE + r"\Recommended"), False, True),
        ("用户推荐策略 user recommended", reg_query("HKU", USER_EDGE + r"\Recommended"), True, True),
    )


def queries(spec: Spec) -> list[Query]:
    return [q for _, q, _, _ in _layers()]


def policy_info(name: str, can_be_recommended: bool | None = None) -> EdgePolicyInfo | None:
    """The documented scopes of ``name``; ``can_be_recommended`` (from the check) overrides."""
    known = EDGE_POLICIES.get(name.lower())
    if can_be_recommended is None:
        return known
    base = known or EdgePolicyInfo(can_be_recommended)
    return EdgePolicyInfo(can_be_recommended, base.machine, base.user, base.source)


def effective_edge_value(
    ctx: EvalContext, name: str, can_be_recommended: bool | None = None
) -> tuple[RegValue | None, str | None]:
    """The value of Edge policy ``name`` that applies, with its source.

    Raises FactError (not_evaluated) when a user layer that could decide was not
    seen (no operator), and FactError (error) when a Recommended value decides for
    a policy whose recommendability is unknown.
    """
    info = policy_info(name, can_be_recommended)
    for layer, query, user, recommended in _layers():
        if recommended and info is not None and not info.can_be_recommended:
            continue  # Edge ignores a Recommended value of this policy
        if info is not None and ((user and not info.user) or (not user and not info.machine)):
            continue
        if user and ctx.operator is None:
            raise no_operator()
        key: RegKey | None = registry_key(ctx, query, user=user)
        val = key.value(name) if key is not None else None
        if val is None:
            continue
        if recommended and info is None:
            raise FactError(T(
                f"Edge 策略 {name} 只以推荐值设置，但不清楚 Edge 是否接受它的推荐值：请在检查中写明 can_be_recommended",
                f"Edge policy {name} is set only as a Recommended value, and whether Edge honours a "
                "Recommended value of it is unknown: set can_be_recommended in the check",
            ))
        sid = ctx.operator.sid if (user and ctx.operator) else None
        return val, f"{layer}: {reg_location(query.hive, query.path, sid)} [{name}]"
    return None, None


def _show(value: RegValue | None) -> str:
    return "未配置 not configured" if value is None else str(value.v)


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    main = spec.main_setting()
    value, source = effective_edge_value(ctx, main.name, spec.can_be_recommended)
    details: dict[str, object] = {"name": main.name, "value": None if value is None else value.v}
    expected = " 或 or ".join([main.expectation(), *(a.expectation() for a in spec.alternatives)])
    if main.accepts(value):
        return Outcome(FindingStatus.passed, expected, _show(value), source, details=details)
    for alt in spec.alternatives:
        try:
            alt_value, alt_source = effective_edge_value(ctx, alt.name)
        except FactError:
            continue  # an alternative that cannot be judged does not pass
        if alt.accepts(alt_value):
            details["alternative"] = {"name": alt.name, "value": None if alt_value is None else alt_value.v}
            return Outcome(
                FindingStatus.passed,
                expected,
                f"{alt.name} = {_show(alt_value)}",
                alt_source,
                details=details,
            )
    msg = T(
        f"Edge 策略 {main.name} 为 {_show(value)}，要求 {expected}",
        f"Edge policy {main.name} is {_show(value)}; required: {expected}",
    )
    return Outcome(FindingStatus.fail, expected, _show(value), source or reg_location("HKLM", EDGE), msg, details)


def describe(spec: Spec) -> Description:
    names = [spec.name, *(a.name for a in spec.alternatives)]
    return Description(
        where=[f"{q.hive}\\{q.path} [{', '.join(names)}]" for _, q, _, _ in _layers()],
        expected=" or ".join([spec.main_setting().expectation(), *(a.expectation() for a in spec.alternatives)]),
    )


register("edge_policy", Spec, queries, evaluate, describe)
