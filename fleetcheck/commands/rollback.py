"""``fleetcheck rollback ACTION_ID | --run RUN_ID [--apply] [--force]``: undo fixes exactly and verify.

A whole fix run (``--run``) or one action; the change records written ahead of
every fix (see :mod:`fleetcheck.remediate.apply`) say what to restore. A
renewal run's id (``fleetcheck renew --apply``) is undone through its own
records (:mod:`fleetcheck.renew`).

Like ``fix``, a dry run unless ``--apply``: the dry run lists, per host, what
would be restored (read from the records; the PCs are not contacted) and
changes nothing. ``--apply`` is a change like a fix: the change guard reads
each PC's processes and refuses during a trading session or while a trading
client runs (audited ``refused``); ``--force`` overrides it, and every audit
entry of that rollback says ``forced``. The same rule holds for a renewal run.

Exit codes: 0 everything restored and verified (a dry run: 0); 1 something could not be restored, or the guard refused; 2 usage
error (unknown id, nothing to roll back); 3 a host could not be reached.

``--format json``: the dry run's plan or what was undone, per host (a renewal
run: per certificate), as one document (schema ``reports_templates/rollback.schema.json``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from fleetcheck.agent.contract import (
    Action,
    CancelReboot,
    DeleteKey,
    DeleteValue,
    RestoreKey,
    SetValue,
    WriteFile,
)
from fleetcheck.commands.common import (
    EXIT_NONCOMPLIANT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    clock_of,
    fail,
    lang_of,
    load_targets,
    say,
    warn_calendar,
)
from fleetcheck.commands.options import (
    db_option,
    format_option,
    inventory_option,
    now_option,
    timeout_option,
)
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.inventory import Inventory
from fleetcheck.jsonout import echo_json, text_json
from fleetcheck.remediate.guard import DEFAULT_TRADING_PROCESSES, Guard, TradingCalendar
from fleetcheck.remediate.rollback import (
    RollbackOptions,
    RollbackPreview,
    RollbackResult,
    preview_host,
    rollback_host,
)
from fleetcheck.renew.records import RenewalLog
from fleetcheck.renew.rollback import RenewalRollback, rollback_renewal_run
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord, local_user
from fleetcheck.store.renewals import RenewalRecord
from fleetcheck.termsafe import safe_terminal

__all__ = ["describe_undo", "render_preview", "render_rollback", "rollback"]

DRY_RUN_FOOTER = T("预演：未做任何修改。加 --apply 执行回滚（交易时段或交易软件运行时会被拒绝，--force 强制并记入审计）",
                   "dry run: nothing was changed. Add --apply to roll back (refused during a trading session or "
                   "while a trading client runs; --force overrides, audited)")


@dataclass(frozen=True)
class RollbackRequest:
    """The command line of ``fleetcheck rollback``."""

    action_id: str | None
    run_id: str | None
    do_apply: bool
    force: bool
    calendar_path: Path | None
    trading_processes: tuple[str, ...]
    inventory_path: Path
    db_url: str | None
    timeout_s: float
    now_text: str | None
    fmt: str = "table"


NOTHING_TO_ROLL_BACK = T("没有可回滚的修改", "nothing to roll back")


@click.command(name="rollback")
@click.argument("action_id", required=False)
@click.option("--run", "run_id", help="回滚整个修复运行 / undo a whole fix run")
@click.option("--apply", "do_apply", is_flag=True, help="真正执行（默认只预演）/ carry it out (default: dry run)")
@click.option("--force", is_flag=True, help="忽略交易时段与交易软件保护（会记入审计）/ override the guard (audited)")
@click.option("--calendar", "calendar_path", type=click.Path(path_type=Path), help="交易日历 YAML / trading calendar YAML")
@click.option("--trading-process", "trading_processes", multiple=True,
              help="交易软件进程名，可重复（默认内置列表）/ trading-client process name, repeatable")
@inventory_option
@db_option
@timeout_option
@now_option
@format_option(["table", "json"], "table")
def rollback(**given: Any) -> None:
    """回滚修复并读回验证（默认预演）/ undo fixes exactly and verify (dry run unless --apply)."""
    req = RollbackRequest(**given)
    if bool(req.action_id) == bool(req.run_id):
        fail(T("给出 ACTION_ID 或 --run RUN_ID（二选一）", "give ACTION_ID or --run RUN_ID (one of them)"))
    calendar = TradingCalendar.load(req.calendar_path) if req.calendar_path else TradingCalendar()
    guard = Guard(calendar, req.trading_processes or DEFAULT_TRADING_PROCESSES, clock=clock_of(req.now_text))
    if req.do_apply:
        warn_calendar(guard)
    inventory, _ = load_targets(req.inventory_path, None)
    with Store.open(req.db_url) as store:  # store errors: message and exit code from cli.main
        changes = ChangeLog(store)
        if req.action_id:
            selected, run_records = _one_action(changes, req.action_id)
        else:
            selected = run_records = changes.for_run(str(req.run_id))
            if not selected:
                sys.exit(_renewal_run(store, req, inventory, guard))
        ctx = _Undo(inventory, AuditLog(store), changes, req, guard, lang_of(),
                    [] if req.fmt == "json" else None)
        code = _undo(ctx, selected, run_records) if req.do_apply else _preview(ctx, selected, run_records)
    if ctx.json_hosts is not None:
        anything = any(h["restore"] or h["restored"] or h["failed"] for h in ctx.json_hosts)
        echo_json(_document(req, "fix", selected[0].run_id, code, hosts=ctx.json_hosts,
                            note=None if anything else NOTHING_TO_ROLL_BACK))
    sys.exit(code)


def _document(req: RollbackRequest, kind: str, run_id: str, code: int, *, hosts: list[dict[str, Any]] | None = None,
              certificates: list[dict[str, Any]] | None = None, note: Text | None = None) -> dict[str, Any]:
    """The ``rollback --format json`` document (``reports_templates/rollback.schema.json``)."""
    return {"apply": req.do_apply, "kind": kind, "run_id": run_id, "action_id": req.action_id, "exit_code": code,
            "hosts": hosts or [], "certificates": certificates or [],
            "note": text_json(note) if note is not None else None}


def _host_json(name: str, status: str, **parts: Any) -> dict[str, Any]:
    """One host of the JSON document: every key present, empty when it does not apply."""
    base: dict[str, Any] = {"host": name, "status": status, "restore": [], "skipped": [], "undecided": [],
                            "restored": [], "failed": [], "confirmed": {}, "error": None, "forced": False,
                            "refused_because": None}
    return {**base, **parts}


def _preview_json(preview: RollbackPreview) -> dict[str, Any]:
    return _host_json(
        preview.host, "would_restore" if preview.restore else "nothing_to_restore",
        restore=[{"action_id": r.action_id, "undo": text_json(describe_undo(undo))} for r, undo in preview.restore],
        skipped=[{"action_id": r.action_id, "why": text_json(why)} for r, why in preview.skipped],
        undecided=[r.action_id for r in preview.undecided])


def _result_json(name: str, result: RollbackResult) -> dict[str, Any]:
    decision = result.decision
    status = ("refused" if result.refused else "unreachable" if result.error is not None
              else "rolled_back" if result.ok else "failed")
    return _host_json(
        name, status, restored=list(result.restored),
        failed=[{"action_id": a, "why": text_json(why)} for a, why in result.failed.items()],
        skipped=[{"action_id": a, "why": text_json(why)} for a, why in result.skipped.items()],
        confirmed=dict(result.confirmed), error=text_json(result.error) if result.error is not None else None,
        forced=bool(decision is not None and decision.forced),
        refused_because=text_json(decision.summary()) if result.refused and decision is not None else None)


def _renewal_run(store: Store, req: RollbackRequest, inventory: Inventory, guard: Guard) -> int:
    """A ``fleetcheck renew --apply`` run: its own records (renewals table), same dry-run/--apply rule."""
    run_id = str(req.run_id)
    records = RenewalLog(store).for_run(run_id)
    if not records:
        fail(T(f"找不到修复运行 {run_id} 的变更记录", f"no changes recorded for fix run {run_id}"))
    if not req.do_apply:
        if req.fmt == "json":
            todo = _renewals_to_undo(records)
            note = None if todo else renewal_preview_lines(run_id, records)[0]
            echo_json(_document(req, "renewal", run_id, EXIT_OK, note=note,
                                certificates=[_certificate_json(r, None, None) for r in todo]))
            return EXIT_OK
        for line in renewal_preview_lines(run_id, records):
            say(line)
        return EXIT_OK
    renewal = rollback_renewal_run(store, run_id, inventory, req.timeout_s, force=req.force, guard=guard)
    assert renewal is not None  # the run has records
    if req.fmt == "json":
        echo_json(_document(req, "renewal", run_id, renewal.exit_code,
                            certificates=[_certificate_json(r.record, r.ok, r.message) for r in renewal.results],
                            note=None if renewal.results else renewal.lines()[0]))
        return renewal.exit_code
    for text in renewal.lines():
        say(text)
    return renewal.exit_code


def _renewals_to_undo(records: Sequence[RenewalRecord]) -> list[RenewalRecord]:
    """The records rollback_renewals undoes: an import that happened (or may have), by a known operator."""
    return [r for r in records if r.new_thumbprint and r.state in ("installed", "failed") and r.operator_sid]


def _certificate_json(record: RenewalRecord, ok: bool | None, message: Text | None) -> dict[str, Any]:
    """One certificate of a renewal run's rollback (``ok``/``message`` None: the dry run)."""
    return {"host": record.host, "cn": record.cn, "new_thumbprint": record.new_thumbprint,
            "removed_old": record.removed_old, "ok": ok, "message": text_json(message) if message is not None else None}


def renewal_preview_lines(run_id: str, records: Sequence[RenewalRecord]) -> list[Text]:
    """The dry run of undoing a renewal run: each certificate import that would be undone, per host."""
    todo = _renewals_to_undo(records)
    if not todo:  # said as --apply would say it: already rolled back (when), or nothing imported
        undone = sorted(r.rolled_back_at for r in records if r.rolled_back_at)
        return RenewalRollback(run_id, (), undone[-1] if undone else None).lines()
    lines: list[Text] = []
    for r in todo:
        restored = (T(f"，恢复旧证书 {r.removed_old}", f", restore the old certificate {r.removed_old}")
                    if r.removed_old else T("", ""))
        lines.append(T(f"{r.host}: 将移除新证书 {r.cn} ({r.new_thumbprint}){restored.zh}",
                       f"{r.host}: would remove the new certificate {r.cn} ({r.new_thumbprint}){restored.en}"))
    return [*lines, DRY_RUN_FOOTER]


def _one_action(changes: ChangeLog, action_id: str) -> tuple[list[ChangeRecord], list[ChangeRecord]]:
    """The record of ``action_id`` and every record of its run."""
    one = changes.get(action_id)
    if one is None:
        fail(T(f"找不到动作 {action_id}：用 fleetcheck audit show 查看",
               f"action {action_id} not found: see fleetcheck audit show"))
    return [one], changes.for_run(one.run_id)


@dataclass(frozen=True)
class _Undo:
    """Where and how a rollback runs."""

    inventory: Inventory
    log: AuditLog
    changes: ChangeLog
    req: RollbackRequest
    guard: Guard
    lang: Lang
    json_hosts: list[dict[str, Any]] | None = None  # --format json: the hosts' documents, printed at the end


def _by_host(selected: list[ChangeRecord]) -> dict[str, list[ChangeRecord]]:
    by_host: dict[str, list[ChangeRecord]] = {}
    for record in selected:
        by_host.setdefault(record.host, []).append(record)
    return by_host


def _kept(name: str, run_records: list[ChangeRecord], ids: set[str]) -> list[ChangeRecord]:
    """Changes of the same run this rollback does not undo: the restore must not clobber them."""
    return [r for r in run_records if r.host == name and r.action_id not in ids and r.status == "applied"]


def _preview(ctx: _Undo, selected: list[ChangeRecord], run_records: list[ChangeRecord]) -> int:
    """The dry run: what each host would get back; nothing is sent, nothing recorded."""
    ids = {r.action_id for r in selected}
    anything = False  # whether any host has something to restore
    for name, records in _by_host(selected).items():
        if name not in ctx.inventory.hosts:
            if ctx.json_hosts is not None:
                ctx.json_hosts.append(_host_json(name, "not_in_inventory"))
                continue
            click.echo(tr(T(f"{name}：不在清单中，无法回滚", f"{name}: not in the inventory, cannot be rolled back"),
                          ctx.lang))
            continue
        preview = preview_host(name, records, _kept(name, run_records, ids))
        anything = anything or bool(preview.restore)
        if ctx.json_hosts is not None:
            ctx.json_hosts.append(_preview_json(preview))
            continue
        for line in render_preview(preview, ctx.lang):
            click.echo(safe_terminal(line))
    if ctx.json_hosts is not None:
        return EXIT_OK
    click.echo(tr(DRY_RUN_FOOTER, ctx.lang))
    if not anything:
        click.echo(tr(NOTHING_TO_ROLL_BACK, ctx.lang))
    return EXIT_OK


def _undo(ctx: _Undo, selected: list[ChangeRecord], run_records: list[ChangeRecord]) -> int:
    """Roll back ``selected`` host by host (guarded), printing each; the exit code."""
    ids = {r.action_id for r in selected}
    code = EXIT_OK
    for name, records in _by_host(selected).items():
        spec = ctx.inventory.hosts.get(name)
        if spec is None:
            if ctx.json_hosts is not None:
                ctx.json_hosts.append(_host_json(name, "not_in_inventory"))
            else:
                click.echo(tr(T(f"{name}：不在清单中，跳过", f"{name}: not in the inventory, skipped"), ctx.lang))
            code = EXIT_UNREACHABLE
            continue
        options = RollbackOptions(keep=_kept(name, run_records, ids), timeout_s=ctx.req.timeout_s, guard=ctx.guard,
                                  force=ctx.req.force)
        result = rollback_host(spec, records, ctx.log, ctx.changes, who=local_user(), options=options)
        if ctx.json_hosts is not None:
            ctx.json_hosts.append(_result_json(name, result))
        else:
            for line in render_rollback(name, result, ctx.lang):
                click.echo(safe_terminal(line))
        if result.error is not None:
            code = EXIT_UNREACHABLE
        elif not result.ok and code == EXIT_OK:
            code = EXIT_NONCOMPLIANT
    return code


def _where(hive: str | None, sid: str | None, path: str) -> str:
    return "\\".join(p for p in (hive, sid if hive == "HKU" else None, path) if p)


def describe_undo(action: Action) -> Text:
    """What one undoing action restores, in words."""
    if isinstance(action, SetValue):
        where = f"{_where(action.hive, action.sid, action.path)}\\{action.name}"
        value = f"{action.value.v!r} ({action.value.t})"
        return T(f"恢复 {where} = {value}", f"restore {where} = {value}")
    if isinstance(action, DeleteValue):
        where = f"{_where(action.hive, action.sid, action.path)}\\{action.name}"
        return T(f"删除修复新建的值 {where}", f"delete {where} (the fix created it)")
    if isinstance(action, DeleteKey):
        where = _where(action.hive, action.sid, action.path)
        return T(f"删除修复新建的键 {where}", f"delete the key {where} (the fix created it)")
    if isinstance(action, RestoreKey):
        where = _where(action.hive, action.sid, action.path)
        return T(f"恢复被删除的键 {where}（整棵）", f"restore the deleted key {where} (whole tree)")
    if isinstance(action, WriteFile):
        if action.delete:
            return T(f"删除修复新建的文件 {action.path}", f"delete the file {action.path} (the fix created it)")
        return T(f"恢复文件 {action.path} 的原内容", f"restore the previous content of {action.path}")
    if isinstance(action, CancelReboot):
        return T(f"取消计划的重启（任务 {action.task}）", f"cancel the scheduled reboot (task {action.task})")
    return T(f"撤销 {action.kind}", f"undo {action.kind}")


def render_preview(preview: RollbackPreview, lang: Lang) -> list[str]:
    """The dry-run lines of one host: each restore, each record left alone and why."""
    head = T(f"将恢复 {len(preview.restore)} 项，跳过 {len(preview.skipped)} 项",
             f"would restore {len(preview.restore)}, skip {len(preview.skipped)}")
    lines = [f"{preview.host}: {tr(head, lang)}"]
    lines += [f"  {record.action_id}: {tr(describe_undo(undo), lang)}" for record, undo in preview.restore]
    lines += [f"  {record.action_id}: {tr(T('跳过：', 'skipped: '), lang)}{tr(why, lang)}"
              for record, why in preview.skipped]
    if preview.undecided:
        lines.append(tr(T(f"  中断的修复留下 {len(preview.undecided)} 项状态未知的修改：--apply 时先读取主机确认",
                          f"  an interrupted fix left {len(preview.undecided)} changes undecided: --apply reads "
                          f"the PC first"), lang))
    return lines


def render_rollback(name: str, result: RollbackResult, lang: Lang) -> list[str]:
    """The lines of one host's rollback: verdict, counts, confirmed leftovers, each problem."""
    decision = result.decision
    if result.refused and decision is not None:
        return [f"{name}: {tr(T('拒绝回滚：', 'rollback refused: '), lang)}{tr(decision.summary(), lang)}",
                tr(T("  未做任何修改；--force 可强制（记入审计）", "  nothing was changed; --force overrides (audited)"),
                   lang)]
    if result.error is not None and not result.restored and not result.failed:
        return [f"{name}: {tr(T('回滚失败', 'rollback failed'), lang)}: {tr(result.error, lang)}"]
    label = T("已回滚并验证", "rolled back and verified") if result.ok else T("回滚失败", "rollback failed")
    counts = T(f"恢复 {len(result.restored)} 项，跳过 {len(result.skipped)} 项",
               f"{len(result.restored)} restored, {len(result.skipped)} skipped")
    lines = [f"{name}: {tr(label, lang)} ({tr(counts, lang)})"]
    if decision is not None and decision.forced:
        lines.append(tr(T(f"  已强制（--force），忽略：{decision.summary().zh}",
                          f"  forced (--force), overriding: {decision.summary().en}"), lang))
    if result.confirmed:
        reached = sum(1 for s in result.confirmed.values() if s == "applied")
        lines.append(tr(T(f"  中断的修复留下 {len(result.confirmed)} 项状态未知的修改：已读取主机确认，"
                          f"其中 {reached} 项已生效（已记入审计）",
                          f"  an interrupted fix left {len(result.confirmed)} changes undecided: read back from "
                          f"the PC, {reached} had taken effect (audited)"), lang))
    lines += [f"  {aid}: {tr(why, lang)}" for aid, why in {**result.failed, **result.skipped}.items()]
    return lines
