"""``fleetcheck fix``: parse the options, run the fix campaign, render it, exit.

``fix HOST|--limit PATTERN -i INVENTORY``: scans the selected hosts (fresh
facts), plans (dry run by default: per host every value ``before → after``,
what needs a reboot, what a person must do); ``--apply`` guards, applies,
re-probes and verifies (see :mod:`fleetcheck.remediate.apply`). ``--canary N``
applies to N hosts first and stops if any of them fails; ``--wave N`` then
goes on N hosts at a time, stopping after a wave with a failure. Canary and
waves are drawn only from hosts that have something to change. The sequence
itself is :class:`fleetcheck.remediate.campaign.Campaign`, which the
dashboard's Fix runs too.

The summary separates the hosts changed (or to change), compliant, with
nothing automatically fixable (the items for a person listed), not evaluated
(with why: e.g. no operator logged on) and not probed.

Exit codes (as ``scan``): 0 nothing left to fix; 1 something planned (dry
run), refused, failed verification, not applied (the campaign stopped), not
evaluated, or needs a person; 2 usage/configuration error; 3 some hosts could
not be reached (wins over 1).

``--waivers FILE`` (the file ``scan --waivers`` takes): a waived failing check
is never planned nor changed, and the plan says "waived until DATE: reason";
an expired waiver is not honoured (the check is fixed as usual) and the plan
says it expired.

``--now ISO-8601`` fixes the guard's clock (tests, and checking "would it be
allowed at 16:00?"); the default is the real clock.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from fleetcheck.commands.common import (
    EXIT_NONCOMPLIANT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    clock_of,
    fail,
    lang_of,
    load_targets,
    say,
    warn_calendar,
)
from fleetcheck.commands.options import (
    db_option,
    forks_option,
    format_option,
    inventory_option,
    limit_option,
    now_option,
    policy_option,
    timeout_option,
)
from fleetcheck.commands.tables import observed_text
from fleetcheck.findings import FindingStatus, FixMode, HostResult, HostStatus
from fleetcheck.i18n import Lang, T, tr
from fleetcheck.jsonout import text_json
from fleetcheck.officetime import Clock, utc_now
from fleetcheck.policy.loader import load_policy_files, load_waivers
from fleetcheck.readiness import run_certificates
from fleetcheck.remediate.apply import HostFix, Remediator
from fleetcheck.remediate.campaign import (
    Campaign,
    CampaignHooks,
    CampaignOptions,
    CampaignOutcome,
    HostOutcome,
    sweep_probe,
)
from fleetcheck.remediate.guard import (
    DEFAULT_TRADING_PROCESSES,
    Guard,
    GuardDecision,
    TradingCalendar,
)
from fleetcheck.remediate.plan import DEFAULT_SITE_LIST, HostPlan, PlanOptions, WaiverNote
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog, local_user
from fleetcheck.termsafe import safe_terminal

__all__ = ["fix", "fix_json", "render_campaign_summary", "render_fix", "render_json", "render_plan"]


def _installers(items: Sequence[str], args: str | None) -> dict[str, tuple[str, tuple[str, ...]]]:
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for item in items:
        check, sep, path = item.partition("=")
        if not sep or not check.strip() or not path.strip():
            fail(T(f"--installer {item!r} 应写成 检查ID=安装程序路径", f"--installer {item!r} must be CHECK_ID=INSTALLER_PATH"))
        out[check.strip()] = (path.strip(), tuple((args or "").split()))
    return out


def _check_installers(policies: Sequence[Any], installers: Mapping[str, object]) -> None:
    """An ``--installer`` for an unknown check is an error; one the plan would ignore is a warning.

    The plan runs an installer only for an ``installed_program`` check with
    ``fix: auto``; for any other check the option would silently do nothing.
    """
    checks = {c.id: c for p in policies for c in p.checks}
    for check_id in installers:
        check = checks.get(check_id)
        if check is None:
            known = ", ".join(sorted(c for c, spec in checks.items() if spec.type == "installed_program")) or "—"
            fail(T(f"--installer：策略中没有检查 {check_id!r}（安装程序类检查：{known}）",
                   f"--installer: no check {check_id!r} in the policies (installed_program checks: {known})"),
                 EXIT_USAGE)
        if check.type != "installed_program":
            say(T(f"警告：--installer {check_id} 被忽略：该检查的类型是 {check.type}，不是 installed_program，"
                  "不会运行安装程序",
                  f"warning: --installer {check_id} ignored: the check's type is {check.type}, not "
                  "installed_program; no installer is run"), err=True)
        elif check.fix is not FixMode.auto:
            mode = check.fix.value
            say(T(f"警告：--installer {check_id} 被忽略：策略中检查 {check_id} 的修复方式是 fix: {mode}"
                  f"（{'人工修复' if mode == 'manual' else '不自动修复'}），不会运行安装程序",
                  f"warning: --installer {check_id} ignored: the policy makes the fix of check {check_id} "
                  f"fix: {mode} ({'done by hand' if mode == 'manual' else 'never fixed automatically'}); "
                  "no installer is run"), err=True)


# --------------------------------------------------------------------------- rendering


def _plural(count: int, noun: str) -> str:
    """English noun for a count: ``1 action``, ``2 actions``."""
    return noun if count == 1 else noun + "s"


def _host_head(host: str, plan: HostPlan, zh: bool) -> str:
    """``HOST [操作员 X]``, or a warning that nobody is logged on (user settings were not checked)."""
    if plan.operator is not None:
        return f"{host} [{'操作员' if zh else 'operator'} {plan.operator.user or plan.operator.sid}]"
    return f"{host} [{'没有操作员登录：用户设置未检查' if zh else 'no operator logged on: user settings not checked'}]"


def _unevaluated(scan: HostResult) -> int:
    """How many of the host's checks could not be evaluated (no operator logged on, an error)."""
    return sum(1 for f in scan.findings if f.status in (FindingStatus.not_evaluated, FindingStatus.error))


def _plan_headline(head: str, plan: HostPlan, decision: GuardDecision | None, lang: Lang,
                   unevaluated: int = 0) -> list[str]:
    zh = lang == "zh"
    if not plan.actions:
        if plan.manual:
            what = f"没有可自动修复的项；{len(plan.manual)} 项需人工处理" if zh else \
                f"nothing to fix automatically; {len(plan.manual)} to do by hand"
        elif unevaluated:
            # Not "nothing to change": what was not evaluated may well need a change.
            what = f"已检查的项无需修改；{unevaluated} 项未评估" if zh else \
                f"nothing to change in what was checked; {unevaluated} not evaluated"
        else:
            what = "无需修改" if zh else "nothing to change"
        return [f"{head}: {what}"]
    lines = [f"{head}: {len(plan.actions)} {'个动作' if zh else _plural(len(plan.actions), 'action')}"
             + (f"，{'需要重启' if zh else 'needs a reboot'}" if plan.needs_reboot else "")]
    if decision is not None and not decision.allowed:
        lines.append("  " + tr(T(f"注意：现在 --apply 会被拒绝（{decision.summary().zh}）；--force 可强制执行，并记入审计",
                                 f"note: --apply would be refused now ({decision.summary().en}); "
                                 "--force overrides it and is audited"), lang))
    return lines


def render_plan(scan: HostResult, plan: HostPlan | None, lang: Lang, decision: GuardDecision | None = None) -> list[str]:
    """The dry-run lines of one host; ``decision``: what the guard would say to ``--apply`` now."""
    zh = lang == "zh"
    if scan.status is not HostStatus.ok or plan is None:
        return [f"{scan.host}: {'无法检查' if zh else 'not probed'} ({scan.error_class}) {tr(scan.error, lang)}"]
    lines = _plan_headline(_host_head(scan.host, plan, zh), plan, decision, lang, _unevaluated(scan))
    for step in plan.steps:
        lines.append(f"  [{step.check_id}] {tr(step.title, lang)}" + (f"  ({'需要重启' if zh else 'needs a reboot'})"
                                                                      if step.needs_reboot else ""))
        # The planners' diffs mark absence bilingually ("(不存在 absent)"): one language here.
        lines += [f"      {observed_text(tr(d, lang), lang)}" for d in step.diff]
        if step.follow_up is not None:
            lines.append(f"      → {tr(step.follow_up, lang)}")
    for manual in plan.manual:
        lines.append(f"  [{manual.check_id}] {'需人工处理' if zh else 'manual'}: {tr(manual.reason, lang)}")
        lines.append(f"      {tr(manual.remedy, lang)}")
    return lines + waiver_lines(plan.waivers, lang)


def waiver_lines(notes: Sequence[WaiverNote], lang: Lang) -> list[str]:
    """``[check] waived until DATE: reason`` for each waived check, ``waiver expired on DATE`` for each expired one."""
    return [f"  [{n.check_id}] {tr(n.text, lang)}" for n in notes]


def _render_host_plan(host: HostOutcome, lang: Lang) -> list[str]:
    if host.scan is None:
        return [f"{host.name}: {tr(host.unreachable_reason, lang)}"]
    return render_plan(host.scan, host.plan, lang, host.decision)


_HOST_LABELS = {"nothing": T("无需修复", "nothing to fix"), "refused": T("被拒绝，未做任何修改", "refused, nothing changed"),
                "fixed": T("已修复", "fixed"), "failed": T("失败", "failed"), "error": T("出错", "error")}
_STEP_LABELS = {"applied": T("已应用并验证", "applied and verified"), "failed": T("失败", "failed"),
                "refused": T("被拒绝", "refused"), "unknown": T("状态未知", "unknown")}
_REMOVED_VERIFIED = T("（旧注册已删除，已安排重启）", " (stale registration removed, reboot scheduled)")


def _fix_label(result: HostFix, lang: Lang) -> str:
    zh = lang == "zh"
    label = tr(_HOST_LABELS[result.status], lang)
    if result.status == "nothing" and result.plan.manual:
        label += f"（{len(result.plan.manual)} 项需人工处理，见预演）" if zh else \
            f" ({len(result.plan.manual)} to do by hand: see the dry run)"
    if result.status == "fixed" and any(o.step.follow_up is not None for o in result.steps):
        label += "，但还需操作员完成下面 → 所列的步骤" if zh else ", but the operator still has to do the step marked →"
    if result.decision is not None and result.decision.forced:
        label += " (--force: " + tr(result.decision.summary(), lang) + ")"
    return label


def render_fix(result: HostFix, lang: Lang) -> list[str]:
    """The ``--apply`` lines of one host: its status, each step's, and what a person still has to do."""
    lines = [f"{result.host}: {_fix_label(result, lang)}"]
    if result.status == "refused" and result.decision is not None:
        lines += [f"  {tr(r, lang)}" for r in result.decision.reasons]
    for outcome in result.steps:
        text = f"  [{outcome.step.check_id}] {tr(_STEP_LABELS[outcome.status], lang)}"
        if outcome.status == "applied" and outcome.step.verify == "removed":
            text += tr(_REMOVED_VERIFIED, lang)
        if outcome.error is not None and result.status != "refused":
            text += f": {tr(outcome.error, lang)}"
        lines.append(text)
        if outcome.status == "applied" and outcome.step.follow_up is not None:
            lines.append(f"      → {tr(outcome.step.follow_up, lang)}")
    if result.error is not None and not result.steps:
        lines.append(f"  {tr(result.error, lang)}")
    return lines + waiver_lines(result.plan.waivers, lang)


def _render_host_fix(host: HostOutcome, lang: Lang) -> list[str]:
    """A host's ``--apply`` lines; one whose checks were not all evaluated says so instead of only "nothing to fix"."""
    if host.fix is None:
        return []
    lines = render_fix(host.fix, lang)
    if host.category == "not_evaluated" and host.scan is not None:
        count = _unevaluated(host.scan)
        lines.append(tr(T(f"  但有 {count} 项未评估，不能确认无需修复", f"  but {count} not evaluated: cannot say nothing needs a fix"),
                        lang))
    return lines


def _names(hosts: Sequence[HostOutcome]) -> str:
    return ", ".join(h.name for h in hosts)


def _category_lines(outcome: CampaignOutcome, lang: Lang) -> list[str]:
    """Compliant / nothing auto-fixable (the items listed) / not evaluated (why) / not probed: one line each."""
    lines: list[str] = []
    compliant = outcome.by_category("compliant")
    if compliant:
        lines.append(tr(T(f"  合规，无需修改 {len(compliant)} 台：{_names(compliant)}",
                          f"  compliant, nothing to change: {len(compliant)} ({_names(compliant)})"), lang))
    for host in outcome.by_category("manual"):
        assert host.plan is not None
        items = ", ".join(m.check_id for m in host.plan.manual)
        lines.append(tr(T(f"  没有可自动修复的项，需人工处理：{host.name} [{items}]",
                          f"  nothing to fix automatically, to do by hand: {host.name} [{items}]"), lang))
    for host in outcome.by_category("change"):
        if host.plan is not None and host.plan.manual:
            items = ", ".join(m.check_id for m in host.plan.manual)
            lines.append(tr(T(f"  另需人工处理：{host.name} [{items}]", f"  also to do by hand: {host.name} [{items}]"), lang))
    for host in outcome.by_category("not_evaluated"):
        why = "; ".join(tr(r, lang) for r in host.not_evaluated())
        lines.append(tr(T(f"  未评估（不能说无需修改）：{host.name}（{why}）",
                          f"  not evaluated (cannot say nothing to change): {host.name} ({why})"), lang))
    for host in outcome.by_category("unreachable"):
        lines.append(tr(T(f"  无法检查：{host.name}（{host.unreachable_reason.zh}）",
                          f"  not probed: {host.name} ({host.unreachable_reason.en})"), lang))
    return lines


def _dry_run_headline(outcome: CampaignOutcome, lang: Lang) -> str:
    change = outcome.by_category("change")
    total = sum(len(h.plan.actions) for h in change if h.plan is not None)
    busy = len(change)
    counts = {c: len(outcome.by_category(c)) for c in ("compliant", "manual", "not_evaluated", "unreachable")}
    return tr(T(f"预演：{busy} 台主机共 {total} 个动作（加 --apply 执行）；合规 {counts['compliant']} 台；"
                f"没有可自动修复的项 {counts['manual']} 台；未评估 {counts['not_evaluated']} 台；"
                f"无法检查 {counts['unreachable']} 台",
                f"dry run: {total} {_plural(total, 'action')} in all on {busy} {_plural(busy, 'host')} "
                f"(add --apply to carry them out); compliant {counts['compliant']}; nothing to fix automatically "
                f"{counts['manual']}; not evaluated {counts['not_evaluated']}; not probed {counts['unreachable']}"),
              lang)


def _apply_headline(outcome: CampaignOutcome, lang: Lang) -> str:
    zh = lang == "zh"
    unit = " 台" if zh else ""
    fixes = outcome.fixes
    parts = []
    for status in ("fixed", "refused", "failed", "error"):
        count = sum(1 for f in fixes if f.status == status)
        if count:
            parts.append(f"{tr(_HOST_LABELS[status], lang).split('，')[0].split(',')[0]} {count}{unit}")
    if outcome.not_applied:
        parts.append(tr(T(f"未执行（已停止）{len(outcome.not_applied)} 台", f"not applied (stopped) {len(outcome.not_applied)}"),
                        lang))
    for category, label in (("compliant", T("合规", "compliant")), ("manual", T("没有可自动修复的项", "nothing to fix automatically")),
                            ("not_evaluated", T("未评估", "not evaluated")), ("unreachable", T("无法检查", "not probed"))):
        count = len(outcome.by_category(category))  # type: ignore[arg-type]
        if count:
            parts.append(f"{tr(label, lang)} {count}{unit}")
    return ("汇总：" if zh else "summary: ") + ("，" if zh else ", ").join(parts)


def render_campaign_summary(outcome: CampaignOutcome, lang: Lang) -> list[str]:
    """The closing lines: counts by outcome, the hosts of each category, what is left for a person or a retry."""
    if not outcome.applied:
        return [_dry_run_headline(outcome, lang), *_category_lines(outcome, lang)]
    lines = [_apply_headline(outcome, lang), *_category_lines(outcome, lang)]
    if outcome.not_applied:
        lines.append(tr(T(f"  因修复失败而停止，未修改：{_names(outcome.not_applied)}",
                          f"  stopped after a failure, not changed: {_names(outcome.not_applied)}"), lang))
    fixes = outcome.fixes
    follow = [r.host for r in fixes if any(o.status == "applied" and o.step.follow_up is not None for o in r.steps)]
    if follow:
        lines.append(tr(T(f"还需操作员（重启后在 IE 中打开 https://biz.sccc.com 重新安装控件）：{', '.join(follow)}",
                          f"still to do by the operator (after the reboot, open https://biz.sccc.com in IE to reinstall "
                          f"the control): {', '.join(follow)}"), lang))
    refused = [r.host for r in fixes if r.status == "refused"]
    if refused:
        lines.append(tr(T(f"被拒绝的主机未做任何修改（{', '.join(refused)}）：收盘、关闭交易软件后再运行，"
                          "或加 --force 强制执行（记入审计）",
                          f"refused hosts were not changed ({', '.join(refused)}): run again after the close "
                          "with the trading client closed, or add --force (audited)"), lang))
    if outcome.run_id is not None:
        lines.append(tr(T(f"修复运行 {outcome.run_id}（回滚：fleetcheck rollback --run {outcome.run_id}）",
                          f"fix run {outcome.run_id} (undo: fleetcheck rollback --run {outcome.run_id})"), lang))
    return lines


def _plan_json(plan: HostPlan | None) -> Any:
    if plan is None:
        return None
    return {
        "operator": plan.operator.user if plan.operator else None,
        "needs_reboot": plan.needs_reboot,
        "steps": [{"policy": s.policy_id, "check": s.check_id, "title": text_json(s.title),
                   "diff": [text_json(d) for d in s.diff], "needs_reboot": s.needs_reboot,
                   "follow_up": text_json(s.follow_up) if s.follow_up is not None else None,
                   "actions": [a.model_dump(mode="json") for a in s.actions]} for s in plan.steps],
        "manual": [{"policy": m.policy_id, "check": m.check_id, "title": text_json(m.title),
                    "reason": text_json(m.reason), "remedy": text_json(m.remedy)} for m in plan.manual],
        "waivers": [{"check": w.check_id, "expires": w.expires.isoformat(), "expired": w.expired,
                     "reason": w.reason, "approver": w.approver, "text": text_json(w.text)} for w in plan.waivers],
    }


def _summary_json(outcome: CampaignOutcome) -> dict[str, Any]:
    summary: dict[str, Any] = {c: [h.name for h in outcome.by_category(c)] for c in
                               ("change", "compliant", "manual", "not_evaluated", "unreachable")}
    summary["not_evaluated_why"] = {h.name: [text_json(r) for r in h.not_evaluated()]
                                    for h in outcome.by_category("not_evaluated")}
    summary["unreachable_why"] = {h.name: text_json(h.unreachable_reason) for h in outcome.by_category("unreachable")}
    if outcome.applied:
        summary["not_applied"] = [h.name for h in outcome.not_applied]
    return summary


def _fix_json(host: HostOutcome) -> dict[str, Any]:
    assert host.fix is not None
    fix = host.fix
    return {"status": fix.status, "category": host.category, "batch": host.batch,
            "error": text_json(fix.error) if fix.error is not None else None,
            "steps": [{"check": o.step.check_id, "status": o.status,
                       "error": text_json(o.error) if o.error is not None else None} for o in fix.steps]}


def fix_json(outcome: CampaignOutcome) -> dict[str, Any]:
    """The ``fix --format json`` document (``reports_templates/fix.schema.json``): the dry-run plan
    (``apply`` false: every host's plan, null when not probed) or the applied outcome (``apply`` true:
    the fix run, whether it stopped, each attempted host's result). Fixed English keys, ``{zh, en}`` text."""
    report: dict[str, Any] = {"apply": outcome.applied, "run_id": outcome.run_id if outcome.applied else None,
                              "summary": _summary_json(outcome)}
    if not outcome.applied:
        report["hosts"] = {n: _plan_json(h.plan) for n, h in outcome.hosts.items()}
        report["actions"] = sum(len(h.plan.actions) for h in outcome.hosts.values() if h.plan is not None)
    else:
        report.update(stopped=outcome.stopped_after is not None,
                      stop_reason=text_json(outcome.stop_reason) if outcome.stop_reason is not None else None,
                      hosts={n: _fix_json(h) for n, h in outcome.hosts.items() if h.fix is not None})
    return report


def render_json(outcome: CampaignOutcome) -> str:
    """:func:`fix_json` as indented UTF-8 JSON text (what ``--format json`` prints)."""
    return json.dumps(fix_json(outcome), ensure_ascii=False, indent=2)


def exit_code(outcome: CampaignOutcome) -> int:
    """0 nothing left to do; 1 something planned / refused / failed / not applied / needs a person; 3 unreachable."""
    fixes = outcome.fixes
    if outcome.by_category("unreachable") or any(f.status == "error" for f in fixes):
        return EXIT_UNREACHABLE
    by_hand = any(h.plan is not None and h.plan.manual for h in outcome.hosts.values())
    left = by_hand or bool(outcome.by_category("not_evaluated"))
    if not outcome.applied:
        left = left or bool(outcome.by_category("change"))
    else:
        left = left or outcome.stopped_after is not None or any(f.status in ("failed", "refused") for f in fixes)
    return EXIT_NONCOMPLIANT if left else EXIT_OK


# --------------------------------------------------------------------------- fix


@dataclass(frozen=True)
class FixRequest:
    """Every option of ``fix``, as click parses them (the command's argument bundle)."""

    host: str | None
    inventory_path: Path
    limit: str | None
    policy_paths: tuple[str, ...]
    waivers_path: Path | None
    do_apply: bool
    force: bool
    strategy: str
    canary: int | None
    wave: int | None
    calendar_path: Path | None
    trading_processes: tuple[str, ...]
    site_list: str
    installers: tuple[str, ...]
    installer_args: str | None
    db_url: str | None
    forks: int
    timeout_s: float
    now_text: str | None
    fmt: str


def _echo(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(safe_terminal(line))


def _table_hooks(lang: Lang, do_apply: bool) -> CampaignHooks:
    """Print each host as the campaign reaches it: its plan (dry run) or its fix result (apply)."""
    planned: Callable[[HostOutcome], None] = (lambda h: None) if do_apply else (lambda h: _echo(_render_host_plan(h, lang)))
    return CampaignHooks(
        planned=planned,
        fixed=lambda h: _echo(_render_host_fix(h, lang)),
        stopped=lambda why: click.echo(tr(why, lang)),
    )


@dataclass(frozen=True)
class _Setup:
    """What ``fix`` loaded before the campaign starts."""

    policies: list[Any]
    waivers: tuple[Any, ...]
    guard: Guard
    plan: PlanOptions
    clock: Clock
    hosts: list[Any]
    inventory_source: str | None


def _run(req: FixRequest, setup: _Setup, hooks: CampaignHooks) -> CampaignOutcome:
    options = CampaignOptions(apply=req.do_apply, force=req.force, canary=req.canary, wave=req.wave,
                              forks=req.forks, plan=setup.plan, waivers=setup.waivers)
    policies, guard, clock = setup.policies, setup.guard, setup.clock
    probe = sweep_probe(policies, forks=req.forks, timeout_s=req.timeout_s, clock=clock,
                        inventory=setup.inventory_source, waivers=setup.waivers)
    if not req.do_apply:
        return Campaign(policies, guard, options, probe=probe, clock=clock, hooks=hooks).run(setup.hosts)
    # A StoreError (or any FleetcheckError) is turned into its message and exit code by cli.main.
    with Store.open(req.db_url) as store:
        applier = Remediator(policies, AuditLog(store), ChangeLog(store), guard, who=local_user(),
                             timeout_s=req.timeout_s, clock=clock)
        campaign = Campaign(policies, guard, options, probe=probe, applier=applier, clock=clock, hooks=hooks)
        outcome = campaign.run(setup.hosts)
        # What fix saw (changed hosts by their verification probe) becomes the office state's newest
        # observation of those PCs: the dashboard and report agree with what fix just did.
        # Stamped with the real time: --now moves the guard's and the evaluation's clock, not the
        # moment the PCs were probed (a past --now must not file this before earlier scans).
        seen = outcome.observations(utc_now(), policies=[getattr(p, "id", str(p)) for p in policies],
                                    inventory=setup.inventory_source)
        if seen is not None:
            store.record_run(seen, certificates=run_certificates(seen))
        return outcome


def _load_calendar(path: Path | None) -> TradingCalendar:
    """The ``--calendar`` file, or the built-in calendar; a bad file is a CalendarError (cli.main reports it)."""
    return TradingCalendar.load(path) if path else TradingCalendar()


def _unreachable_lines(outcome: CampaignOutcome, lang: Lang) -> list[str]:
    return [line for h in outcome.by_category("unreachable") for line in _render_host_plan(h, lang)]


@click.command(name="fix")
@click.argument("host", required=False)
@inventory_option
@limit_option
@policy_option
@click.option("--waivers", "waivers_path", type=click.Path(path_type=Path),
              help="豁免文件（与 scan --waivers 相同）：豁免的检查不修改 / waivers file (as scan's): waived checks are left alone")
@click.option("--apply", "do_apply", is_flag=True, help="真正执行（默认只预演）/ carry it out (default: dry run)")
@click.option("--force", is_flag=True, help="忽略交易时段与交易软件保护（会记入审计）/ override the guard (audited)")
@click.option("--strategy", type=click.Choice(["user", "machine-policy"]), default="user", show_default=True,
              help="用户设置写入操作员配置单元，或写入 HKLM 策略 / operator's hive, or HKLM policy keys")
@click.option("--canary", type=click.IntRange(1, 100000),
              help="先修复 N 台需要修改的主机，失败则停止 / fix N hosts that need it first, stop on failure")
@click.option("--wave", type=click.IntRange(1, 100000), help="每批 N 台，某批失败则停止 / N hosts at a time")
@click.option("--calendar", "calendar_path", type=click.Path(path_type=Path), help="交易日历 YAML / trading calendar YAML")
@click.option("--trading-process", "trading_processes", multiple=True,
              help="交易软件进程名，可重复（默认内置列表）/ trading-client process name, repeatable")
@click.option("--site-list", default=DEFAULT_SITE_LIST, show_default=True, help="IE 模式站点列表路径 / IE-mode site list path")
@click.option("--installer", "installers", multiple=True, help="CHECK_ID=安装程序路径 / CHECK_ID=installer path on the PC")
@click.option("--installer-args", help="安装程序静默参数 / silent installer arguments")
@db_option
@forks_option
@timeout_option
@now_option
@format_option(["table", "json"], "table")
def fix(**given: Any) -> None:
    """修复主机（默认预演）/ fix hosts (dry run unless --apply)."""
    req = FixRequest(**given)
    lang = lang_of()
    clock = clock_of(req.now_text)
    calendar = _load_calendar(req.calendar_path)
    if req.host and req.limit:
        fail(T("HOST 与 --limit 只能给一个", "give HOST or --limit, not both"))
    inventory, names = load_targets(req.inventory_path, req.host or req.limit)
    policies = load_policy_files(req.policy_paths)
    given_installers = _installers(req.installers, req.installer_args)
    _check_installers(policies, given_installers)
    plan = PlanOptions(strategy=req.strategy, site_list_path=req.site_list,  # type: ignore[arg-type]
                       installers=given_installers, calendar=calendar)
    guard = Guard(calendar, req.trading_processes or DEFAULT_TRADING_PROCESSES, clock=clock)
    warn_calendar(guard)
    waivers = tuple(load_waivers(req.waivers_path, policies)) if req.waivers_path else ()  # WaiverError: cli.main
    setup = _Setup(policies, waivers, guard, plan, clock, [inventory.hosts[n] for n in names], inventory.source)
    hooks = _table_hooks(lang, req.do_apply) if req.fmt == "table" else CampaignHooks()
    outcome = _run(req, setup, hooks)
    if req.fmt == "json":
        click.echo(render_json(outcome))
    else:
        if req.do_apply:
            _echo(_unreachable_lines(outcome, lang))
        _echo(render_campaign_summary(outcome, lang))
    sys.exit(exit_code(outcome))
