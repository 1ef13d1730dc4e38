"""``activex``: an IE add-on is registered, enabled and of the right version (R10).

```yaml
- id: certenroll-control
  type: activex
  clsid: "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
  version: "==2.0.4.8"
  enabled: true        # must not be disabled (Manage Add-ons, policy, kill bit)
  required: true       # false: missing is fine, but a wrong version when present fails
  scope: user
```

Always identified by CLSID, never by display name (the guide itself misspells
them "JITVCK Class").

Registration, first found wins (this is the order the 32-bit IE process sees
``HKEY_CLASSES_ROOT``: per-user classes over machine classes):
``HKU\\<SID>\\Software\\Classes\\WOW6432Node\\CLSID``, ``HKU\\<SID>\\Software\\Classes\\CLSID``,
``HKLM\\SOFTWARE\\Classes\\WOW6432Node\\CLSID``, ``HKLM\\SOFTWARE\\Classes\\CLSID``,
each ``\\{CLSID}\\InprocServer32`` whose default value names the DLL/OCX; the
version is that file's FileVersion. ``Code Store Database\\Distribution Units``
is evidence of a CAB install (and its ``InstalledVersion`` is used when the file
version cannot be read).

Disabled when any of: the operator's ``Ext\\Settings\\{CLSID}`` ``Flags`` has bit 1;
the Add-on List policy ``...\\Policies\\...\\Ext\\CLSID`` value ``{CLSID}`` = "0"
(machine, then user); the kill bit 0x400 in ``Compatibility Flags`` under
``Internet Explorer\\ActiveX Compatibility\\{CLSID}`` (either view).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from fleetcheck.agent.contract import FileInfo, Query, RegistryQuery
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, reg_query, register
from fleetcheck.checks.common import Clsid, VersionSpecField
from fleetcheck.checks.facts import answer_of, reg_location, registry_key
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, Text
from fleetcheck.versions import VersionError, parse_version

KILL_BIT = 0x400
POLICY_EXT = r"Policies\Microsoft\Windows\CurrentVersion\Ext\CLSID"


class Spec(CheckBase):
    type: Literal["activex"]
    clsid: Clsid
    version: VersionSpecField | None = None
    enabled: bool = True
    required: bool = True
    name: str | None = None  # for messages only; never used to find the control


@cache  # queries are frozen; building them is the hot path
def _registrations(clsid: str) -> tuple[tuple[str, RegistryQuery, bool], ...]:
    return (
        ("用户 32 位 user 32-bit", reg_query("HKU", rf"Software\Classes\WOW6432Node\CLSID\{clsid}\InprocServer32", follow=("",)), True),
        ("用户 user", reg_query("HKU", rf"Software\Classes\CLSID\{clsid}\InprocServer32", follow=("",)), True),
        ("32 位 32-bit", reg_query("HKLM", rf"SOFTWARE\Classes\WOW6432Node\CLSID\{clsid}\InprocServer32", follow=("",)), False),
        ("64 位/本机 native", reg_query("HKLM", rf"SOFTWARE\Classes\CLSID\{clsid}\InprocServer32", follow=("",)), False),
    )


@cache  # queries are frozen; building them is the hot path
def _dist_unit(clsid: str) -> RegistryQuery:
    return reg_query("HKLM", rf"SOFTWARE\Microsoft\Code Store Database\Distribution Units\{clsid}", depth=1)


@cache  # queries are frozen; building them is the hot path
def _ext_settings(clsid: str) -> RegistryQuery:
    return reg_query("HKU", rf"Software\Microsoft\Windows\CurrentVersion\Ext\Settings\{clsid}")


@cache  # queries are frozen; building them is the hot path
def _policies() -> tuple[tuple[str, RegistryQuery, bool], ...]:
    return (
        ("计算机策略 machine policy", reg_query("HKLM", "SOFTWARE\\" + POLICY_EXT), False),
        ("用户策略 user policy", reg_query("HKU", "Software\\" + POLICY_EXT), True),
    )


@cache  # queries are frozen; building them is the hot path
def _kill_bits(clsid: str) -> tuple[RegistryQuery, ...]:
    return (
        reg_query("HKLM", rf"SOFTWARE\Microsoft\Internet Explorer\ActiveX Compatibility\{clsid}"),
        reg_query("HKLM", rf"SOFTWARE\WOW6432Node\Microsoft\Internet Explorer\ActiveX Compatibility\{clsid}"),
    )


def queries(spec: Spec) -> list[Query]:
    qs: list[Query] = [q for _, q, _ in _registrations(spec.clsid)]
    qs.append(_dist_unit(spec.clsid))
    if spec.enabled:
        qs.append(_ext_settings(spec.clsid))
        qs += [q for _, q, _ in _policies()]
        qs += _kill_bits(spec.clsid)
    return qs


def _find_registration(spec: Spec, ctx: EvalContext) -> tuple[str, str, str | None, FileInfo | None] | None:
    """(view label, source key, DLL path, file info) of the registration IE uses."""
    for label, query, user in _registrations(spec.clsid):
        if user and ctx.operator is None:
            continue
        ans = answer_of(ctx, query, user=user)
        if ans is None or ans.key is None:
            continue
        default = ans.key.value("")
        path = default.as_str() if default is not None else None
        sid = ctx.operator.sid if (user and ctx.operator) else None
        return label, reg_location(query.hive, query.path, sid), path, ans.followed.get("")
    return None


def _disabled_by(spec: Spec, ctx: EvalContext) -> str | None:
    """Why the control is disabled (a source text), or None when it is enabled."""
    c = spec.clsid
    for query in _kill_bits(c):
        key = registry_key(ctx, query)
        flags = key.value("Compatibility Flags") if key is not None else None
        if flags is not None and (flags.as_int() or 0) & KILL_BIT:
            return f"kill bit 0x400: {reg_location('HKLM', query.path)} [Compatibility Flags={flags.as_int():#x}]"
    for layer, query, user in _policies():
        if user and ctx.operator is None:
            continue
        key = registry_key(ctx, query, user=user)
        val = key.value(c) if key is not None else None
        if val is not None and val.as_int() == 0:
            sid = ctx.operator.sid if (user and ctx.operator) else None
            return f"{layer}: {reg_location(query.hive, query.path, sid)} [{c}=0]"
    if ctx.operator is not None:
        query = _ext_settings(c)
        key = registry_key(ctx, query, user=True)
        flags = key.value("Flags") if key is not None else None
        if flags is not None and (flags.as_int() or 0) & 1:
            return f"管理加载项 Manage Add-ons: {reg_location('HKU', query.path, ctx.operator.sid)} [Flags=1]"
    return None


def _unit_version(ctx: EvalContext, clsid: str) -> str | None:
    key = registry_key(ctx, _dist_unit(clsid))
    sub = key.subkey("InstalledVersion") if key is not None else None
    val = sub.value("") if sub is not None else None
    return val.as_str() if val is not None else None


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    name = spec.name or spec.clsid
    expected = f"{name} {spec.version or ''} {'已启用 enabled' if spec.enabled else ''}".strip()
    reg = _find_registration(spec, ctx)
    unit_version = _unit_version(ctx, spec.clsid)
    details: dict[str, Any] = {"clsid": spec.clsid, "cab_version": unit_version}
    if reg is None:
        stale = T("；但 Distribution Units 里还有它的残留登记", "; a stale Distribution Units entry remains") if unit_version else T("", "")
        if not spec.required:
            note = T(f"可选控件 {name} 未安装{stale.zh}", f"optional control {name} is not installed{stale.en}")
            return Outcome(FindingStatus.passed, expected, "未安装（可选）not installed (optional)", None, note, details)
        msg = T(f"控件 {name} 未注册{stale.zh}", f"control {name} is not registered{stale.en}")
        return Outcome(FindingStatus.fail, expected, "未安装 not installed", None, msg, details)
    label, source, path, info = reg
    details.update({"view": label, "path": path})
    version = info.version if info is not None and info.exists else None
    if info is not None and not info.exists:
        msg = T(f"控件 {name} 已注册，但文件 {path} 不存在", f"control {name} is registered but its file {path} is missing")
        return Outcome(FindingStatus.fail, expected, "文件缺失 file missing", source, msg, details)
    version = version or unit_version
    details["version"] = version
    problems: list[Text] = []
    if spec.version is not None:
        problems += _version_problem(spec, name, version)
    if spec.enabled:
        why = _disabled_by(spec, ctx)
        if why is not None:
            details["disabled_by"] = why
            problems.append(T(f"控件 {name} 被禁用（{why}）", f"control {name} is disabled ({why})"))
    observed = f"{version or '版本未知 unknown version'} ({label})"
    if "disabled_by" in details:
        observed += " 已禁用 disabled"
    if not problems:
        return Outcome(FindingStatus.passed, expected, observed, source, details=details)
    msg = T("；".join(p.zh for p in problems), "; ".join(p.en for p in problems))
    return Outcome(FindingStatus.fail, expected, observed, source, msg, details)


def _version_problem(spec: Spec, name: str, version: str | None) -> list[Text]:
    assert spec.version is not None
    if version is None:
        return [T(f"无法读取控件 {name} 的版本", f"the version of control {name} cannot be read")]
    try:
        ok = spec.version.matches(parse_version(version))
    except VersionError:
        ok = False
    if ok:
        return []
    return [T(f"控件 {name} 版本为 {version}，要求 {spec.version}", f"control {name} is version {version}, required {spec.version}")]


def describe(spec: Spec) -> Description:
    where = [f"{q.hive}\\{q.path}" for _, q, _ in _registrations(spec.clsid)]
    where.append(f"HKLM\\{_dist_unit(spec.clsid).path}")
    if spec.enabled:
        where += [f"HKU\\{_ext_settings(spec.clsid).path} [Flags]"]
        where += [f"{q.hive}\\{q.path} [{spec.clsid}]" for _, q, _ in _policies()]
        where += [f"HKLM\\{q.path} [Compatibility Flags]" for q in _kill_bits(spec.clsid)]
    state = "enabled" if spec.enabled else ""
    need = "required" if spec.required else "optional"
    return Description(where=where, expected=f"{spec.clsid} {spec.version or ''} {state} ({need})")


register("activex", Spec, queries, evaluate, describe)
