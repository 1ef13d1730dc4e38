"""The office view: what every dashboard page shows, built once from the store, rebuilt when it changed.

Building the report view model of the newest run costs about a second per
language at 5,000 hosts (``benchmarks/dashboard.py``), far too slow for a page.
So the pages read an :class:`OfficeView` (both languages' report models, a
host index, the run history and the trend), and :class:`OfficeViews` keeps the
current one:

* **Change marker.** Each request asks the store one cheap question: the
  newest :data:`HISTORY_RUNS` run summaries (ids, start times, counts). When
  they equal the view's, the view is current. A rescan, a scan from the CLI or
  a pruned history changes them. The summaries are also the history page's
  rows, so a current view is exactly what the store says.
* **One rebuild at a time.** The request that first sees a new marker
  rebuilds (in its worker thread, never on the event loop) and waits for it;
  requests arriving meanwhile get the previous view at once, or wait for the
  rebuild when there is none yet (the first build). A request whose marker is
  newer than the rebuild in progress waits for it and looks again (at most
  :data:`MAX_ROUNDS` times, each wait bounded by :data:`REBUILD_WAIT_S`).
* **Consistent.** The view is built from the run the marker names (by id, not
  ``latest``), so a run recorded during a rebuild cannot mix into it; the next
  request sees the newer marker and rebuilds.

Views are immutable once published and shared by all request threads (nothing
renders by mutating them). No HTTP here; blocking store reads, so call
:meth:`OfficeViews.current` from a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fleetcheck.findings import RunResult
from fleetcheck.i18n import Lang
from fleetcheck.report.model import HostView, ReportModel, TrendPoint, build_report
from fleetcheck.store import RunNotFound, RunSummary, Store

__all__ = ["HISTORY_RUNS", "OfficeView", "OfficeViews", "ViewUnavailable", "build_view"]

HISTORY_RUNS = 200  # rows of the history page
TREND_RUNS = 20  # points of the trend chart (as Store.trend)
REBUILD_WAIT_S = 120.0  # one wait for somebody else's rebuild
MAX_ROUNDS = 3  # a request looks at most this often for a current view
LANGS: tuple[Lang, ...] = ("zh", "en")

Marker = tuple[RunSummary, ...]


class ViewUnavailable(RuntimeError):
    """No view could be had in time (another request's first build is still running). Internal."""


@dataclass(frozen=True)
class OfficeView:
    """One snapshot of the store for the pages: ``reports`` is empty before any run."""

    marker: Marker
    runs: tuple[RunSummary, ...]  # newest first, up to HISTORY_RUNS
    reports: dict[str, ReportModel] = field(default_factory=dict)
    hosts: dict[str, dict[str, HostView]] = field(default_factory=dict)  # lang -> host -> view
    groups: tuple[str, ...] = ()  # the groups hosts of the newest run are in
    build_s: float = 0.0

    def report(self, lang: Lang) -> ReportModel | None:
        """The newest run's report model in ``lang``, or None before any run."""
        return self.reports.get(lang)

    def host(self, lang: Lang, name: str) -> HostView | None:
        return self.hosts.get(lang, {}).get(name)


def read_marker(store: Store) -> Marker:
    """The store's change marker: its newest run summaries (one small query)."""
    return tuple(store.list_runs(limit=HISTORY_RUNS))


def _trend(runs: Sequence[RunSummary]) -> list[TrendPoint]:
    """The trend ending with the newest run, oldest first (what Store.trend gives, without a query)."""
    return [TrendPoint(r.run_id, r.started.isoformat(), r.compliance_pct) for r in reversed(runs[:TREND_RUNS])]


def build_view(marker: Marker, run: RunResult | None, *, build_s: float = 0.0) -> OfficeView:
    """The view of ``run`` (the run ``marker`` names first), both languages. Pure."""
    if run is None:
        return OfficeView(marker=marker, runs=marker, build_s=build_s)
    trend = _trend(marker)
    reports: dict[str, ReportModel] = {lang: build_report(run, lang=lang, trend=trend) for lang in LANGS}
    hosts: dict[str, dict[str, HostView]] = {lang: {h.host: h for h in model.hosts} for lang, model in reports.items()}
    groups = tuple(sorted({g for h in run.hosts for g in h.groups}))
    return OfficeView(marker=marker, runs=marker, reports=reports, hosts=hosts, groups=groups, build_s=build_s)


def load_view(store: Store, marker: Marker) -> OfficeView:
    """Read the run ``marker`` names and build its view (blocking)."""
    began = time.perf_counter()
    run = store.load_run(marker[0].run_id) if marker else None
    view = build_view(marker, run)
    return OfficeView(marker=view.marker, runs=view.runs, reports=view.reports, hosts=view.hosts,
                      groups=view.groups, build_s=time.perf_counter() - began)


class OfficeViews:
    """The current :class:`OfficeView` of one store (thread-safe; see the module docstring)."""

    def __init__(self, store: Store, *, marker: Callable[[Store], Marker] = read_marker,
                 loader: Callable[[Store, Marker], OfficeView] = load_view,
                 wait_s: float = REBUILD_WAIT_S) -> None:
        self._store = store
        self._marker = marker
        self._loader = loader
        self._wait_s = wait_s
        self._cond = threading.Condition()
        self._view: OfficeView | None = None
        self._building: Marker | None = None  # marker of the rebuild in progress
        self.rebuilds = 0  # finished rebuilds (for tests and the benchmark)

    def peek(self) -> OfficeView | None:
        """The last built view, without asking the store."""
        with self._cond:
            return self._view

    def current(self) -> OfficeView:
        """A view no older than the store's state when this call began (see the rules above). Blocking."""
        marker = self._marker(self._store)
        for _ in range(MAX_ROUNDS):
            with self._cond:
                view = self._view
                if view is not None and view.marker == marker:
                    return view
                if self._building is None:
                    self._building = marker
                    break  # this thread rebuilds, outside the lock
                if self._building == marker and view is not None:
                    return view  # a rebuild of this very state is running: the previous view meanwhile
                self._wait_for(self._building)
            marker = self._marker(self._store)  # the store may have moved on while we waited
        else:
            return self._after_rounds()
        return self._rebuild(marker)

    def _wait_for(self, started: Marker) -> None:
        """Wait (lock held) until the rebuild of ``started`` has ended, at most ``wait_s``."""
        self._cond.wait_for(lambda: self._building is not started, timeout=self._wait_s)

    def _after_rounds(self) -> OfficeView:
        with self._cond:
            if self._view is not None:
                return self._view
        raise ViewUnavailable("the office view is not ready yet")

    def _rebuild(self, marker: Marker) -> OfficeView:
        try:
            try:
                view = self._loader(self._store, marker)
            except RunNotFound:  # the named run was pruned in between: build what the store holds now
                marker = self._marker(self._store)
                view = self._loader(self._store, marker)
        except BaseException:
            with self._cond:
                self._building = None
                self._cond.notify_all()
            raise
        with self._cond:
            self._view = view
            self._building = None
            self.rebuilds += 1
            self._cond.notify_all()
        return view
