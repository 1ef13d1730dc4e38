"""Fix planners per check type: a failing finding -> contract write actions. Pure.

``FIX_PLANNERS[check_type](spec, fctx) -> Proposal``; register a new one with
:func:`register_fix`. Each planner re-derives the current state from the
host's facts (the same pure readers the checks use) and proposes the smallest
set of writes that makes the check pass, each with a ``before → after`` diff.

Decisions:

* ``zone_action`` / ``trusted_site`` / ``edge_policy`` / ``registry_value``:
  the value is written in the layer that decides the effective value (a policy
  layer that overrides is corrected in place); otherwise per strategy.
* ``ie_mode_site``: fleetcheck's own site list XML (built with ElementTree,
  every value escaped by the library) at ``PlanOptions.site_list_path``, with
  the ``<site>`` entries of a readable v2 site list that was configured before
  kept, plus ``InternetExplorerIntegrationLevel=1`` and
  ``InternetExplorerIntegrationSiteList``.
* ``activex``: disabled controls are re-enabled (Manage Add-ons ``Flags``,
  kill bit, Add-on List policy); a wrong version or a missing file means a
  stale registration: its CLSID key (in the view IE uses) and its
  ``Distribution Units`` entry are deleted (the agent returns the trees for
  rollback) and a reboot is scheduled outside trading hours (guide 四). The
  control is then reinstalled from the portal's CAB by IE when the operator
  opens https://biz.sccc.com after the reboot: a follow-up the step's output
  states (``FixStep.follow_up``), and what its verification does not wait for
  (``verify: removed``: the stale registration is gone and the reboot is
  scheduled; see :mod:`fleetcheck.remediate.apply`).
  A control that is not registered at all cannot be installed remotely.
* ``installed_program``: only with an installer path given by the admin
  (``--installer CHECK=PATH``); fleetcheck never downloads one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from fleetcheck.agent.contract import (
    Action,
    DeleteKey,
    DeleteValue,
    Hive,
    RegKey,
    RegValue,
    RunInstaller,
    ScheduleReboot,
    SetValue,
    WriteFile,
)
from fleetcheck.checks import (
    activex,
    edge_policy,
    ie_mode_site,
    ie_zones,
    registry_value,
    trusted_site,
    zone_action,
)
from fleetcheck.checks.facts import FactError, answer_of, dword, reg_location, registry_key
from fleetcheck.i18n import T, Text
from fleetcheck.remediate.plan import FixContext, Proposal, reboot_delay, show_value

__all__ = ["FIX_PLANNERS", "register_fix", "site_list_xml"]

Planner = Callable[[Any, FixContext], Proposal]
FIX_PLANNERS: dict[str, Planner] = {}


def register_fix(check_type: str, planner: Planner) -> None:
    """Make ``check_type`` findings with ``fix: auto`` plannable."""
    FIX_PLANNERS[check_type] = planner


# --------------------------------------------------------------------------- building blocks


class _Writes:
    """Accumulates actions and their diff lines for one finding."""

    def __init__(self, fctx: FixContext) -> None:
        self.fctx = fctx
        self.actions: list[Action] = []
        self.diff: list[Text] = []

    def _id(self) -> str:
        return f"{self.fctx.finding.check_id}-{len(self.actions) + 1}"

    def _sid(self, hive: Hive) -> str | None:
        if hive != "HKU":
            return None
        if self.fctx.operator is None:
            raise FactError(T("没有操作员登录，无法写入用户设置", "no operator logged on: user settings cannot be written"))
        return self.fctx.operator.sid

    def set(self, hive: Hive, path: str, name: str, value: RegValue, before: RegValue | None) -> None:
        if before is not None and before == value:
            return
        sid = self._sid(hive)
        self.actions.append(SetValue(id=self._id(), hive=hive, sid=sid, path=path, name=name, value=value))
        where = f"{reg_location(hive, path, sid)} [{name or '(默认 default)'}]"
        self.diff.append(T(f"{where}: {show_value(before)} → {show_value(value)}",
                           f"{where}: {show_value(before)} → {show_value(value)}"))

    def delete_value(self, hive: Hive, path: str, name: str, before: RegValue | None) -> None:
        if before is None:
            return
        sid = self._sid(hive)
        self.actions.append(DeleteValue(id=self._id(), hive=hive, sid=sid, path=path, name=name))
        where = f"{reg_location(hive, path, sid)} [{name}]"
        self.diff.append(T(f"{where}: {show_value(before)} → 删除", f"{where}: {show_value(before)} → deleted"))

    def delete_key(self, hive: Hive, path: str) -> None:
        sid = self._sid(hive)
        self.actions.append(DeleteKey(id=self._id(), hive=hive, sid=sid, path=path))
        where = reg_location(hive, path, sid)
        self.diff.append(T(f"{where}: 删除整个键（先备份） → 不存在", f"{where}: key deleted (backed up) → absent"))

    def proposal(self, **extra: Any) -> Proposal:
        return Proposal(actions=tuple(self.actions), diff=tuple(self.diff), **extra)


def _dword(value: int) -> RegValue:
    return RegValue(t="DWORD", v=value)


def _like(before: RegValue | None, want: int | str) -> RegValue:
    """``want`` in the type the value already has, when that type can hold it (REG_SZ "0" stays REG_SZ)."""
    if isinstance(want, int):
        if before is not None and before.t in ("SZ", "EXPAND_SZ"):
            return RegValue(t=before.t, v=str(want))
        if before is not None and before.t == "QWORD":
            return RegValue(t="QWORD", v=want)
        return _dword(want)
    if before is not None and before.t == "EXPAND_SZ":
        return RegValue(t="EXPAND_SZ", v=want)
    return RegValue(t="SZ", v=want)


def _value_at(fctx: FixContext, hive: Hive, path: str, name: str) -> RegValue | None:
    """The current value from the facts, when the scan read that key; None if absent or not read."""
    from fleetcheck.checks.base import reg_query

    query = reg_query(hive, path)
    try:
        key = registry_key(fctx.ctx, query, user=hive == "HKU")
    except FactError:
        return None
    return key.value(name) if key is not None else None


# --------------------------------------------------------------------------- zone_action


def plan_zone_action(spec: zone_action.Spec, fctx: FixContext) -> Proposal:
    eff = ie_zones.effective_zone_action(fctx.ctx, spec.zone, str(spec.action))
    zone = f"Zones\\{spec.zone}"
    machine_policy = (f"{ie_zones.POLICY_IS}\\{zone}", "HKLM")
    user_policy = (f"{ie_zones.USER_POLICY_IS}\\{zone}", "HKU")
    user_pref = (f"{ie_zones.USER_PREF_IS}\\{zone}", "HKU")
    machine_pref = (ie_zones.machine_pref_path(fctx.ctx, zone), "HKLM")  # the view 32-bit IE reads
    if eff.layer == ie_zones.LAYER_MACHINE_POLICY or fctx.options.strategy == "machine-policy":
        target = machine_policy
    elif eff.hklm_only:
        target = machine_pref
    elif eff.layer == ie_zones.LAYER_USER_POLICY:
        target = user_policy
    else:
        target = user_pref
    path, hive = target
    before = _value_at(fctx, hive, path, str(spec.action))  # type: ignore[arg-type]
    w = _Writes(fctx)
    # Always REG_DWORD: IE does not read a REG_SZ URL action as its number (W-rules).
    w.set(hive, path, str(spec.action), _dword(spec.expected), before)  # type: ignore[arg-type]
    return w.proposal()


# --------------------------------------------------------------------------- trusted_site


def _domain_key(host: str) -> tuple[str, str | None]:
    """(``Domains`` subkey for the registrable domain, subdomain subkey or None): biz.sccc.com -> (sccc.com, biz)."""
    labels = host.split(".")
    if len(labels) <= 2:
        return host, None
    return ".".join(labels[-2:]), ".".join(labels[:-2])


def plan_trusted_site(spec: trusted_site.Spec, fctx: FixContext) -> Proposal:
    parts = urlsplit(spec.url if "://" in spec.url else f"https://{spec.url}")
    scheme, host = (parts.scheme or "https").lower(), (parts.hostname or "").lower()
    if "*" in host or not host:
        return Proposal(manual=T(f"{spec.url} 含通配符，无法自动加入", f"{spec.url} has a wildcard; add it by hand"))
    match = ie_zones.url_zone(fctx.ctx, spec.url)
    (_, mlist_q, mmap_q, _), (_, ulist_q, umap_q, _) = ie_zones.policy_map_queries()
    mpol = registry_key(fctx.ctx, mlist_q)
    mmap = registry_key(fctx.ctx, mmap_q)
    user_policy_counts = fctx.operator is not None and not ie_zones.hklm_only(fctx.ctx)
    upol = registry_key(fctx.ctx, ulist_q, user=True) if user_policy_counts else None
    umap = registry_key(fctx.ctx, umap_q, user=True) if user_policy_counts else None
    machine_active = bool(mpol is not None and mpol.values) or bool(mmap is not None and mmap.subkeys)
    user_active = bool(upol is not None and upol.values) or bool(umap is not None and umap.subkeys)
    site = f"{scheme}://{host}"
    w = _Writes(fctx)
    zone_sz = RegValue(t="SZ", v=str(spec.zone))
    # A policy list or map in effect makes the user's own map ignored: the entry goes into the
    # Site to Zone Assignment List of the policy hive that decides (its list is read before its map).
    if fctx.options.strategy == "machine-policy" or match.layer == ie_zones.LAYER_MACHINE_POLICY or machine_active:
        w.set("HKLM", mlist_q.path, site, zone_sz, mpol.value(site) if mpol is not None else None)
        return w.proposal()
    if user_active or match.layer == ie_zones.LAYER_USER_POLICY:
        w.set("HKU", ulist_q.path, site, zone_sz, upol.value(site) if upol is not None else None)
        return w.proposal()
    domain, sub = _domain_key(host)
    rel = f"ZoneMap\\Domains\\{domain}" + (f"\\{sub}" if sub else "")
    hive: Hive = "HKLM" if ie_zones.hklm_only(fctx.ctx) else "HKU"
    # HKLM: the view 32-bit IE reads (WOW6432Node on 64-bit Windows); HKU is shared.
    base = ie_zones.machine_pref_path(fctx.ctx) if hive == "HKLM" else ie_zones.USER_PREF_IS
    domains_q = (
        ie_zones.machine_domains_query(fctx.ctx) if hive == "HKLM" else ie_zones.zonemap_queries()[3]
    )
    tree = registry_key(fctx.ctx, domains_q, user=hive == "HKU")
    node = tree.subkey(rel.split("\\", 2)[2]) if tree is not None else None
    w.set(hive, f"{base}\\{rel}", scheme, _dword(spec.zone), node.value(scheme) if node is not None else None)
    return w.proposal()


# --------------------------------------------------------------------------- edge_policy


_EDGE_LAYERS: tuple[tuple[Hive, str], ...] = (
    ("HKLM", edge_policy.EDGE),
    ("HKU", edge_policy.USER_EDGE),
    ("HKLM", edge_policy.EDGE + r"\Recommended"),
    ("HKU", edge_policy.USER_EDGE + r"\Recommended"),
)


def _edge_found(fctx: FixContext, name: str) -> tuple[Hive, str, RegValue] | None:
    from fleetcheck.checks.base import reg_query

    for hive, path in _EDGE_LAYERS:
        if hive == "HKU" and fctx.operator is None:
            continue
        key = registry_key(fctx.ctx, reg_query(hive, path), user=hive == "HKU")
        val = key.value(name) if key is not None else None
        if val is not None:
            return hive, path, val
    return None


def plan_edge_policy(spec: edge_policy.Spec, fctx: FixContext) -> Proposal:
    setting = spec.main_setting()
    found = _edge_found(fctx, setting.name)
    want = setting.equals if setting.equals is not None else (setting.allowed[0] if setting.allowed else None)
    w = _Writes(fctx)
    if want is None:  # only "absent" is acceptable: remove it where it is
        if found is not None:
            w.delete_value(found[0], found[1], setting.name, found[2])
        return w.proposal()
    hive: Hive = found[0] if found is not None else "HKLM"
    path = found[1] if found is not None else edge_policy.EDGE
    before = found[2] if found is not None else None
    w.set(hive, path, setting.name, _like(before, want), before)
    return w.proposal()


# --------------------------------------------------------------------------- ie_mode_site


def site_list_xml(hosts: list[str], keep: list[ET.Element] | None = None) -> bytes:
    """An Enterprise Mode site list (v2) opening ``hosts`` in IE11 mode, escaped by ElementTree.

    >>> b"<open-in>IE11</open-in>" in site_list_xml(["biz.sccc.com"])
    True
    """
    root = ET.Element("site-list", {"version": "1"})
    created = ET.SubElement(root, "created-by")
    ET.SubElement(created, "tool").text = "fleetcheck"
    ET.SubElement(created, "version").text = "1"
    for element in keep or []:
        root.append(element)
    for host in hosts:
        site = ET.SubElement(root, "site", {"url": host})
        ET.SubElement(site, "compat-mode").text = "Default"
        ET.SubElement(site, "open-in").text = "IE11"
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _kept_sites(data: bytes | None, hosts: set[str]) -> list[ET.Element]:
    """``<site>`` elements of an existing v2 list that are not about ``hosts`` (refusing DOCTYPE/ENTITY)."""
    if not data or re.search(rb"<!\s*(DOCTYPE|ENTITY)", data, re.IGNORECASE):
        return []
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return []
    if root.tag.lower() != "site-list":
        return []
    kept = []
    for site in root.iter("site"):
        url = (site.get("url") or "").strip()
        host = (urlsplit(url if "://" in url else f"//{url}").hostname or "").lower()
        if host and host not in hosts:
            kept.append(site)
    return kept


def plan_ie_mode_site(spec: ie_mode_site.Spec, fctx: FixContext) -> Proposal:
    import base64

    ans = answer_of(fctx.ctx, ie_mode_site._policy_query())
    key: RegKey | None = ans.key if ans is not None else None
    level = key.value(ie_mode_site.LEVEL) if key is not None else None
    listed = key.value(ie_mode_site.SITE_LIST) if key is not None else None
    hosts = sorted({(urlsplit(u).hostname or "").lower() for u in spec.urls if urlsplit(u).hostname})
    old_path = listed.as_str() if listed is not None else None
    followed = ans.followed.get(ie_mode_site.SITE_LIST) if ans is not None else None
    old_data = followed.content_bytes() if followed is not None and followed.exists else None
    keep = _kept_sites(old_data, set(hosts))
    content = site_list_xml(hosts, keep)
    path = fctx.options.site_list_path
    w = _Writes(fctx)
    same_file = old_path is not None and old_path.strip().lower() == path.lower()
    if not (same_file and old_data == content):
        w.actions.append(WriteFile(id=w._id(), path=path, content=base64.b64encode(content).decode("ascii")))
        kept = f"，保留原列表中的 {len(keep)} 个站点" if keep else ""
        kept_en = f", keeping {len(keep)} sites of the previous list" if keep else ""
        w.diff.append(T(f"{path}: {'旧内容' if same_file and old_data else '(不存在 absent)'} → 站点列表（{', '.join(hosts)} 以 IE11 打开{kept}）",
                        f"{path}: {'old content' if same_file and old_data else '(absent)'} → site list ({', '.join(hosts)} open in IE11{kept_en})"))
    w.set("HKLM", edge_policy.EDGE, ie_mode_site.LEVEL, _dword(1), level)
    w.set("HKLM", edge_policy.EDGE, ie_mode_site.SITE_LIST, RegValue(t="SZ", v=path), listed)
    return w.proposal()


# --------------------------------------------------------------------------- activex


def plan_activex(spec: activex.Spec, fctx: FixContext) -> Proposal:
    ctx = fctx.ctx
    reg = activex._find_registration(spec, ctx)
    name = spec.name or spec.clsid
    if reg is None:
        return Proposal(manual=T(
            f"控件 {name} 未注册：请操作员登录门户 https://biz.sccc.com，由 IE 安装控件（JIT*.cab）",
            f"control {name} is not registered: the operator opens https://biz.sccc.com and lets IE install it (JIT*.cab)"))
    _label, _source, _path, info = reg
    w = _Writes(fctx)
    version_ok = spec.version is None or not activex._version_problem(
        spec, name, (info.version if info is not None and info.exists else None) or activex._unit_version(ctx, spec.clsid))
    file_ok = info is None or info.exists
    if not (version_ok and file_ok):
        # Only the trees 32-bit IE reads (WOW6432Node on 64-bit Windows): a 64-bit
        # registration is not what IE loads and is left alone.
        for registration in activex.ie_registrations(spec.clsid, ctx.facts.os.arch):
            if registration.user and fctx.operator is None:
                continue
            hit = answer_of(ctx, registration.query, user=registration.user)
            if hit is not None and hit.key is not None:
                w.delete_key(registration.query.hive, registration.query.path.rsplit("\\", 1)[0])
        unit_q = activex.dist_unit_query(spec.clsid, ctx.facts.os.arch)
        if registry_key(ctx, unit_q) is not None:
            w.delete_key("HKLM", unit_q.path)
        delay = reboot_delay(fctx.options.calendar, fctx.now, fctx.options.reboot_at)
        w.actions.append(ScheduleReboot(id=w._id(), delay_s=delay, message="fleetcheck: SCCC ActiveX update (guide 4)"))
        w.diff.append(T(f"计划在 {delay // 60} 分钟后重启（交易时段之外）", f"reboot scheduled in {delay // 60} min (outside trading hours)"))
        # Only the operator's own visit reinstalls the control: until then the
        # check keeps failing ("not registered"), and the output must say so.
        wanted = f"（{spec.version}）" if spec.version is not None else ""
        wanted_en = f" ({spec.version})" if spec.version is not None else ""
        return w.proposal(needs_reboot=True, verify="removed", follow_up=T(
            f"还需操作员：重启后在 IE 中打开门户 https://biz.sccc.com，由 IE 从门户的 CAB 重新安装 {name}{wanted}；"
            "在此之前该检查仍显示“未注册”",
            f"still to do by the operator: after the reboot, open https://biz.sccc.com in IE so that IE reinstalls "
            f"{name}{wanted_en} from the portal's CAB; until then this check shows \"not registered\""))
    if spec.enabled:
        _plan_enable(spec, fctx, w)
    return w.proposal()


def _plan_enable(spec: activex.Spec, fctx: FixContext, w: _Writes) -> None:
    """Undo each thing that disables the control for 32-bit IE (see ``activex._disabled_by``)."""
    ctx, c = fctx.ctx, spec.clsid
    query = activex.kill_bit_query(c, ctx.facts.os.arch)
    key = registry_key(ctx, query)
    flags = key.value("Compatibility Flags") if key is not None else None
    number = dword(flags)  # as the check reads it: only a REG_DWORD counts
    if flags is not None and number is not None and number & activex.KILL_BIT:
        w.set("HKLM", query.path, "Compatibility Flags", _like(flags, number & ~activex.KILL_BIT), flags)
    pol = activex.policy_state(ctx, c)
    for _layer, ext_q, list_q, user in activex.policy_queries():
        if user and fctx.operator is None:
            continue
        ext = registry_key(ctx, ext_q, user=user)
        lst = registry_key(ctx, list_q, user=user)
        list_on = ext is not None and dword(ext.value("ListBox_Support_CLSID")) == 1
        val = lst.value(c) if lst is not None else None
        allowed = val is not None and activex._list_value(val) in (activex.LIST_ON_LOCKED, activex.LIST_ON_USER)
        if list_on and val is not None and not allowed:
            w.set(list_q.hive, list_q.path, c, RegValue(t="SZ", v="1"), val)
        elif pol.restrict and pol.value not in (activex.LIST_ON_LOCKED, activex.LIST_ON_USER):
            restricted_here = ext is not None and dword(ext.value("RestrictToList")) == 1
            if restricted_here:  # "deny unless listed" set in this layer: allow the control in its list
                w.set(list_q.hive, list_q.path, c, RegValue(t="SZ", v="1"), val)
                others = [n for n in (lst.values if lst is not None else {}) if n.lower() != c.lower()]
                if not list_on and not others:  # enabling an empty list changes nothing else
                    before = ext.value("ListBox_Support_CLSID") if ext is not None else None
                    w.set(ext_q.hive, ext_q.path, "ListBox_Support_CLSID", _dword(1), before)
    if fctx.operator is not None and pol.value != activex.LIST_ON_LOCKED:
        ext_settings = activex.ext_settings_query(c)
        key = registry_key(ctx, ext_settings, user=True)
        uflags = key.value("Flags") if key is not None else None
        unumber = dword(uflags)
        if uflags is not None and unumber is not None and unumber & 1:
            w.set("HKU", ext_settings.path, "Flags", _like(uflags, unumber & ~1), uflags)


# --------------------------------------------------------------------------- installed_program


def plan_installed_program(spec: Any, fctx: FixContext) -> Proposal:
    given = fctx.options.installers.get(spec.id)
    if given is None:
        return Proposal(manual=T(
            f"没有为 {spec.id} 指定安装程序：用 --installer {spec.id}=路径 指定（fleetcheck 不下载安装程序）",
            f"no installer given for {spec.id}: pass --installer {spec.id}=PATH (fleetcheck never downloads one)"))
    path, args = given
    action = RunInstaller(id=f"{spec.id}-1", path=path, args=list(args))
    shown = " ".join([path, *args])
    return Proposal(actions=(action,), diff=(T(f"运行安装程序 {shown}（不可回滚：需手动卸载）",
                                               f"run the installer {shown} (not reversible: uninstall by hand)"),))


# --------------------------------------------------------------------------- registry_value


def plan_registry_value(spec: registry_value.Spec, fctx: FixContext) -> Proposal:
    if spec.exists or spec.version is not None:
        return Proposal(manual=T("要求“存在”或版本的值无法自动写入：不知道应写什么",
                                 "a value required to exist or to have a version cannot be written: its data is unknown"))
    hive: Hive = spec.hive
    found: tuple[str, RegValue] | None = None
    paths = [q.path for _, q in registry_value._queries(spec)]
    for path in paths:
        val = _value_at(fctx, hive, path, spec.name)
        if val is not None:
            found = (path, val)
            break
    w = _Writes(fctx)
    if spec.absent:
        for path in paths:
            w.delete_value(hive, path, spec.name, _value_at(fctx, hive, path, spec.name))
        return w.proposal()
    want = spec.equals if spec.equals is not None else (spec.in_[0] if spec.in_ else None)
    if want is None:
        return Proposal(manual=T("没有可写入的期望值", "no expected value to write"))
    path, before = found if found is not None else (paths[0], None)
    w.set(hive, path, spec.name, _like(before, want), before)
    return w.proposal()


register_fix("zone_action", plan_zone_action)
register_fix("trusted_site", plan_trusted_site)
register_fix("edge_policy", plan_edge_policy)
register_fix("ie_mode_site", plan_ie_mode_site)
register_fix("activex", plan_activex)
register_fix("installed_program", plan_installed_program)
register_fix("registry_value", plan_registry_value)
