"""``fleetcheck report | history | diff | certs``: reports and run history from the store.

Every command takes ``--db URL`` (or ``FLEETCHECK_DB``; default: the SQLite file
under ``$XDG_DATA_HOME/fleetcheck/``). The scan calls
:func:`fleetcheck.report.publish.record_and_report` (re-exported here) after a sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text as RichText

from fleetcheck.commands.common import fail, lang_of, say
from fleetcheck.i18n import Lang, T
from fleetcheck.readiness import host_readiness
from fleetcheck.report.diff import diff_runs
from fleetcheck.report.model import FINDING_STATUS_LABELS, HOST_STATUS_LABELS, build_report
from fleetcheck.report.publish import (
    ReportPaths,
    ResultsFileError,
    load_results,
    model_for,
    record_and_report,
)
from fleetcheck.report.render import FORMATS, ReportFormat, labels, write_report
from fleetcheck.store import Store, StoreError, safe_url
from fleetcheck.termsafe import safe_terminal

__all__ = ["ReportPaths", "load_results", "record_and_report", "register"]

_DB_HELP = "历史数据库 URL 或 SQLite 文件路径 / history database URL or SQLite path (env FLEETCHECK_DB)"
_EXT = {"html": "html", "json": "json", "csv": "csv", "junit": "xml"}


def _console() -> Console:
    # Wide when not a terminal so tables in logs and pipes are not wrapped.
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _row(table: Table, *cells: str) -> None:
    """Add a row of plain text: host data must never be read as rich markup (``[bold]``…)."""
    table.add_row(*(RichText(safe_terminal(c)) for c in cells))  # and no terminal escapes


def _title(text: str) -> RichText:
    return RichText(text, style="bold")


def _db_option(f: Callable[..., None]) -> Callable[..., None]:
    return click.option("--db", "db_url", envvar="FLEETCHECK_DB", default=None, help=_DB_HELP)(f)


def _status_text(status: str | None, lang: Lang) -> str:
    if status is None:
        return "—"
    for table in (FINDING_STATUS_LABELS, HOST_STATUS_LABELS):
        for key, text in table.items():
            if key.value == status:
                return text.get(lang)
    return status


@click.command("report")
@click.option("--run", "run_id", default=None, help="扫描编号或 latest / run id or latest (default: latest)")
@click.option("--results", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="scan 写出的 results.json / a results.json written by scan")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="输出文件 / output file (default: report.<ext>)")
@click.option("--lang", "report_lang", type=click.Choice(["zh", "en"]), default=None,
              help="报告语言 / report language (default: the global --lang)")
@_db_option
def report_cmd(run_id: str | None, results: Path | None, fmt: ReportFormat, out: Path | None,
               report_lang: str | None, db_url: str | None) -> None:
    """生成合规报告（HTML/JSON/CSV/JUnit）/ Write a compliance report."""
    if run_id is not None and results is not None:
        fail(T("--run 和 --results 只能选一个。", "use either --run or --results, not both."))
    lang: Lang = "en" if (report_lang or lang_of()) == "en" else "zh"
    try:
        model = model_for(run_id=run_id, results=results, db_url=db_url, lang=lang)
    except (StoreError, ResultsFileError) as exc:
        fail(exc.text)
    target = out or Path(f"report.{_EXT[fmt]}")
    try:
        write_report(model, fmt, target)
    except OSError as exc:
        fail(T(f"无法写入 {target}：{exc.strerror}", f"cannot write {target}: {exc.strerror}"))
    say(T(f"报告已写入 {target}（扫描 {model.run_id}）", f"report written to {target} (run {model.run_id})"))


@click.command("history")
@_db_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--keep-runs", type=click.IntRange(min=0), default=None,
              help="只保留最近 N 次扫描（各办公室最新一次永不删除） / "
                   "keep only the newest N runs (the latest run of each office is never deleted)")
@click.option("--keep-days", type=click.IntRange(min=0), default=None,
              help="删除 D 天前的扫描（各办公室最新一次永不删除） / "
                   "delete runs older than D days (the latest run of each office is never deleted)")
def history_cmd(db_url: str | None, limit: int, keep_runs: int | None, keep_days: int | None) -> None:
    """扫描历史与合规率 / Recorded runs with their compliance."""
    lang = lang_of()
    lab = labels(lang)
    try:
        with Store.open(db_url) as store:
            if keep_runs is not None or keep_days is not None:
                removed = store.prune(keep_runs=keep_runs, keep_days=keep_days)
                say(T(f"已删除 {len(removed)} 次旧扫描。", f"removed {len(removed)} old run(s)."))
            runs = store.list_runs(limit=limit)
            where = safe_url(store.url)
    except StoreError as exc:
        fail(exc.text)
    if not runs:
        say(T(f"{where} 中还没有扫描记录。", f"no runs recorded in {where}."))
        return
    table = Table(title=_title(f"{lab['run']} — {where}"))
    for key in ("run_id", "started", "hosts", "probed", "compliant", "not_probed", "compliance"):
        table.add_column(lab[key], justify="right" if key not in ("run_id", "started") else "left")
    for r in runs:
        pct = "—" if r.compliance_pct is None else f"{r.compliance_pct:.1f}%"
        _row(table, r.run_id, r.started.strftime("%Y-%m-%d %H:%M"), str(r.hosts_total),
                      str(r.hosts_probed), str(r.hosts_compliant), str(r.hosts_failed), pct)
    _console().print(table)


@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@_db_option
def diff_cmd(run_a: str, run_b: str, db_url: str | None) -> None:
    """比较两次扫描 / What changed between two runs (RUN_B newer)."""
    lang = lang_of()
    try:
        with Store.open(db_url) as store:
            a, b = store.load_run(run_a), store.load_run(run_b)
    except StoreError as exc:
        fail(exc.text)
    delta = diff_runs(a, b)
    if delta.empty:
        say(T(f"{a.run_id} → {b.run_id}：没有变化。", f"{a.run_id} → {b.run_id}: no changes."))
        return
    lab = labels(lang)
    table = Table(title=_title(f"{a.run_id} → {b.run_id}"))
    for head in (T("变化", "Change"), T("主机", "Host"), T("检查项", "Check"),
                 T("之前", "Before"), T("之后", "After")):
        table.add_column(head.get(lang))
    for c in delta.new_failures:
        _row(table, T("新增问题", "new failure").get(lang), c.host, f"{c.title.get(lang)} ({c.check_id})",
                      _status_text(c.before, lang), _status_text(c.after, lang))
    for c in delta.fixed:
        _row(table, T("已修复", "fixed").get(lang), c.host, f"{c.title.get(lang)} ({c.check_id})",
                      _status_text(c.before, lang), _status_text(c.after, lang))
    for h in delta.hosts_appeared:
        _row(table, T("新增主机", "host appeared").get(lang), h, "", "—", "")
    for h in delta.hosts_disappeared:
        _row(table, T("主机消失", "host disappeared").get(lang), h, "", "", "—")
    for s in delta.host_status_changed:
        _row(table, T("主机状态变化", "host status changed").get(lang), s.host, lab["host_status"],
                      _status_text(s.before, lang), _status_text(s.after, lang))
    _console().print(table)
    say(T(f"新增问题 {len(delta.new_failures)}，已修复 {len(delta.fixed)}，新增主机 {len(delta.hosts_appeared)}，"
          f"消失主机 {len(delta.hosts_disappeared)}",
          f"new failures {len(delta.new_failures)}, fixed {len(delta.fixed)}, hosts appeared "
          f"{len(delta.hosts_appeared)}, disappeared {len(delta.hosts_disappeared)}"))


@click.command("certs")
@click.option("--expiring", type=int, default=None, metavar="DAYS",
              help="只列出 DAYS 天内到期的证书 / only certificates expiring within DAYS days")
@click.option("--run", "run_id", default="latest", show_default=True)
@_db_option
def certs_cmd(expiring: int | None, run_id: str, db_url: str | None) -> None:
    """全网关证书到期与更新就绪情况 / Every gateway certificate with days left and readiness."""
    lang = lang_of()
    lab = labels(lang)
    try:
        with Store.open(db_url) as store:
            run = store.load_run(run_id)
    except StoreError as exc:
        fail(exc.text)
    rows = build_report(run, lang=lang).certificates
    if expiring is not None:
        rows = [c for c in rows if c.days_left is not None and c.days_left <= expiring]
    if not rows:
        say(T(f"扫描 {run.run_id} 中没有符合条件的证书。", f"no matching certificates in run {run.run_id}."))
        return
    table = Table(title=_title(f"{lab['certificates']} — {run.run_id}"))
    for key in ("days_left", "host", "user", "subject", "not_after", "kind", "readiness"):
        table.add_column(lab[key], justify="right" if key == "days_left" else "left")
    table.add_column(T("阻碍项", "blocking checks").get(lang))  # BLOCKED: which checks (issue 7)
    readiness = {h.host: host_readiness(h) for h in run.hosts}
    for c in rows:
        days = "—" if c.days_left is None else str(c.days_left)
        blockers = readiness[c.host].blockers if c.host in readiness else []
        _row(table, days, c.host, c.user or "", c.subject_cn or "", (c.not_after or "")[:10],
                      c.kind or "", c.readiness_label, ", ".join(b.check_id for b in blockers))
    _console().print(table)


def register(main: click.Group) -> None:
    """Add report, history, diff and certs to the CLI."""
    for command in (report_cmd, history_cmd, diff_cmd, certs_cmd):
        main.add_command(command)

