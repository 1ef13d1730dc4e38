"""``fleetcheck diff RUN_A RUN_B``: what changed between two recorded runs (new failures, fixes, hosts)."""

from __future__ import annotations

import click
from rich.table import Table

from fleetcheck.commands.common import lang_of, say
from fleetcheck.commands.options import db_option, format_option
from fleetcheck.commands.tables import add_row, bold, console, status_text
from fleetcheck.i18n import T
from fleetcheck.jsonout import echo_json, text_json
from fleetcheck.report.diff import FindingChange, RunDiff, diff_runs
from fleetcheck.report.render import labels
from fleetcheck.store import Store

__all__ = ["diff_cmd", "diff_json"]


def _change_json(c: FindingChange) -> dict[str, object]:
    return {"host": c.host, "policy_id": c.policy_id, "check_id": c.check_id, "title": text_json(c.title),
            "before": c.before, "after": c.after}


def diff_json(delta: RunDiff) -> dict[str, object]:
    """The ``--format json`` document (``reports_templates/diff.schema.json``); statuses are codes."""
    return {
        "run_a": delta.run_a, "run_b": delta.run_b, "empty": delta.empty,
        "new_failures": [_change_json(c) for c in delta.new_failures],
        "fixed": [_change_json(c) for c in delta.fixed],
        "hosts_appeared": list(delta.hosts_appeared),
        "hosts_disappeared": list(delta.hosts_disappeared),
        "host_status_changed": [{"host": s.host, "before": s.before, "after": s.after}
                                for s in delta.host_status_changed],
    }


@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@db_option
@format_option(("table", "json"), "table")
def diff_cmd(run_a: str, run_b: str, db_url: str | None, fmt: str) -> None:
    """比较两次扫描 / What changed between two runs (RUN_B newer)."""
    lang = lang_of()
    with Store.open(db_url) as store:
        a, b = store.load_run(run_a), store.load_run(run_b)
    delta = diff_runs(a, b)
    if fmt == "json":
        echo_json(diff_json(delta))
        return
    if delta.empty:
        say(T(f"{a.run_id} → {b.run_id}：没有变化。", f"{a.run_id} → {b.run_id}: no changes."))
        return
    lab = labels(lang)
    table = Table(title=bold(f"{a.run_id} → {b.run_id}"))
    for head in (T("变化", "Change"), T("主机", "Host"), T("检查项", "Check"),
                 T("之前", "Before"), T("之后", "After")):
        table.add_column(head.get(lang))
    for c in delta.new_failures:
        add_row(table, T("新增问题", "new failure").get(lang), c.host, f"{c.title.get(lang)} ({c.check_id})",
                      status_text(c.before, lang), status_text(c.after, lang))
    for c in delta.fixed:
        add_row(table, T("已修复", "fixed").get(lang), c.host, f"{c.title.get(lang)} ({c.check_id})",
                      status_text(c.before, lang), status_text(c.after, lang))
    for h in delta.hosts_appeared:
        add_row(table, T("新增主机", "host appeared").get(lang), h, "", "—", "")
    for h in delta.hosts_disappeared:
        add_row(table, T("主机消失", "host disappeared").get(lang), h, "", "", "—")
    for s in delta.host_status_changed:
        add_row(table, T("主机状态变化", "host status changed").get(lang), s.host, lab["host_status"],
                      status_text(s.before, lang), status_text(s.after, lang))
    console().print(table)
    say(T(f"新增问题 {len(delta.new_failures)}，已修复 {len(delta.fixed)}，新增主机 {len(delta.hosts_appeared)}，"
          f"消失主机 {len(delta.hosts_disappeared)}",
          f"new failures {len(delta.new_failures)}, fixed {len(delta.fixed)}, hosts appeared "
          f"{len(delta.hosts_appeared)}, disappeared {len(delta.hosts_disappeared)}"))
