"""Fix planner for ``activex``: re-enable a disabled control, or clear a stale registration. Pure.

Disabled controls are re-enabled (Manage Add-ons ``Flags``, kill bit, Add-on
List policy). A wrong version or a missing file means a stale registration:
its CLSID key (in the view IE uses) and its ``Distribution Units`` entry are
deleted (the agent returns the trees for rollback) and a reboot is scheduled
outside trading hours (guide 四). The control is then reinstalled from the
portal's CAB by IE when the operator opens https://biz.sccc.com after the
reboot: a follow-up the step's output states (``FixStep.follow_up``), and what
its verification does not wait for (``verify: removed``: the stale
registration is gone and the reboot is scheduled; see
:mod:`fleetcheck.remediate.apply`). A control that is not registered at all
cannot be installed remotely.
"""

from __future__ import annotations

from datetime import timedelta

from fleetcheck.agent.contract import RegValue, ScheduleReboot
from fleetcheck.checks import activex
from fleetcheck.checks.facts import answer_of, dword, registry_key
from fleetcheck.i18n import T, Text
from fleetcheck.officetime import office_minute
from fleetcheck.remediate.fixes.writes import Writes, dword_value, like
from fleetcheck.remediate.proposal import FixContext, Proposal, reboot_delay

__all__ = ["plan_activex"]

_ALLOWED = (activex.LIST_ON_LOCKED, activex.LIST_ON_USER)


def plan_activex(spec: activex.Spec, fctx: FixContext) -> Proposal:
    """Clear a stale registration (and reboot), or undo what disables the control; manual if unregistered."""
    ctx = fctx.ctx
    reg = activex.find_registration(spec, ctx)
    name = spec.name or spec.clsid
    if reg is None:
        return Proposal(manual=T(
            f"控件 {name} 未注册：请操作员登录门户 https://biz.sccc.com，由 IE 安装控件（JIT*.cab）",
            f"control {name} is not registered: the operator opens https://biz.sccc.com and lets IE install it (JIT*.cab)"))
    info = reg.info
    version_ok = spec.version is None or not activex.version_problems(
        spec, name, (info.version if info is not None and info.exists else None) or activex.unit_version(ctx, spec.clsid))
    file_ok = info is None or info.exists
    w = Writes(fctx)
    if not (version_ok and file_ok):
        return _plan_reinstall(spec, fctx, w, name)
    if spec.enabled:
        _plan_enable(spec, fctx, w)
    return w.proposal()


def _plan_reinstall(spec: activex.Spec, fctx: FixContext, w: Writes, name: str) -> Proposal:
    """Delete the stale registration IE uses and its CAB record, schedule a reboot outside trading hours."""
    ctx = fctx.ctx
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
    w.add(ScheduleReboot(id=w.next_id(), delay_s=delay, message="fleetcheck: SCCC ActiveX update (guide 4)"),
          _reboot_note(fctx, delay))
    # Only the operator's own visit reinstalls the control: until then the
    # check keeps failing ("not registered"), and the output must say so.
    wanted = f"（{spec.version}）" if spec.version is not None else ""
    wanted_en = f" ({spec.version})" if spec.version is not None else ""
    return w.proposal(needs_reboot=True, verify="removed", follow_up=T(
        f"还需操作员：重启后在 IE 中打开门户 https://biz.sccc.com，由 IE 从门户的 CAB 重新安装 {name}{wanted}；"
        "在此之前该检查仍显示“未注册”",
        f"still to do by the operator: after the reboot, open https://biz.sccc.com in IE so that IE reinstalls "
        f"{name}{wanted_en} from the portal's CAB; until then this check shows \"not registered\""))


def _reboot_note(fctx: FixContext, delay_s: int) -> Text:
    """When the PC reboots, as a clock time in the trading calendar's zone (zone named), not "in N minutes"."""
    at = fctx.now + timedelta(seconds=delay_s + 30)  # to the nearest minute: the delay is whole seconds
    shown = office_minute(at.replace(second=0, microsecond=0), fctx.options.calendar.zone)
    return T(f"将于 {shown} 重启（交易时段之外）", f"reboot at {shown} (outside trading hours)")


def _plan_enable(spec: activex.Spec, fctx: FixContext, w: Writes) -> None:
    """Undo each thing that disables the control for 32-bit IE (what the check reports as ``disabled_by``)."""
    _clear_kill_bit(spec, fctx, w)
    _allow_in_policy_lists(spec, fctx, w)
    _clear_user_flags(spec, fctx, w)


def _clear_kill_bit(spec: activex.Spec, fctx: FixContext, w: Writes) -> None:
    query = activex.kill_bit_query(spec.clsid, fctx.ctx.facts.os.arch)
    key = registry_key(fctx.ctx, query)
    flags = key.value("Compatibility Flags") if key is not None else None
    number = dword(flags)  # as the check reads it: only a REG_DWORD counts
    if flags is not None and number is not None and number & activex.KILL_BIT:
        w.set("HKLM", query.path, "Compatibility Flags", like(flags, number & ~activex.KILL_BIT), flags)


def _allow_in_policy_lists(spec: activex.Spec, fctx: FixContext, w: Writes) -> None:
    """The Add-on List entry set to allowed where a list in force denies it or RestrictToList excludes it."""
    ctx, c = fctx.ctx, spec.clsid
    pol = activex.policy_state(ctx, c)
    for _layer, ext_q, list_q, user in activex.policy_queries():
        if user and fctx.operator is None:
            continue
        ext = registry_key(ctx, ext_q, user=user)
        lst = registry_key(ctx, list_q, user=user)
        list_on = ext is not None and dword(ext.value("ListBox_Support_CLSID")) == 1
        val = lst.value(c) if lst is not None else None
        allowed = val is not None and activex.list_value(val) in _ALLOWED
        if list_on and val is not None and not allowed:
            w.set(list_q.hive, list_q.path, c, RegValue(t="SZ", v="1"), val)
            continue
        restricted_here = ext is not None and dword(ext.value("RestrictToList")) == 1
        if not (pol.restrict and pol.value not in _ALLOWED and restricted_here):
            continue
        # "deny unless listed" set in this layer: allow the control in its list
        w.set(list_q.hive, list_q.path, c, RegValue(t="SZ", v="1"), val)
        others = [n for n in (lst.values if lst is not None else {}) if n.lower() != c.lower()]
        if not list_on and not others:  # enabling an empty list changes nothing else
            before = ext.value("ListBox_Support_CLSID") if ext is not None else None
            w.set(ext_q.hive, ext_q.path, "ListBox_Support_CLSID", dword_value(1), before)


def _clear_user_flags(spec: activex.Spec, fctx: FixContext, w: Writes) -> None:
    """Manage Add-ons' per-user "disabled" flag, unless a locked policy entry decides anyway."""
    if fctx.operator is None or activex.policy_state(fctx.ctx, spec.clsid).value == activex.LIST_ON_LOCKED:
        return
    ext_settings = activex.ext_settings_query(spec.clsid)
    key = registry_key(fctx.ctx, ext_settings, user=True)
    uflags = key.value("Flags") if key is not None else None
    unumber = dword(uflags)
    if uflags is not None and unumber is not None and unumber & 1:
        w.set("HKU", ext_settings.path, "Flags", like(uflags, unumber & ~1), uflags)
