"""``usb_device_count``: how many USB tokens of one vendor are plugged in (R11).

```yaml
- id: one-token
  type: usb_device_count
  vendor_id: "096E"    # Feitian
  max: 1
  min: 0
```

What counts is a *connected physical device*, as Windows reports it through
Win32_PnPEntity (the agent's ``pnp`` answer, one :class:`PnpDevice` each):

* interface children of composite devices (``USB\\VID_096E&PID_0703&MI_00\\...``)
  are not devices of their own and are ignored;
* on Windows 10/11 the class also lists devices that are *not connected*
  (phantoms: ``Present`` false, ConfigManagerErrorCode 45 CM_PROB_PHANTOM).
  A token without a USB serial number gets a new device instance per port
  (its instance ID is location-based and holds ``&``, e.g.
  ``USB\\VID_096E&PID_0807\\5&2A3F1C0&0&2``), so a token that moved ports
  leaves a phantom behind; phantoms are never counted;
* before Windows 10 there is no ``Present`` property: a device with a
  ConfigManagerErrorCode other than 45 is connected (the class lists the
  connected devices there). A device whose presence the agent could not read
  at all makes the finding an ``error``: it is never guessed into a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, model_validator

from fleetcheck.agent.contract import PnpDevice, Query
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, pnp_query, register
from fleetcheck.checks.facts import answer_of
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, TextValueError

CM_PROB_PHANTOM = 45  # "Currently, this hardware device is not connected to the computer. (Code 45)"


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


def presence(device: PnpDevice) -> bool | None:
    """True when connected, False for a phantom, None when the agent could not tell.

    >>> presence(PnpDevice(device_id="x", present=False, error_code=45)), presence(PnpDevice(device_id="x"))
    (False, None)
    """
    if device.present is False or device.error_code == CM_PROB_PHANTOM:
        return False
    if device.present is True:
        return True
    if device.error_code is not None:  # Windows 7/8.1: no Present property, connected devices only
        return True
    return None


def is_interface(device_id: str) -> bool:
    """An interface child of a composite device (``...&MI_00\\...``)."""
    return "&MI_" in device_id.upper()


def has_serial(device_id: str) -> bool:
    """False when the instance part is location-based (no USB serial number: contains ``&``)."""
    return "&" not in device_id.rsplit("\\", 1)[-1]


@dataclass
class DeviceCount:
    connected: list[str] = field(default_factory=list)
    phantoms: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def physical_devices(devices: list[PnpDevice]) -> DeviceCount:
    """Physical devices (interface children dropped, each instance once) by presence.

    >>> count = physical_devices([PnpDevice(device_id="USB\\\\VID_096E&PID_0703\\\\1", present=True),
    ...                           PnpDevice(device_id="USB\\\\VID_096E&PID_0703&MI_00\\\\2", present=True)])
    >>> count.connected
    ['USB\\\\VID_096E&PID_0703\\\\1']
    """
    by_id: dict[str, tuple[PnpDevice, bool | None]] = {}
    for dev in devices:
        if is_interface(dev.device_id):
            continue
        state = presence(dev)
        key = dev.device_id.upper()
        seen = by_id.get(key)
        # One instance listed twice: connected wins over phantom, known over unknown.
        if seen is None or (seen[1] is not True and state is not False):
            by_id[key] = (dev, state)
    result = DeviceCount()
    for dev, state in by_id.values():
        target = result.connected if state is True else result.phantoms if state is False else result.unknown
        target.append(dev.device_id)
    return result


def queries(spec: Spec) -> list[Query]:
    return [pnp_query(spec.vendor_id.upper())]


def _expected(spec: Spec) -> str:
    if spec.max is None:
        return f">= {spec.min}"
    return f"{spec.min}..{spec.max}" if spec.min else f"<= {spec.max}"


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    ans = answer_of(ctx, queries(spec)[0])
    found = physical_devices(ans.devices if ans is not None else [])
    count = len(found.connected)
    vid = spec.vendor_id.upper()
    details = {
        "vendor_id": vid,
        "devices": found.connected,
        "count": count,
        "phantoms": found.phantoms,
        "without_serial": [d for d in found.connected if not has_serial(d)],
    }
    source = f"Win32_PnPEntity DeviceID LIKE 'USB\\VID_{vid}%'"
    expected = _expected(spec)
    if found.unknown:
        details["unknown"] = found.unknown
        listed = ", ".join(found.unknown)
        msg = T(f"无法判断 {len(found.unknown)} 个 VID_{vid} 设备是否已连接（Win32_PnPEntity 未给出 Present 与 ConfigManagerErrorCode）：{listed}",
                f"could not tell whether {len(found.unknown)} VID_{vid} devices are connected "
                f"(Win32_PnPEntity gave neither Present nor ConfigManagerErrorCode): {listed}")
        return Outcome(FindingStatus.error, expected, f"{count}+{len(found.unknown)}?", source, msg, details)
    if count < spec.min:
        msg = T(f"插入了 {count} 个 VID_{vid} 设备，至少需要 {spec.min} 个",
                f"{count} VID_{vid} devices plugged in, at least {spec.min} needed")
        return Outcome(FindingStatus.fail, expected, str(count), source, msg, details)
    if spec.max is not None and count > spec.max:
        msg = T(f"插入了 {count} 个 VID_{vid} 设备，最多允许 {spec.max} 个",
                f"{count} VID_{vid} devices plugged in, at most {spec.max} allowed")
        return Outcome(FindingStatus.fail, expected, str(count), source, msg, details)
    return Outcome(FindingStatus.passed, expected, str(count), source, details=details)


def describe(spec: Spec) -> Description:
    return Description(
        where=[(f"Win32_PnPEntity DeviceID LIKE 'USB\\VID_{spec.vendor_id.upper()}%' "
                "(connected only: no &MI_ children, no phantoms with ConfigManagerErrorCode 45 / Present false)")],
        expected=f"device count {_expected(spec)}",
    )


register("usb_device_count", Spec, queries, evaluate, describe)
