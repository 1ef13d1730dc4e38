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

What 32-bit IE 11 sees (the SCCC controls are 32-bit; docs/windows-semantics.md):

Registration: ``HKEY_CLASSES_ROOT\\CLSID\\{CLSID}\\InprocServer32`` as the merged
view shows it to a 32-bit process: the operator's ``Software\\Classes`` first,
then the machine's ``SOFTWARE\\Classes``. On 64-bit Windows ``Classes\\CLSID`` is
redirected for 32-bit processes, so only the ``...\\Classes\\WOW6432Node\\CLSID``
trees count; a 64-bit registration is invisible to 32-bit IE and never stands in
for the 32-bit one. The InprocServer32 default value names the DLL/OCX; the
agent resolves it as a 32-bit process would (``follow_wow64``: ``%ProgramFiles%``
is ``Program Files (x86)``, ``System32`` is ``SysWOW64``); the version is that
file's FileVersion. ``Code Store Database\\Distribution Units`` (32-bit view) is
evidence of a CAB install (its ``InstalledVersion`` is used when the file version
cannot be read).

Disabled when any of:

* the kill bit 0x400 in ``Compatibility Flags`` under
  ``HKLM\\SOFTWARE\\Microsoft\\Internet Explorer\\ActiveX Compatibility\\{CLSID}``
  (32-bit view);
* the "Add-on List" Group Policy
  (``Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\Ext\\CLSID``, value
  ``{CLSID}``: "0" off, "1" on and locked, "2" on and the user may manage;
  machine over user) says "0";
* "Deny all add-ons unless specifically allowed in the Add-on List"
  (``RestrictToList`` = 1 in ``...\\Policies\\Ext``, machine over user) and the
  list does not allow the CLSID;
* the operator's Manage Add-ons ``Ext\\Settings\\{CLSID}`` ``Flags`` has bit 1,
  unless the Add-on List locks the control on ("1").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NamedTuple

from fleetcheck.agent.contract import FileInfo, Query, RegistryQuery, RegValue
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, reg_query, register
from fleetcheck.checks.common import Clsid, VersionSpecField
from fleetcheck.checks.facts import (
    FactError,
    answer_of,
    dword,
    no_operator,
    reg_location,
    registry_key,
)
from fleetcheck.checks.wow64 import ie32_path, ie32_paths, is_64bit
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, Text
from fleetcheck.versions import VersionError, parse_version

KILL_BIT = 0x400
#: The IE "Add-on List" / "Deny all add-ons unless listed" policies (shared key under WOW64).
POLICY_EXT = r"Microsoft\Windows\CurrentVersion\Policies\Ext"
LIST_OFF, LIST_ON_LOCKED, LIST_ON_USER = 0, 1, 2


class Spec(CheckBase):
    type: Literal["activex"]
    clsid: Clsid
    version: VersionSpecField | None = None
    enabled: bool = True
    required: bool = True
    name: str | None = None  # for messages only; never used to find the control


@dataclass(frozen=True)
class Registration:
    """One physical CLSID tree: its label, its query, per user or not, and its bitness."""

    label: str
    query: RegistryQuery
    user: bool
    wow: bool  # the WOW6432Node tree (32-bit registrations on 64-bit Windows)


@cache  # queries are frozen; building them is the hot path
def registration_trees(clsid: str) -> tuple[Registration, ...]:
    """Every physical tree a registration may be in, in the order 32-bit IE looks (user first)."""
    out: list[Registration] = []
    for hive, root, user, labels in (
        ("HKU", r"Software\Classes", True, ("用户 32 位 user 32-bit", "用户 user")),
        ("HKLM", r"SOFTWARE\Classes", False, ("32 位 32-bit", "64 位/本机 native")),
    ):
        logical = rf"{root}\CLSID\{clsid}\InprocServer32"
        wow_path = ie32_path(hive, logical, "x64")
        out.append(Registration(
            labels[0], reg_query(hive, wow_path, follow=("",), follow_wow64=True), user, True  # type: ignore[arg-type]
        ))
        out.append(Registration(
            labels[1], reg_query(hive, logical, follow=("",)), user, False  # type: ignore[arg-type]
        ))
    return tuple(out)


def ie_registrations(clsid: str, arch: str) -> list[Registration]:
    """The trees 32-bit IE on a PC of ``arch`` reads: WOW6432Node on 64-bit Windows, native on x86."""
    return [r for r in registration_trees(clsid) if r.wow == is_64bit(arch)]


@cache  # queries are frozen; building them is the hot path
def _dist_units(clsid: str) -> tuple[RegistryQuery, ...]:
    logical = rf"SOFTWARE\Microsoft\Code Store Database\Distribution Units\{clsid}"
    return tuple(reg_query("HKLM", p, depth=1) for p in ie32_paths("HKLM", logical))


def dist_unit_query(clsid: str, arch: str) -> RegistryQuery:
    """The control's ``Distribution Units`` entry in the view 32-bit IE uses."""
    path = ie32_path("HKLM", rf"SOFTWARE\Microsoft\Code Store Database\Distribution Units\{clsid}", arch)
    return next(q for q in _dist_units(clsid) if q.path == path)


@cache  # queries are frozen; building them is the hot path
def ext_settings_query(clsid: str) -> RegistryQuery:
    """The operator's Manage Add-ons state (HKCU is shared under WOW64)."""
    return reg_query("HKU", rf"Software\Microsoft\Windows\CurrentVersion\Ext\Settings\{clsid}")


@cache  # queries are frozen; building them is the hot path
def policy_queries() -> tuple[tuple[str, RegistryQuery, RegistryQuery, bool], ...]:
    """(layer, ``Policies\\Ext`` key, ``Policies\\Ext\\CLSID`` key, per user), machine first."""
    return (
        ("计算机策略 machine policy", reg_query("HKLM", "SOFTWARE\\" + POLICY_EXT),
         reg_query("HKLM", "SOFTWARE\\" + POLICY_EXT + r"\CLSID"), False),
        ("用户策略 user policy", reg_query("HKU", "Software\\" + POLICY_EXT),
         reg_query("HKU", "Software\\" + POLICY_EXT + r"\CLSID"), True),
    )


@cache  # queries are frozen; building them is the hot path
def _kill_bits(clsid: str) -> tuple[RegistryQuery, ...]:
    logical = rf"SOFTWARE\Microsoft\Internet Explorer\ActiveX Compatibility\{clsid}"
    return tuple(reg_query("HKLM", p) for p in ie32_paths("HKLM", logical))


def kill_bit_query(clsid: str, arch: str) -> RegistryQuery:
    """The control's ``ActiveX Compatibility`` key in the view 32-bit IE uses."""
    path = ie32_path("HKLM", rf"SOFTWARE\Microsoft\Internet Explorer\ActiveX Compatibility\{clsid}", arch)
    return next(q for q in _kill_bits(clsid) if q.path == path)


def queries(spec: Spec) -> list[Query]:
    qs: list[Query] = [r.query for r in registration_trees(spec.clsid)]
    qs += _dist_units(spec.clsid)
    if spec.enabled:
        qs.append(ext_settings_query(spec.clsid))
        for _, ext, lst, _ in policy_queries():
            qs += [ext, lst]
        qs += _kill_bits(spec.clsid)
    return qs


def _arch(ctx: EvalContext) -> str:
    return ctx.facts.os.arch


class FoundRegistration(NamedTuple):
    """The registration 32-bit IE uses for a control (what :func:`find_registration` returns)."""

    label: str  # the view, e.g. "32 位 32-bit"
    source: str  # the key, as findings show it (``HKLM\\...\\InprocServer32``)
    path: str | None  # the DLL/OCX server path (the key's default value)
    info: FileInfo | None  # the agent's file facts for ``path`` (None: not read)


def find_registration(spec: Spec, ctx: EvalContext) -> FoundRegistration | None:
    """The registration of ``spec.clsid`` that 32-bit IE uses on this host, or None (not registered).

    Trees in the order IE looks (user classes before machine classes, the
    WOW6432Node view on 64-bit Windows); a key without a server path falls
    through to the next. Used by the check and by its fix planner.
    """
    for reg in ie_registrations(spec.clsid, _arch(ctx)):
        if reg.user and ctx.operator is None:
            continue
        ans = answer_of(ctx, reg.query, user=reg.user)
        if ans is None or ans.key is None:
            continue
        default = ans.key.value("")
        path = default.v if default is not None and default.t in ("SZ", "EXPAND_SZ") else None
        if not isinstance(path, str) or not path.strip():
            continue  # no server path here: COM looks on in the merged view (machine classes)
        sid = ctx.operator.sid if (reg.user and ctx.operator) else None
        return FoundRegistration(reg.label, reg_location(reg.query.hive, reg.query.path, sid), path, ans.followed.get(""))
    return None


def _invisible_64bit(spec: Spec, ctx: EvalContext) -> str | None:
    """A 64-bit-only registration on 64-bit Windows (which 32-bit IE cannot see), for the message."""
    if not is_64bit(_arch(ctx)):
        return None
    for reg in registration_trees(spec.clsid):
        if reg.wow or (reg.user and ctx.operator is None):
            continue
        try:
            ans = answer_of(ctx, reg.query, user=reg.user)
        except FactError:
            continue
        if ans is not None and ans.key is not None:
            sid = ctx.operator.sid if (reg.user and ctx.operator) else None
            return reg_location(reg.query.hive, reg.query.path, sid)
    return None


@dataclass(frozen=True)
class PolicyState:
    """What the Add-on List policies say about one CLSID."""

    value: int | None  # 0 / 1 / 2 (or LIST_OTHER) from the deciding layer, None when unlisted
    source: str | None
    restrict: bool  # "deny all add-ons unless listed" in force
    restrict_source: str | None


LIST_OTHER = -1  # an entry present but not "0", "1" or "2": decides its layer, allows nothing


def list_value(entry: RegValue) -> int:
    """The meaning of an Add-on List entry: exactly "0" / "1" / "2" as REG_SZ (what the ADMX list writes) or a DWORD.

    Anything else present (``"abc"``, ``"01"``, ``"1.0"``, non-ASCII digits) is
    :data:`LIST_OTHER`: it takes the machine layer's place (the user list is not
    consulted) and counts neither as off nor as allowed.
    """
    if entry.t in ("SZ", "EXPAND_SZ") and isinstance(entry.v, str):
        text = entry.v.strip()
        return int(text) if text in ("0", "1", "2") else LIST_OTHER
    number = dword(entry)
    return number if number in (LIST_OFF, LIST_ON_LOCKED, LIST_ON_USER) else LIST_OTHER


def policy_state(ctx: EvalContext, clsid: str) -> PolicyState:
    """The Add-on List entry for ``clsid`` (machine over user) and RestrictToList.

    A hive's list is in effect only where that hive's "Add-on List" policy is
    enabled (``ListBox_Support_CLSID`` = 1 DWORD beside it, the ADMX's enabled
    value). Raises FactError (not_evaluated) when no operator is known and the
    user policy could still decide (a user policy might disable the control:
    such a pass would not be earned).
    """
    value: int | None = None
    source: str | None = None
    restrict: bool | None = None
    restrict_source: str | None = None
    for layer, ext_q, list_q, user in policy_queries():
        if user and ctx.operator is None:
            if value is None or restrict is None:
                raise no_operator()
            continue
        sid = ctx.operator.sid if (user and ctx.operator) else None
        ext = registry_key(ctx, ext_q, user=user)
        list_on = ext is not None and dword(ext.value("ListBox_Support_CLSID")) == 1
        if value is None and list_on:
            lst = registry_key(ctx, list_q, user=user)
            entry = lst.value(clsid) if lst is not None else None
            if entry is not None:
                value = list_value(entry)
                source = f"{layer}: {reg_location(list_q.hive, list_q.path, sid)} [{clsid}={entry.v}]"
        if restrict is None:
            flag = ext.value("RestrictToList") if ext is not None else None
            if dword(flag) is not None:
                restrict = dword(flag) == 1
                restrict_source = f"{layer}: {reg_location(ext_q.hive, ext_q.path, sid)} [RestrictToList={dword(flag)}]"
    return PolicyState(value, source, bool(restrict), restrict_source if restrict else None)


def _disabled_by(spec: Spec, ctx: EvalContext) -> str | None:
    """Why the control is disabled (a source text), or None when it is enabled."""
    c = spec.clsid
    query = kill_bit_query(c, _arch(ctx))
    key = registry_key(ctx, query)
    flags = key.value("Compatibility Flags") if key is not None else None
    if (dword(flags) or 0) & KILL_BIT:
        return f"kill bit 0x400: {reg_location('HKLM', query.path)} [Compatibility Flags={dword(flags):#x}]"
    pol = policy_state(ctx, c)
    if pol.value == LIST_OFF:
        return pol.source
    if pol.restrict and pol.value not in (LIST_ON_LOCKED, LIST_ON_USER):
        return f"{pol.restrict_source}: {c} 不在加载项列表中 not in the Add-on List"
    if pol.value == LIST_ON_LOCKED:
        return None  # the policy locks it on: the user's Manage Add-ons choice does not count
    if ctx.operator is None:
        raise no_operator()
    ext_q = ext_settings_query(c)
    ext = registry_key(ctx, ext_q, user=True)
    uflags = ext.value("Flags") if ext is not None else None
    if (dword(uflags) or 0) & 1:
        return f"管理加载项 Manage Add-ons: {reg_location('HKU', ext_q.path, ctx.operator.sid)} [Flags=1]"
    return None


def unit_version(ctx: EvalContext, clsid: str) -> str | None:
    """The ``InstalledVersion`` of the control's CAB install (``Distribution Units``, the view IE uses), or None."""
    key = registry_key(ctx, dist_unit_query(clsid, _arch(ctx)))
    sub = key.subkey("InstalledVersion") if key is not None else None
    val = sub.value("") if sub is not None else None
    return val.as_str() if val is not None else None


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    name = spec.name or spec.clsid
    expected = f"{name} {spec.version or ''} {'已启用 enabled' if spec.enabled else ''}".strip()
    reg = find_registration(spec, ctx)
    cab_version = unit_version(ctx, spec.clsid)
    details: dict[str, Any] = {"clsid": spec.clsid, "cab_version": cab_version}
    if reg is None:
        stale = T("；但 Distribution Units 里还有它的残留登记", "; a stale Distribution Units entry remains") if cab_version else T("", "")
        if not spec.required:
            note = T(f"可选控件 {name} 未安装{stale.zh}", f"optional control {name} is not installed{stale.en}")
            return Outcome(FindingStatus.passed, expected, "未安装（可选）not installed (optional)", None, note, details)
        msg = T(f"控件 {name} 未注册{stale.zh}", f"control {name} is not registered{stale.en}")
        only64 = _invisible_64bit(spec, ctx)
        if only64 is not None:
            details["registration_64bit_only"] = only64
            msg = T(
                f"{msg.zh}（32 位 IE 看不到的 64 位注册：{only64}）",
                f"{msg.en} (only a 64-bit registration exists, which 32-bit IE does not see: {only64})",
            )
        return Outcome(FindingStatus.fail, expected, "未安装 not installed", None, msg, details)
    label, source, path, info = reg
    details.update({"view": label, "path": path})
    version = info.version if info is not None and info.exists else None
    if info is not None and not info.exists:
        msg = T(f"控件 {name} 已注册，但文件 {path} 不存在", f"control {name} is registered but its file {path} is missing")
        return Outcome(FindingStatus.fail, expected, "文件缺失 file missing", source, msg, details)
    if info is None:  # no file facts for a registered path: the version cannot be earned
        msg = T(f"无法读取控件 {name} 的文件 {path}", f"the file {path} of control {name} could not be read")
        return Outcome(FindingStatus.error, expected, None, source, msg, details)
    # The version is the file's own FileVersion: a CAB's InstalledVersion is evidence of an
    # install, never a stand-in for a file whose version cannot be read.
    details["version"] = version
    problems: list[Text] = []
    if spec.version is not None:
        problems += version_problems(spec, name, version)
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


def version_problems(spec: Spec, name: str, version: str | None) -> list[Text]:
    """Why ``version`` (the control's file version, None: unreadable) does not meet ``spec.version``; [] if it does.

    ``spec.version`` must be set; ``name`` is the control as messages show it.
    """
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
    where = [f"{r.query.hive}\\{r.query.path}" for r in registration_trees(spec.clsid)]
    where += [f"HKLM\\{q.path}" for q in _dist_units(spec.clsid)]
    if spec.enabled:
        where += [f"HKU\\{ext_settings_query(spec.clsid).path} [Flags]"]
        for _, ext, lst, _ in policy_queries():
            where += [f"{lst.hive}\\{lst.path} [{spec.clsid}]", f"{ext.hive}\\{ext.path} [RestrictToList]"]
        where += [f"HKLM\\{q.path} [Compatibility Flags]" for q in _kill_bits(spec.clsid)]
    state = "enabled" if spec.enabled else ""
    need = "required" if spec.required else "optional"
    return Description(
        where=where,
        expected=f"{spec.clsid} {spec.version or ''} {state} ({need}; as 32-bit IE sees it)",
    )


register("activex", Spec, queries, evaluate, describe)
