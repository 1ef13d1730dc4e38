"""``fleetcheck rollback ACTION_ID | --run RUN_ID``: undo fixes exactly and verify by reading back.

A whole fix run (``--run``) or one action; the change records written ahead of
every fix (see :mod:`fleetcheck.remediate.apply`) say what to restore. A
renewal run's id (``fleetcheck renew --apply``) is undone through its own
records (:mod:`fleetcheck.renew`).

Exit codes: 0 everything restored and verified; 1 something could not be
restored; 2 usage error (unknown id); 3 a host could not be reached.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from fleetcheck.commands.common import (
    EXIT_NONCOMPLIANT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    clock_of,
    fail,
    lang_of,
    load_targets,
    say,
)
from fleetcheck.commands.options import db_option, inventory_option, now_option, timeout_option
from fleetcheck.i18n import Lang, T, tr
from fleetcheck.inventory import Inventory
from fleetcheck.remediate.guard import Guard
from fleetcheck.remediate.rollback import RollbackResult, rollback_host
from fleetcheck.renew.rollback import rollback_renewal_run
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord, local_user
from fleetcheck.termsafe import safe_terminal

__all__ = ["rollback"]


@click.command(name="rollback")
@click.argument("action_id", required=False)
@click.option("--run", "run_id", help="回滚整个修复运行 / undo a whole fix run")
@inventory_option
@db_option
@timeout_option
@now_option
def rollback(action_id: str | None, run_id: str | None, inventory_path: Path, db_url: str | None, timeout_s: float,
             now_text: str | None) -> None:
    """回滚修复并读回验证 / undo fixes exactly and verify by reading back."""
    lang = lang_of()
    clock = clock_of(now_text)
    if bool(action_id) == bool(run_id):
        fail(T("给出 ACTION_ID 或 --run RUN_ID（二选一）", "give ACTION_ID or --run RUN_ID (one of them)"))
    inventory, _ = load_targets(inventory_path, None)
    with Store.open(db_url) as store:  # store errors: message and exit code from cli.main
        changes, log = ChangeLog(store), AuditLog(store)
        if action_id:
            selected, run_records = _one_action(changes, action_id)
        else:
            selected = run_records = changes.for_run(str(run_id))
            if not selected:
                # A `fleetcheck renew --apply` run keeps its own records (renewals table); undone
                # like fixes, without the trading guard (audited as forced).
                renewal = rollback_renewal_run(store, str(run_id), inventory, timeout_s, force=True,
                                               guard=Guard(clock=clock))
                if renewal is not None:
                    for text in renewal.lines():
                        say(text)
                    sys.exit(renewal.exit_code)
                fail(T(f"找不到修复运行 {run_id} 的变更记录", f"no changes recorded for fix run {run_id}"))
        code = _undo(_Undo(inventory, log, changes, timeout_s, lang), selected, run_records)
    sys.exit(code)


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
    timeout_s: float
    lang: Lang


def _undo(ctx: _Undo, selected: list[ChangeRecord], run_records: list[ChangeRecord]) -> int:
    """Roll back ``selected`` host by host, printing each; the exit code."""
    inventory, lang = ctx.inventory, ctx.lang
    by_host: dict[str, list[ChangeRecord]] = {}
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
        # Changes of the same run this rollback does not undo: the restore must not clobber them.
        keep = [r for r in run_records if r.host == name and r.action_id not in ids and r.status == "applied"]
        result = rollback_host(spec, records, ctx.log, ctx.changes, who=local_user(), keep=keep,
                               timeout_s=ctx.timeout_s)
        for line in render_rollback(name, result, lang):
            click.echo(safe_terminal(line))
        if result.error is not None:
            code = EXIT_UNREACHABLE
        elif not result.ok and code == EXIT_OK:
            code = EXIT_NONCOMPLIANT
    return code


def render_rollback(name: str, result: RollbackResult, lang: Lang) -> list[str]:
    """The lines of one host's rollback: verdict, counts, confirmed leftovers, each problem."""
    label = T("已回滚并验证", "rolled back and verified") if result.ok else T("回滚失败", "rollback failed")
    counts = T(f"恢复 {len(result.restored)} 项，跳过 {len(result.skipped)} 项",
               f"{len(result.restored)} restored, {len(result.skipped)} skipped")
    lines = [f"{name}: {tr(label, lang)} ({tr(counts, lang)})"]
    if result.confirmed:
        reached = sum(1 for s in result.confirmed.values() if s == "applied")
        lines.append(tr(T(f"  中断的修复留下 {len(result.confirmed)} 项状态未知的修改：已读取主机确认，"
                          f"其中 {reached} 项已生效（已记入审计）",
                          f"  an interrupted fix left {len(result.confirmed)} changes undecided: read back from "
                          f"the PC, {reached} had taken effect (audited)"), lang))
    lines += [f"  {aid}: {tr(why, lang)}" for aid, why in {**result.failed, **result.skipped}.items()]
    return lines
