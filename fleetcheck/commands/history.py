"""``fleetcheck history``: the recorded runs with their compliance; ``--keep-runs``/``--keep-days`` prune.

The latest run of each office is never pruned. Reads the history store (``--db``).
"""

from __future__ import annotations

import click
from rich.table import Table

from fleetcheck.commands.common import lang_of, say
from fleetcheck.commands.options import db_option, format_option, last_option
from fleetcheck.commands.tables import add_row, bold, console
from fleetcheck.i18n import T
from fleetcheck.jsonout import echo_json, iso_utc, text_json
from fleetcheck.officetime import office_minute
from fleetcheck.report.render import labels
from fleetcheck.report.scope import scope_label
from fleetcheck.store import Store, safe_url
from fleetcheck.store.runs import RunSummary

__all__ = ["history_cmd", "history_json"]


def history_json(runs: list[RunSummary], where: str) -> dict[str, object]:
    """The ``--format json`` document (``reports_templates/history.schema.json``)."""
    return {"database": where, "runs": [{
        "run_id": r.run_id, "started": iso_utc(r.started), "finished": iso_utc(r.finished),
        "inventory": r.inventory, "policies": list(r.policies),
        "hosts_total": r.hosts_total, "hosts_probed": r.hosts_probed, "hosts_compliant": r.hosts_compliant,
        "hosts_not_probed": r.hosts_failed, "findings_fail": r.findings_fail, "findings_error": r.findings_error,
        "compliance_pct": r.compliance_pct,
        "scope": r.scope, "hosts_planned": r.hosts_planned, "interrupted": r.interrupted, "partial": r.partial,
        "scope_label": text_json(scope_label(r)),
    } for r in runs]}



@click.command("history")
@db_option
@last_option(20, "只显示最新 N 次扫描 / show the newest N runs")
@click.option("--keep-runs", type=click.IntRange(min=0), default=None,
              help="只保留最近 N 次扫描（各办公室最新一次、以及任何电脑当前状态所在的扫描永不删除） / "
                   "keep only the newest N runs (never the latest run of each office, nor one holding a PC's "
                   "current state)")
@format_option(("table", "json"), "table")
@click.option("--keep-days", type=click.IntRange(min=0), default=None,
              help="删除 D 天前的扫描（各办公室最新一次永不删除） / "
                   "delete runs older than D days (the latest run of each office is never deleted)")
def history_cmd(db_url: str | None, last: int, keep_runs: int | None, fmt: str, keep_days: int | None) -> None:
    """扫描历史与合规率 / Recorded runs with their compliance."""
    lang = lang_of()
    lab = labels(lang)
    with Store.open(db_url) as store:
        if keep_runs is not None or keep_days is not None:
            removed = store.prune(keep_runs=keep_runs, keep_days=keep_days)
            say(T(f"已删除 {len(removed)} 次旧扫描。", f"removed {len(removed)} old run(s)."), err=fmt == "json")
        runs = store.list_runs(limit=last)
        where = safe_url(store.url)
    if fmt == "json":  # an empty list is a valid answer: no message on stdout
        echo_json(history_json(runs, where))
        return
    if not runs:
        say(T(f"{where} 中还没有扫描记录。", f"no runs recorded in {where}."))
        return
    table = Table(title=bold(f"{lab['run']} — {where}"))
    for key in ("run_id", "started", "hosts", "probed", "compliant", "not_probed", "compliance"):
        table.add_column(lab[key], justify="right" if key not in ("run_id", "started") else "left")
    table.add_column(T("范围", "scope").get(lang))
    for r in runs:
        pct = "—" if r.compliance_pct is None else f"{r.compliance_pct:.1f}%"
        add_row(table, r.run_id, office_minute(r.started), str(r.hosts_total),
                      str(r.hosts_probed), str(r.hosts_compliant), str(r.hosts_failed), pct,
                      scope_label(r).get(lang))
    console().print(table)
