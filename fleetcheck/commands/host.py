"""``fleetcheck host NAME``: one PC's timeline — observations, check state changes, fixes, rollbacks, renewals.

Newest first, ``--last N`` entries (default 20), times in office time with the
zone named; ``--format json`` prints one document
(``reports_templates/host.schema.json``: fixed English keys, ``{zh, en}`` text,
ISO 8601 UTC times). Reads the history store (``--db``). A host the store has
never heard of is an error (exit 2) that says where else to look.
"""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text as RichText

from fleetcheck.commands.common import lang_of
from fleetcheck.commands.options import db_option, format_option, last_option
from fleetcheck.commands.tables import bold, console
from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import Lang, T
from fleetcheck.jsonout import echo_json, iso_utc, text_json
from fleetcheck.officetime import office_minute, office_zone
from fleetcheck.report.timeline import HostTimeline, TimelineEntry, build_timeline
from fleetcheck.store import Store, safe_url
from fleetcheck.termsafe import safe_terminal

__all__ = ["UnknownHost", "host_cmd", "timeline_json"]


class UnknownHost(FleetcheckError):
    """The store holds nothing about this host (no run saw it, nothing changed it)."""


def _unknown(name: str, where: str, store_empty: bool, similar: tuple[str, ...] = ()) -> UnknownHost:
    if store_empty:
        return UnknownHost(T(
            f"历史数据库 {where} 中还没有任何记录（扫描、修复、证书更新），因此也没有主机 {name} 的记录。"
            "请先运行 fleetcheck scan，或用 --db 指定记录所在的数据库。",
            f"nothing is recorded in {where} yet (no scan, fix or renewal), so nothing about host {name}. "
            "Run fleetcheck scan first, or point --db at the database that holds the records.",
        ))
    if similar:
        names = ", ".join(similar)
        return UnknownHost(T(
            f"历史数据库 {where} 中没有主机 {name}（主机名区分大小写）。是否指的是：{names}？",
            f"host {name} is not in {where} (host names are case-sensitive). Did you mean: {names}?",
        ))
    return UnknownHost(T(
        f"历史数据库 {where} 中没有主机 {name} 的任何记录（没有扫描见过它，也没有修复或证书更新）。"
        "主机名区分大小写：用 fleetcheck inventory list 查看清单中的主机名，或用 fleetcheck certs 查看已记录的主机。",
        f"host {name} is not in {where}: no recorded run saw it, and nothing fixed or renewed it. "
        "Host names are case-sensitive: see the inventory's names with fleetcheck inventory list, "
        "or the recorded hosts with fleetcheck certs.",
    ))


def _entry_json(e: TimelineEntry) -> dict[str, object]:
    scope = e.scope_label
    return {
        "kind": e.kind, "kind_label": text_json(e.kind_label), "at": iso_utc(e.at), "run_id": e.run_id,
        "summary": text_json(e.summary), "details": [text_json(d) for d in e.details],
        "scope": e.scope, "scope_label": text_json(scope) if scope is not None else None,
        "interrupted": e.interrupted, "host_status": e.host_status, "compliant": e.compliant,
        "previous_run_id": e.previous_run_id, "previous_status": e.previous_status,
        "check_changes": [{"policy_id": c.policy_id, "check_id": c.check_id, "title": text_json(c.title),
                           "before": c.before, "after": c.after} for c in e.check_changes],
        "who": e.who, "forced": e.forced,
    }


def timeline_json(timeline: HostTimeline, where: str) -> dict[str, object]:
    """The ``--format json`` document (``reports_templates/host.schema.json``)."""
    return {"host": timeline.host, "database": where, "entries": [_entry_json(e) for e in timeline.entries]}


def _cell(lines: list[str]) -> RichText:
    """A multi-line cell: each line made terminal-safe on its own (host data cannot forge lines)."""
    return RichText("\n".join(safe_terminal(line) for line in lines))


def _kind_cell(e: TimelineEntry, lang: Lang) -> list[str]:
    lines = [e.kind_label.get(lang)]
    scope = e.scope_label
    if scope is not None:
        lines.append(scope.get(lang))
    if e.forced:
        lines.append("强制" if lang == "zh" else "forced")
    return lines


def _summary_cell(e: TimelineEntry, lang: Lang) -> list[str]:
    lines = [e.summary.get(lang)]
    lines.extend(f"  · {d.get(lang)}" for d in e.details)
    if e.who:
        lines.append(("  操作人：" if lang == "zh" else "  by ") + e.who)
    return lines


def print_timeline(timeline: HostTimeline, where: str, lang: Lang) -> None:
    heading = T(f"主机 {timeline.host} 的时间线 — {where}", f"timeline of host {timeline.host} — {where}")
    table = Table(title=bold(safe_terminal(heading.get(lang))))
    when = T(f"时间（{office_zone().key}）", f"When ({office_zone().key})")
    for header in (when, T("类型", "Kind"), T("运行编号", "Run"), T("内容", "What")):
        table.add_column(header.get(lang))
    for e in timeline.entries:
        table.add_row(_cell([office_minute(e.at)]), _cell(_kind_cell(e, lang)), _cell([e.run_id or "-"]),
                      _cell(_summary_cell(e, lang)))
    console().print(table)


@click.command("host")
@click.argument("name")
@db_option
@last_option(20, "只显示最新 N 条 / show the newest N entries")
@format_option(("table", "json"), "table")
def host_cmd(name: str, db_url: str | None, last: int, fmt: str) -> None:
    """一台主机的时间线：扫描、状态变化、修复、回滚、证书更新 / One host's timeline: scans, state changes, fixes, rollbacks, renewals."""
    with Store.open(db_url) as store:
        rows = store.host_timeline(name, last)
        where = safe_url(store.url)
    if not rows.known:
        raise _unknown(name, where, rows.store_empty, rows.similar)
    timeline = build_timeline(rows, last)
    if fmt == "json":
        echo_json(timeline_json(timeline, where))
        return
    print_timeline(timeline, where, lang_of())

