"""``fleetcheck report``: write a compliance report (HTML/JSON/CSV/JUnit) of the office state, a run or a results.json.

Without ``--run`` the report is the office state: each PC's latest observation
from any recorded run (a ``--limit`` scan, a dashboard rescan, fix's re-probe
included), each with its time; observations older than ``--stale-days`` are
marked stale. ``--run ID`` (or ``latest``) reports one run as it was.

``--db URL`` (or ``FLEETCHECK_DB``; default: the SQLite file under
``$XDG_DATA_HOME/fleetcheck/``) names the history store. ``history``, ``diff``
and ``certs`` have their own modules.
"""

from __future__ import annotations

from pathlib import Path

import click

from fleetcheck.commands.common import fail, lang_of, say
from fleetcheck.commands.options import db_option, format_option
from fleetcheck.i18n import Lang, T
from fleetcheck.officetime import utc_now
from fleetcheck.policy.loader import load_waivers
from fleetcheck.report.publish import STALE_DAYS, model_for
from fleetcheck.report.render import FORMATS, ReportFormat, write_report

__all__ = ["report_cmd"]

_EXT = {"html": "html", "json": "json", "csv": "csv", "junit": "xml"}


@click.command("report")
@click.option("--run", "run_id", default=None,
              help="只报告这一次扫描（编号或 latest）；默认报告办公室现状（每台电脑最近一次的检查结果）"
                   " / report this one run (id or latest); default: the office state (each PC's latest observation)")
@click.option("--stale-days", type=click.FloatRange(min=0), default=STALE_DAYS, show_default=True,
              help="早于这么多天的检查结果标为过时 / mark observations older than this many days as stale")
@click.option("--results", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="scan 写出的 results.json / a results.json written by scan")
@format_option(FORMATS, "html")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="输出文件 / output file (default: report.<ext>)")
@click.option("--lang", "report_lang", type=click.Choice(["zh", "en"]), default=None,
              help="报告语言 / report language (default: the global --lang)")
@click.option("--waivers", "waivers_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="豁免文件：报告列出已过期、即将到期、未使用的豁免 / waivers file: list the expired, expiring, unused ones")
@db_option
def report_cmd(run_id: str | None, results: Path | None, fmt: ReportFormat, out: Path | None,
               report_lang: str | None, *, waivers_path: Path | None, db_url: str | None, stale_days: float) -> None:
    """生成合规报告（HTML/JSON/CSV/JUnit）/ Write a compliance report."""
    if run_id is not None and results is not None:
        fail(T("--run 和 --results 只能选一个。", "use either --run or --results, not both."))
    lang: Lang = "en" if (report_lang or lang_of()) == "en" else "zh"
    waivers = load_waivers(waivers_path) if waivers_path is not None else None  # WaiverError: cli.main
    model = model_for(run_id=run_id, results=results, db_url=db_url, lang=lang, waivers=waivers, now=utc_now(),
                      stale_days=stale_days)
    target = out or Path(f"report.{_EXT[fmt]}")
    try:
        write_report(model, fmt, target)
    except OSError as exc:
        fail(T(f"无法写入 {target}：{exc.strerror}", f"cannot write {target}: {exc.strerror}"))
    if model.office is not None:
        stale = len(model.office.stale_hosts)
        say(T(f"报告已写入 {target}（办公室现状：{model.overview.hosts} 台电脑，来自 {model.office.sources} 次扫描"
              + (f"，{stale} 台的结果超过 {model.office.stale_days:g} 天" if stale else "") + "）",
              f"report written to {target} (the office state: {model.overview.hosts} PCs from "
              f"{model.office.sources} run(s)" + (f", {stale} observed over {model.office.stale_days:g} days ago"
                                                  if stale else "") + ")"))
    else:
        say(T(f"报告已写入 {target}（扫描 {model.run_id}）", f"report written to {target} (run {model.run_id})"))
