"""The I/O edge of reporting: load results files, record runs, write reports.

:func:`record_and_report` is what ``fleetcheck scan`` (and ``fleetcheck demo``)
call after a sweep::

    paths = record_and_report(run, Path("out"), db_url=None, lang="zh")
    print(paths.html)          # out/report.html

It stores the run in the history database (default SQLite file, or
``db_url`` / ``FLEETCHECK_DB``), optionally prunes old runs, and writes
``report.html`` of the office state that results: each PC's latest
observation from any run (so a ``--limit`` scan of one PC reports the whole
office, that PC as just seen), with the per-day trend of the office state.
``report`` without ``--run`` shows the same office state; ``--run ID`` one
run as it was.
A store failure does not lose the report: the HTML is still written (without
trend) and ``ReportPaths.store_error`` says what went wrong.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from fleetcheck.errors import FleetcheckError
from fleetcheck.findings import RunResult
from fleetcheck.i18n import Lang, T, Text
from fleetcheck.officetime import utc_now
from fleetcheck.policy.waivers import Waiver
from fleetcheck.readiness import run_certificates
from fleetcheck.report.model import OfficeContext, ReportModel, TrendPoint, build_report
from fleetcheck.report.render import write_report
from fleetcheck.store import (
    OfficeState,
    RunNotFound,
    RunSummary,
    Store,
    StoreError,
    database_exists,
    safe_url,
)

#: An observation older than this many days is shown as stale (``report --stale-days``).
STALE_DAYS = 7.0


class ResultsFileError(FleetcheckError):
    """A results.json that cannot be read; ``text`` names the file and what to do."""


def load_results(path: Path) -> RunResult:
    """Read a scan's ``results.json`` (RunResult JSON) with a clear error on bad input."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResultsFileError(T(f"{path}：无法读取（{exc.strerror}）。", f"{path}: cannot read ({exc.strerror}).")) from None
    except UnicodeDecodeError:
        raise ResultsFileError(T(f"{path}：不是 UTF-8 文本。", f"{path}: not UTF-8 text.")) from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(
            T(
                f"{path}:{exc.lineno}:{exc.colno}: 不是有效的 JSON（{exc.msg}）。请使用 fleetcheck scan 生成的 results.json。",
                f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}). Use the results.json written by fleetcheck scan.",
            )
        ) from None
    try:
        return RunResult.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ResultsFileError(
            T(
                f"{path}: 字段 {where} 不正确（{first['msg']}），共 {exc.error_count()} 处错误。这不是 fleetcheck 扫描结果文件？",
                f"{path}: field {where} is invalid ({first['msg']}), {exc.error_count()} error(s) in total. "
                "Is this a fleetcheck results file?",
            )
        ) from None


def office_context(state: OfficeState, now: datetime | None = None, stale_days: float = STALE_DAYS) -> OfficeContext:
    """What the report model needs to know of an office state, ages as of ``now`` (default: the clock)."""
    return OfficeContext(observed={h: o.observed for h, o in state.observations.items()},
                         run_of={h: o.run_id for h, o in state.observations.items()},
                         failed_since={h: o.failed_since for h, o in state.observations.items()
                                       if o.failed_since is not None},
                         sources=len(state.sources), now=now or utc_now(), stale_days=stale_days)


def office_trend_points(store: Store, names: Collection[str] | None = None) -> list[TrendPoint]:
    """The office state at the end of each office day with a run, oldest first, as chart points."""
    return [TrendPoint(p.last_run_id, p.at.isoformat(), p.compliance_pct) for p in store.office_trend(names=names)]


def trend_points(summaries: list[RunSummary]) -> list[TrendPoint]:
    """Store run summaries (oldest first) as chart points."""
    return [TrendPoint(s.run_id, s.started.isoformat(), s.compliance_pct) for s in summaries]


@dataclass(frozen=True)
class Retention:
    """How much history :func:`record_and_report` keeps (see :meth:`fleetcheck.store.Store.prune`)."""

    keep_runs: int | None = None
    keep_days: int | None = None


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`record_and_report` put things."""

    run_id: str
    html: Path
    db_url: str | None  # password masked; None when the run could not be stored
    store_error: Text | None = None
    office: RunResult | None = None  # the office state after this run (None when it could not be stored)
    office_before: RunResult | None = None  # ... and before it (compare=True; None: the office's first run)


def record_and_report(
    run: RunResult,
    out_dir: Path,
    *,
    db_url: str | None = None,
    lang: Lang = "zh",
    retention: Retention | None = None,
    waivers: Sequence[Waiver] | None = None,
    names: Collection[str] | None = None,
    compare: bool = False,
) -> ReportPaths:
    """Store ``run`` in the history and write ``out_dir/report.html`` of the office state that results
    (``names``: the inventory's hosts, the PCs of the office; ``waivers``: its waivers section;
    ``retention``: prune after recording).

    ``compare`` (what --notify needs): also read the office state before the run
    (``ReportPaths.office_before``); reading an office state costs about as much
    as loading a run, so it is read only when asked for.
    When the run cannot be stored the report is of the run alone, without trend.
    """
    trend: list[TrendPoint] = []
    stored_url: str | None = None
    error: Text | None = None
    before: OfficeState | None = None
    after: OfficeState | None = None
    try:
        with Store.open(db_url) as store:
            before = store.office_state(names=names) if compare else None
            store.record_run(run, certificates=run_certificates(run))
            if retention is not None:
                store.prune(keep_runs=retention.keep_runs, keep_days=retention.keep_days)
            after = store.office_state(names=names)
            trend = office_trend_points(store, names)
            stored_url = safe_url(store.url)
    except StoreError as exc:
        error = exc.text
    when = utc_now()
    shown = after.run if after is not None else run
    context = office_context(after, when) if after is not None else None
    model = build_report(shown, lang=lang, trend=trend, waivers=waivers, now=when, office=context)
    html = write_report(model, "html", out_dir / "report.html")
    return ReportPaths(run.run_id, html, stored_url, error, office=shown if after is not None else None,
                       office_before=before.run if before is not None else None)


def model_for(
    *,
    run_id: str | None,
    results: Path | None,
    db_url: str | None,
    lang: Lang,
    waivers: Sequence[Waiver] | None = None,
    now: datetime | None = None,
    stale_days: float = STALE_DAYS,
) -> ReportModel:
    """The report model of the office state (no ``run_id``), of one stored run (``run_id``, or
    ``latest``) or of a results file.

    ``waivers`` (``report --waivers``): the waivers section, each waiver's state as of ``now``.

    With a results file the store is only consulted for the trend, and only when
    it already exists (reading a file never creates a database).
    """
    if results is not None:
        run = load_results(results)
        trend: list[TrendPoint] = []
        if not database_exists(db_url):
            return build_report(run, lang=lang, trend=trend, waivers=waivers, now=now)
        try:
            with Store.open(db_url) as store:
                if store.list_runs(limit=1):
                    earlier = [s for s in reversed(store.list_runs(limit=19)) if s.started < run.started]
                    trend = trend_points(earlier)
        except StoreError:
            trend = []
        return build_report(run, lang=lang, trend=trend, waivers=waivers, now=now)
    with Store.open(db_url) as store:
        if run_id is None:
            state = store.office_state()
            if state is None:
                store.resolve_run_id("latest")  # the store's own "no run recorded yet" error
                raise RunNotFound(T("历史库中没有主机记录。", "no host recorded in the history store."))
            when = now or utc_now()
            return build_report(state.run, lang=lang, trend=office_trend_points(store), waivers=waivers, now=when,
                                office=office_context(state, when, stale_days))
        run = store.load_run(run_id)
        trend = trend_points(store.trend(run.run_id))
    return build_report(run, lang=lang, trend=trend, waivers=waivers, now=now)

