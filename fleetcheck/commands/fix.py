"""``fleetcheck fix``, ``fleetcheck rollback``, ``fleetcheck audit verify|show``.

``fix HOST|--limit PATTERN -i INVENTORY``: scans the selected hosts (fresh
facts), plans (dry run by default: per host every value ``before → after``,
what needs a reboot, what a person must do); ``--apply`` guards, applies,
re-probes and verifies (see :mod:`fleetcheck.remediate.apply`). ``--canary N``
applies to N hosts first and stops if any of them fails; ``--wave N`` then
goes on N hosts at a time, stopping after a wave with a failure.

Exit codes (as ``scan``): 0 nothing left to fix; 1 something planned (dry
run), refused, failed verification, or needs a person; 2 usage/configuration
error; 3 some hosts could not be reached (wins over 1).

``--now ISO-8601`` fixes the guard's clock (tests, and checking "would it be
allowed at 16:00?"); the default is the real clock.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    load_policies_for,
    load_targets,
    say,
)
from fleetcheck.commands.options import now_option
from fleetcheck.findings import FixMode, HostResult, HostStatus
from fleetcheck.i18n import Lang, T, tr
from fleetcheck.inventory import (
    Inventory,
)
from fleetcheck.remediate.apply import HostFix, Remediator
from fleetcheck.remediate.guard import (
    DEFAULT_TRADING_PROCESSES,
    CalendarError,
    Guard,
    GuardDecision,
    TradingCalendar,
)
from fleetcheck.remediate.plan import DEFAULT_SITE_LIST, HostPlan, PlanOptions, plan_host
from fleetcheck.remediate.rollback import rollback_host
from fleetcheck.runner import DEFAULT_FORKS, DEFAULT_TIMEOUT_S, policy_sweep
from fleetcheck.store import Store, StoreError
from fleetcheck.store.audit import AuditLog, ChangeLog, local_user
from fleetcheck.termsafe import safe_terminal

_DB_HELP = "历史数据库 URL 或 SQLite 路径（或 FLEETCHECK_DB）/ database URL or SQLite path (or FLEETCHECK_DB)"


def register(main: click.Group) -> None:
    main.add_command(fix)
    main.add_command(rollback)
    main.add_command(audit)


def _open_store(db_url: str | None) -> Store:
    try:
        return Store.open(db_url)
    except StoreError as exc:
        fail(exc.text)


def _inventory(path: Path, host: str | None, limit: str | None) -> tuple[Inventory, list[str]]:
    if host and limit:
        fail(T("HOST 与 --limit 只能给一个", "give HOST or --limit, not both"))
    return load_targets(path, host or limit)


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


def render_plan(scan: HostResult, plan: HostPlan | None, lang: Lang, decision: GuardDecision | None = None) -> list[str]:
    """The dry-run lines of one host; ``decision``: what the guard would say to ``--apply`` now."""
    zh = lang == "zh"
    if scan.status is not HostStatus.ok or plan is None:
        return [f"{scan.host}: {'无法检查' if zh else 'not probed'} ({scan.error_class}) {tr(scan.error, lang)}"]
    head = _host_head(scan.host, plan, zh)
    if not plan.actions:
        if plan.manual:
            what = f"没有可自动修复的项；{len(plan.manual)} 项需人工处理" if zh else \
                f"nothing to fix automatically; {len(plan.manual)} to do by hand"
        else:
            what = "无需修改" if zh else "nothing to change"
        lines = [f"{head}: {what}"]
    else:
        lines = [f"{head}: {len(plan.actions)} {'个动作' if zh else _plural(len(plan.actions), 'action')}"
                 + (f"，{'需要重启' if zh else 'needs a reboot'}" if plan.needs_reboot else "")]
        if decision is not None and not decision.allowed:
            lines.append("  " + tr(T(f"注意：现在 --apply 会被拒绝（{decision.summary().zh}）；--force 可强制执行，并记入审计",
                                     f"note: --apply would be refused now ({decision.summary().en}); "
                                     "--force overrides it and is audited"), lang))
    for step in plan.steps:
        lines.append(f"  [{step.check_id}] {tr(step.title, lang)}" + (f"  ({'需要重启' if zh else 'needs a reboot'})"
                                                                      if step.needs_reboot else ""))
        lines += [f"      {tr(d, lang)}" for d in step.diff]
        if step.follow_up is not None:
            lines.append(f"      → {tr(step.follow_up, lang)}")
    for manual in plan.manual:
        lines.append(f"  [{manual.check_id}] {'需人工处理' if zh else 'manual'}: {tr(manual.reason, lang)}")
        lines.append(f"      {tr(manual.remedy, lang)}")
    return lines


_HOST_LABELS = {"nothing": T("无需修复", "nothing to fix"), "refused": T("被拒绝，未做任何修改", "refused, nothing changed"),
                "fixed": T("已修复", "fixed"), "failed": T("失败", "failed"), "error": T("出错", "error")}
_STEP_LABELS = {"applied": T("已应用并验证", "applied and verified"), "failed": T("失败", "failed"),
                "refused": T("被拒绝", "refused"), "unknown": T("状态未知", "unknown")}
_REMOVED_VERIFIED = T("（旧注册已删除，已安排重启）", " (stale registration removed, reboot scheduled)")


def render_fix(result: HostFix, lang: Lang) -> list[str]:
    """The ``--apply`` lines of one host: its status, each step's, and what a person still has to do."""
    zh = lang == "zh"
    label = tr(_HOST_LABELS[result.status], lang)
    if result.status == "nothing" and result.plan.manual:
        label += f"（{len(result.plan.manual)} 项需人工处理，见预演）" if zh else \
            f" ({len(result.plan.manual)} to do by hand: see the dry run)"
    if result.status == "fixed" and any(o.step.follow_up is not None for o in result.steps):
        label += "，但还需操作员完成下面 → 所列的步骤" if zh else ", but the operator still has to do the step marked →"
    if result.decision is not None and result.decision.forced:
        label += " (--force: " + tr(result.decision.summary(), lang) + ")"
    lines = [f"{result.host}: {label}"]
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
    return lines


def render_fix_summary(results: Sequence[HostFix], unreachable: Sequence[str], lang: Lang) -> list[str]:
    """The closing lines of ``--apply``: counts, and which hosts still need a person or a retry."""
    count = {status: [r.host for r in results if r.status == status] for status in _HOST_LABELS}
    zh = lang == "zh"
    unit = " 台" if zh else ""
    parts = [f"{tr(_HOST_LABELS[s], lang).split('，')[0].split(',')[0]} {len(count[s])}{unit}" for s in
             ("fixed", "refused", "failed", "error", "nothing") if count[s]]
    if unreachable:
        parts.append(f"{'无法检查' if zh else 'not probed'} {len(unreachable)}{unit}")
    lines = [("汇总：" if zh else "summary: ") + ("，" if zh else ", ").join(parts)]
    follow = [r.host for r in results if any(o.status == "applied" and o.step.follow_up is not None for o in r.steps)]
    if follow:
        lines.append(tr(T(f"还需操作员（重启后在 IE 中打开 https://biz.sccc.com 重新安装控件）：{', '.join(follow)}",
                          f"still to do by the operator (after the reboot, open https://biz.sccc.com in IE to reinstall "
                          f"the control): {', '.join(follow)}"), lang))
    if count["refused"]:
        lines.append(tr(T(f"被拒绝的主机未做任何修改（{', '.join(count['refused'])}）：收盘、关闭交易软件后再运行，"
                          "或加 --force 强制执行（记入审计）",
                          f"refused hosts were not changed ({', '.join(count['refused'])}): run again after the close "
                          "with the trading client closed, or add --force (audited)"), lang))
    return lines


# --------------------------------------------------------------------------- fix


@click.command(name="fix")
@click.argument("host", required=False)
@click.option("-i", "--inventory", "inventory_path", required=True, type=click.Path(path_type=Path),
              help="清单文件 / inventory file")
@click.option("--limit", help="主机模式 / host pattern")
@click.option("-p", "--policy", "policy_paths", multiple=True, type=click.Path(), help="策略文件 / policy file")
@click.option("--apply", "do_apply", is_flag=True, help="真正执行（默认只预演）/ carry it out (default: dry run)")
@click.option("--force", is_flag=True, help="忽略交易时段与交易软件保护（会记入审计）/ override the guard (audited)")
@click.option("--strategy", type=click.Choice(["user", "machine-policy"]), default="user", show_default=True,
              help="用户设置写入操作员配置单元，或写入 HKLM 策略 / operator's hive, or HKLM policy keys")
@click.option("--canary", type=click.IntRange(1, 100000), help="先修复 N 台，失败则停止 / fix N hosts first, stop on failure")
@click.option("--wave", type=click.IntRange(1, 100000), help="每批 N 台，某批失败则停止 / N hosts at a time")
@click.option("--calendar", "calendar_path", type=click.Path(path_type=Path), help="交易日历 YAML / trading calendar YAML")
@click.option("--trading-process", "trading_processes", multiple=True,
              help="交易软件进程名，可重复（默认内置列表）/ trading-client process name, repeatable")
@click.option("--site-list", default=DEFAULT_SITE_LIST, show_default=True, help="IE 模式站点列表路径 / IE-mode site list path")
@click.option("--installer", "installers", multiple=True, help="CHECK_ID=安装程序路径 / CHECK_ID=installer path on the PC")
@click.option("--installer-args", help="安装程序静默参数 / silent installer arguments")
@click.option("--db", "db_url", envvar="FLEETCHECK_DB", default=None, help=_DB_HELP)
@click.option("--forks", type=click.IntRange(1, 1000), default=DEFAULT_FORKS, show_default=True)
@click.option("--timeout", "timeout_s", type=click.FloatRange(5, 3600), default=DEFAULT_TIMEOUT_S, show_default=True)
@now_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def fix(host: str | None, inventory_path: Path, limit: str | None, policy_paths: tuple[str, ...], do_apply: bool,
        force: bool, strategy: str, canary: int | None, wave: int | None, calendar_path: Path | None,
        trading_processes: tuple[str, ...], site_list: str, installers: tuple[str, ...], installer_args: str | None,
        db_url: str | None, forks: int, timeout_s: float, now_text: str | None, fmt: str) -> None:
    """修复主机（默认预演）/ fix hosts (dry run unless --apply)."""
    lang = lang_of()
    clock = clock_of(now_text)

    try:
        calendar = TradingCalendar.load(calendar_path) if calendar_path else TradingCalendar()
    except CalendarError as exc:
        fail(exc.text)
    inventory, names = _inventory(inventory_path, host, limit)
    policies = load_policies_for(policy_paths)
    given_installers = _installers(installers, installer_args)
    _check_installers(policies, given_installers)
    options = PlanOptions(strategy=strategy, site_list_path=site_list,  # type: ignore[arg-type]
                          installers=given_installers, calendar=calendar)
    hosts = [inventory.hosts[n] for n in names]
    outcome = policy_sweep(policies, hosts, forks=forks, timeout_s=timeout_s, clock=clock,
                           inventory=inventory.source).run()
    scans = {r.host: r for r in outcome.run.hosts}
    plans: dict[str, HostPlan] = {}
    for name in names:
        scan = scans.get(name)
        if scan is not None and scan.status is HostStatus.ok and scan.facts is not None:
            plans[name] = plan_host(scan.findings, scan.facts, policies, host=name,
                                    host_vars=inventory.hosts[name].host_vars, now=clock(), options=options)
    unreachable = [n for n in names if n not in plans]
    report: dict[str, Any] = {"hosts": {}, "apply": do_apply}
    guard = Guard(calendar, trading_processes or DEFAULT_TRADING_PROCESSES, clock=clock)
    if not do_apply:
        for name in names:
            plan = plans.get(name)
            # The guard is pure: the dry run says now which hosts --apply would refuse.
            decision = guard.check(scans[name].facts) if plan is not None and plan.actions else None
            if fmt == "table":
                for line in render_plan(scans[name], plan, lang, decision) if name in scans else [name]:
                    click.echo(safe_terminal(line))
            report["hosts"][name] = _plan_json(plan)
        total = sum(len(p.actions) for p in plans.values())
        if fmt == "table":
            busy = sum(1 for p in plans.values() if p.actions)
            manual = sum(1 for p in plans.values() if p.manual)
            click.echo(tr(T(f"预演：{busy} 台主机共 {total} 个动作（加 --apply 执行）；{manual} 台有需人工处理的项；"
                            f"{len(unreachable)} 台无法检查",
                            f"dry run: {total} {_plural(total, 'action')} in all on {busy} {_plural(busy, 'host')} "
                            f"(add --apply to carry them out); {manual} {_plural(manual, 'host')} with something to do "
                            f"by hand; {len(unreachable)} not probed"), lang))
        else:
            report["actions"] = total
            click.echo(json.dumps(report, ensure_ascii=False, indent=1))
        needs = total > 0 or any(p.manual for p in plans.values())
        sys.exit(EXIT_UNREACHABLE if unreachable else (EXIT_NONCOMPLIANT if needs else EXIT_OK))

    store = _open_store(db_url)
    run_id = uuid.uuid4().hex[:12]
    remediator = Remediator(policies, AuditLog(store), ChangeLog(store), guard, who=local_user(), run_id=run_id,
                            timeout_s=timeout_s, clock=clock)
    results: dict[str, HostFix] = {}
    order = [n for n in names if n in plans]
    batches = _batches(order, canary, wave)
    stopped = False
    try:
        for batch in batches:
            with ThreadPoolExecutor(max_workers=max(1, min(forks, len(batch)))) as pool:
                done = list(pool.map(lambda n: remediator.apply_host(inventory.hosts[n], scans[n], plans[n], force=force),
                                     batch))
            for result in done:
                results[result.host] = result
                if fmt == "table":
                    for line in render_fix(result, lang):
                        click.echo(safe_terminal(line))
            if any(r.status in ("failed", "error") for r in done) and (canary or wave) and batch is not batches[-1]:
                stopped = True
                click.echo(tr(T("本批有主机修复失败：停止，其余主机未修改", "a host in this batch failed: stopping, the other hosts are untouched"), lang))
                break
    except StoreError as exc:
        fail(exc.text)
    finally:
        store.close()
    for name in unreachable:
        if fmt == "table":
            for line in render_plan(scans[name], None, lang) if name in scans else [name]:
                click.echo(safe_terminal(line))
    if fmt == "json":
        report.update(run_id=run_id, stopped=stopped, hosts={n: {"status": r.status, "steps": [
            {"check": o.step.check_id, "status": o.status, "error": o.error.model_dump() if o.error else None}
            for o in r.steps]} for n, r in results.items()})
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        for line in render_fix_summary(list(results.values()), unreachable, lang):
            click.echo(safe_terminal(line))
        click.echo(tr(T(f"修复运行 {run_id}（回滚：fleetcheck rollback --run {run_id}）",
                        f"fix run {run_id} (undo: fleetcheck rollback --run {run_id})"), lang))
    bad = stopped or any(r.status in ("failed", "error", "refused") for r in results.values()) or any(
        p.manual for p in plans.values())
    sys.exit(EXIT_UNREACHABLE if unreachable or any(r.status == "error" for r in results.values())
             else (EXIT_NONCOMPLIANT if bad else EXIT_OK))


def _batches(order: list[str], canary: int | None, wave: int | None) -> list[list[str]]:
    """Canary hosts first, then waves (the rest at once without ``--wave``)."""
    batches: list[list[str]] = []
    rest = list(order)
    if canary:
        batches.append(rest[:canary])
        rest = rest[canary:]
    size = wave or len(rest) or 1
    batches += [rest[i:i + size] for i in range(0, len(rest), size)]
    return [b for b in batches if b]


def _plan_json(plan: HostPlan | None) -> Any:
    if plan is None:
        return None
    return {
        "operator": plan.operator.user if plan.operator else None,
        "needs_reboot": plan.needs_reboot,
        "steps": [{"check": s.check_id, "diff": [d.model_dump() for d in s.diff], "needs_reboot": s.needs_reboot,
                   "actions": [a.model_dump() for a in s.actions]} for s in plan.steps],
        "manual": [{"check": m.check_id, "reason": m.reason.model_dump(), "remedy": m.remedy.model_dump()}
                   for m in plan.manual],
    }


# --------------------------------------------------------------------------- rollback


@click.command(name="rollback")
@click.argument("action_id", required=False)
@click.option("--run", "run_id", help="回滚整个修复运行 / undo a whole fix run")
@click.option("-i", "--inventory", "inventory_path", required=True, type=click.Path(path_type=Path),
              help="清单文件 / inventory file")
@click.option("--db", "db_url", envvar="FLEETCHECK_DB", default=None, help=_DB_HELP)
@click.option("--timeout", "timeout_s", type=click.FloatRange(5, 3600), default=DEFAULT_TIMEOUT_S, show_default=True)
@now_option
def rollback(action_id: str | None, run_id: str | None, inventory_path: Path, db_url: str | None, timeout_s: float,
             now_text: str | None) -> None:
    """回滚修复并读回验证 / undo fixes exactly and verify by reading back."""
    lang = lang_of()
    clock = clock_of(now_text)
    if bool(action_id) == bool(run_id):
        fail(T("给出 ACTION_ID 或 --run RUN_ID（二选一）", "give ACTION_ID or --run RUN_ID (one of them)"))
    inventory, _ = _inventory(inventory_path, None, None)
    store = _open_store(db_url)
    try:
        changes, log = ChangeLog(store), AuditLog(store)
        if action_id:
            one = changes.get(action_id)
            if one is None:
                fail(T(f"找不到动作 {action_id}：用 fleetcheck audit show 查看", f"action {action_id} not found: see fleetcheck audit show"))
            run_records = changes.for_run(one.run_id)
            selected = [one]
        else:
            selected = run_records = changes.for_run(str(run_id))
            if not selected:
                # A `fleetcheck renew --apply` run keeps its own records (renewals table); undone
                # like fixes, without the trading guard (audited as forced).
                from fleetcheck.renew.rollback import rollback_renewal_run

                renewal = rollback_renewal_run(store, str(run_id), inventory, timeout_s, force=True,
                                               guard=Guard(clock=clock))
                if renewal is not None:
                    for line in renewal.lines():
                        say(line)
                    sys.exit(renewal.exit_code)
                fail(T(f"找不到修复运行 {run_id} 的变更记录", f"no changes recorded for fix run {run_id}"))
        by_host: dict[str, list[Any]] = {}
        for record in selected:
            by_host.setdefault(record.host, []).append(record)
        ids = {r.action_id for r in selected}
        code = EXIT_OK
        for name, records in by_host.items():
            spec = inventory.hosts.get(name)
            if spec is None:
                click.echo(tr(T(f"{name}：不在清单中，跳过", f"{name}: not in the inventory, skipped"), lang))
                code = EXIT_UNREACHABLE
                continue
            keep = [r for r in run_records if r.host == name and r.action_id not in ids and r.status == "applied"]
            result = rollback_host(spec, records, log, changes, who=local_user(), keep=keep, timeout_s=timeout_s)
            label = T("已回滚并验证", "rolled back and verified") if result.ok else T("回滚失败", "rollback failed")
            counts = T(f"恢复 {len(result.restored)} 项，跳过 {len(result.skipped)} 项",
                       f"{len(result.restored)} restored, {len(result.skipped)} skipped")
            click.echo(safe_terminal(f"{name}: {tr(label, lang)} ({tr(counts, lang)})"))
            if result.confirmed:
                reached = sum(1 for s in result.confirmed.values() if s == "applied")
                click.echo(tr(T(f"  中断的修复留下 {len(result.confirmed)} 项状态未知的修改：已读取主机确认，"
                                f"其中 {reached} 项已生效（已记入审计）",
                                f"  an interrupted fix left {len(result.confirmed)} changes undecided: read back from "
                                f"the PC, {reached} had taken effect (audited)"), lang))
            for aid, why in {**result.failed, **result.skipped}.items():
                click.echo(safe_terminal(f"  {aid}: {tr(why, lang)}"))
            if result.error is not None:
                code = EXIT_UNREACHABLE
            elif not result.ok and code == EXIT_OK:
                code = EXIT_NONCOMPLIANT
    except StoreError as exc:
        fail(exc.text)
    finally:
        store.close()
    sys.exit(code)


# --------------------------------------------------------------------------- audit


@click.group(name="audit")
def audit() -> None:
    """审计日志 / the audit log of every change."""


@audit.command(name="verify")
@click.option("--db", "db_url", envvar="FLEETCHECK_DB", default=None, help=_DB_HELP)
@click.option("--expect-head", help="期望的最新条目哈希（外部留存）/ expected newest hash, kept elsewhere")
def audit_verify(db_url: str | None, expect_head: str | None) -> None:
    """校验哈希链，指出被修改或删除的条目 / check the hash chain; name edited or removed entries."""
    lang = lang_of()
    store = _open_store(db_url)
    try:
        log = AuditLog(store)
        problems = log.verify(expect_head)
        count = len(log.entries())
    except StoreError as exc:  # a damaged file found while reading it
        fail(exc.text)
    finally:
        store.close()
    for problem in problems:
        click.echo(tr(problem.text, lang))
    if problems:
        click.echo(tr(T(f"审计日志校验失败：{len(problems)} 个问题", f"audit log verification FAILED: {len(problems)} problems"), lang))
        sys.exit(EXIT_NONCOMPLIANT)
    click.echo(tr(T(f"审计日志完整：{count} 条", f"audit log intact: {count} entries"), lang))


@audit.command(name="show")
@click.option("--db", "db_url", envvar="FLEETCHECK_DB", default=None, help=_DB_HELP)
@click.option("--host", help="只看这台主机 / one host only")
@click.option("--run", "run_id", help="只看这次修复运行 / one fix run only")
@click.option("--limit", type=click.IntRange(1, 1_000_000), help="最新 N 条 / newest N entries")
@click.option("--head", "head_only", is_flag=True, help="只显示最新条目的哈希 / only the newest hash")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def audit_show(db_url: str | None, host: str | None, run_id: str | None, limit: int | None, head_only: bool,
               fmt: str) -> None:
    """显示审计日志 / show the audit log."""
    store = _open_store(db_url)
    try:
        log = AuditLog(store)
        if head_only:
            seq, digest = log.head()
            click.echo(f"{seq}:{digest}")
            return
        entries = log.entries(host=host, run_id=run_id, limit=limit)
    except StoreError as exc:
        fail(exc.text)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps([{**e.hashed_fields(), "hash": e.hash} for e in entries], ensure_ascii=False, indent=1))
        return
    for e in entries:
        forced = " FORCED" if e.forced else ""
        check = (e.details or {}).get("check", "") if isinstance(e.details, dict) else ""
        click.echo(safe_terminal(f"#{e.seq} {e.at} {e.who} {e.host} {e.event}{forced} {e.action_id or '-'} {check} {e.result}"))
        if e.before is not None or e.after is not None:
            click.echo(safe_terminal(f"     {json.dumps(e.before, ensure_ascii=False)} → {json.dumps(e.after, ensure_ascii=False)}"))



__all__ = ["audit", "fix", "render_fix", "render_fix_summary", "render_plan", "rollback"]
