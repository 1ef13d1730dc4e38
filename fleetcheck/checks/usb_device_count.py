"""``usb_device_count``: how many USB tokens of one vendor are plugged in (R11).

```yaml
- id: one-token
  type: usb_device_count
  vendor_id: "096E"    # Feitian
  max: 1
  min: 0
```

Each physical device counts once: composite devices also show one PnP entry
per interface (``USB\\VID_096E&PID_0703&MI_00\\...``), which are ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fleetcheck.agent.contract import Query
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, pnp_query, register
from fleetcheck.checks.facts import answer_of
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, TextValueError


class Spec(CheckBase):
    type: Literal["usb_device_count"]
    vendor_id: str = Field(pattern=r"^[0-9A-Fa-f]{4}$")
    max: int | None = Field(default=None, ge=0)
    min: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _range(self) -> Spec:
        if self.max is not None and self.max < self.min:
            raise TextValueError(T(f"max（{self.max}）小于 min（{self.min}）",
                                    f"max ({self.max}) is smaller than min ({self.min})"))
        return self


def physical_devices(device_ids: list[str]) -> list[str]:
    """The DeviceIDs of physical devices, interface children (``&MI_``) dropped.

    >>> physical_devices(["USB\\\\VID_096E&PID_0703\\\\1", "USB\\\\VID_096E&PID_0703&MI_00\\\\2"])
    ['USB\\\\VID_096E&PID_0703\\\\1']
    """
    seen: dict[str, str] = {}
    for dev in device_ids:
        if "&MI_" in dev.upper():
            continue
        seen.setdefault(dev.upper(), dev)
    return list(seen.values())


def queries(spec: Spec) -> list[Query]:
    return [pnp_query(spec.vendor_id.upper())]


def _expected(spec: Spec) -> str:
    if spec.max is None:
        return f">= {spec.min}"
    return f"{spec.min}..{spec.max}" if spec.min else f"<= {spec.max}"


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    ans = answer_of(ctx, queries(spec)[0])
    devices = physical_devices(ans.devices if ans is not None else [])
    count = len(devices)
    details = {"vendor_id": spec.vendor_id.upper(), "devices": devices, "count": count}
    source = f"Win32_PnPEntity DeviceID LIKE 'USB\\VID_{spec.vendor_id.upper()}%'"
    expected = _expected(spec)
    if count < spec.min:
        msg = T(f"插入了 {count} 个 VID_{spec.vendor_id} 设备，至少需要 {spec.min} 个",
                f"{count} VID_{spec.vendor_id} devices plugged in, at least {spec.min} needed")
        return Outcome(FindingStatus.fail, expected, str(count), source, msg, details)
    if spec.max is not None and count > spec.max:
        msg = T(f"插入了 {count} 个 VID_{spec.vendor_id} 设备，最多允许 {spec.max} 个",
                f"{count} VID_{spec.vendor_id} devices plugged in, at most {spec.max} allowed")
        return Outcome(FindingStatus.fail, expected, str(count), source, msg, details)
    return Outcome(FindingStatus.passed, expected, str(count), source, details=details)


def describe(spec: Spec) -> Description:
    return Description(
        where=[f"Win32_PnPEntity DeviceID LIKE 'USB\\VID_{spec.vendor_id.upper()}%' (no &MI_ children)"],
        expected=f"device count {_expected(spec)}",
    )


register("usb_device_count", Spec, queries, evaluate, describe)
