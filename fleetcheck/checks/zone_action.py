"""``zone_action``: the effective value of one IE security-zone action (R1, R3–R6).

```yaml
- id: trusted-file-download
  type: zone_action
  zone: 2            # 0..4; 2 = Trusted sites
  action: 1803       # URL action number: 1803 file download, 2201 ActiveX prompt, ...
  expected: 0        # 0 enable, 1 prompt, 3 disable
  scope: user
```

The observed value is the one IE applies (see :mod:`fleetcheck.checks.ie_zones`
for the precedence of policy / preference and ``Security_HKLM_only``); the
finding's source names the layer and key it came from. A value not set in any
layer fails: a real Windows always has the machine preference, so its absence
means a damaged or unusual profile worth a look.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleetcheck.agent.contract import Query
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, register
from fleetcheck.checks.ie_zones import effective_zone_action, zone_queries
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T

ACTION_NAMES = {
    1004: ("下载未签名的 ActiveX 控件", "Download unsigned ActiveX controls"),
    1803: ("文件下载", "File download"),
    2200: ("文件下载的自动提示", "Automatic prompting for file downloads"),
    2201: ("ActiveX 控件自动提示", "Automatic prompting for ActiveX controls"),
}
ZONE_LABELS = {0: ("本地计算机", "Local Machine"), 1: ("本地 Intranet", "Local intranet"),
               2: ("受信任的站点", "Trusted sites"), 3: ("Internet", "Internet"), 4: ("受限制的站点", "Restricted sites")}
VALUE_NAMES = {0: "启用 Enable", 1: "提示 Prompt", 3: "禁用 Disable"}


class Spec(CheckBase):
    type: Literal["zone_action"]
    zone: int = Field(ge=0, le=4)
    action: int = Field(ge=0, le=0xFFFF, description="URL action number, e.g. 1803")
    expected: int = Field(ge=0, le=0xFFFFFFFF)


def _render(value: int | None) -> str:
    if value is None:
        return "未设置 not set"
    name = VALUE_NAMES.get(value)
    return f"{value} ({name})" if name else str(value)


def queries(spec: Spec) -> list[Query]:
    return list(zone_queries(spec.zone))


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    eff = effective_zone_action(ctx, spec.zone, str(spec.action))
    details: dict[str, object] = {
        "zone": spec.zone,
        "action": spec.action,
        "value": eff.value,
        "layer": eff.layer,
        "security_hklm_only": eff.hklm_only,
    }
    expected = _render(spec.expected)
    label = ACTION_NAMES.get(spec.action, (str(spec.action), str(spec.action)))
    zone = ZONE_LABELS.get(spec.zone, (str(spec.zone), str(spec.zone)))
    if eff.ignored:
        details["ignored"] = [f"{where} = {val.t} {val.v!r}" for where, val in eff.ignored]
    if eff.value == spec.expected:
        return Outcome(FindingStatus.passed, expected, _render(eff.value), eff.source, details=details)
    if eff.ignored and eff.value is None:
        where, val = eff.ignored[0]
        return Outcome(
            FindingStatus.fail,
            expected=expected,
            observed=f"{val.t} {val.v!r}",
            source=where,
            message=T(
                f"{zone[0]}的“{label[0]}”不是 REG_DWORD（{val.t}）：IE 只按 REG_DWORD 读取，此值不生效；请改写为 REG_DWORD",
                f"{label[1]} in {zone[1]} is not a REG_DWORD ({val.t}): IE reads it only as a REG_DWORD, so "
                "this value does not apply; rewrite it as a REG_DWORD",
            ),
            details=details,
        )
    if eff.value is None:
        msg = T(f"{zone[0]}的“{label[0]}”在任何位置都未设置", f"{label[1]} in {zone[1]} is not set anywhere")
    else:
        msg = T(
            f"{zone[0]}的“{label[0]}”生效值为 {eff.value}，应为 {spec.expected}",
            f"{label[1]} in {zone[1]} is {eff.value}, expected {spec.expected}",
        )
    if eff.hklm_only:
        msg = T(
            msg.zh + "（Security_HKLM_only=1：只有 HKLM 的设置生效，Internet 选项对话框显示的用户值不起作用）",
            msg.en + " (Security_HKLM_only=1: only HKLM settings apply; the Internet Options "
            "dialog shows the user's values, which IE ignores)",
        )
    return Outcome(FindingStatus.fail, expected, _render(eff.value), eff.source, msg, details)


def describe(spec: Spec) -> Description:
    return Description(
        where=[f"{q.hive}\\{q.path} [{spec.action}]" for q in zone_queries(spec.zone)[1:]],
        expected=f"zone {spec.zone} action {spec.action} = {_render(spec.expected)} (effective value)",
    )


register("zone_action", Spec, queries, evaluate, describe)
