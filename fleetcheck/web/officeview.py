"""The office view: what every dashboard page shows, built once from the store, rebuilt when it changed.

Reading the newest run back and building its report view model takes seconds
at 5,000 hosts (``benchmarks/dashboard.py``; most of it ``Store.load_run``),
far too slow for a page. So the pages read an :class:`OfficeView` (both
languages' report models, a host index, the run history and the trend), and
:class:`OfficeViews` keeps the current one:

* **Change marker.** Each request asks the store one cheap question
  (:meth:`fleetcheck.store.Store.change_marker`, one query): the newest run's
  id, the number of runs, the last recording time and host row. When they
  equal the view's, the view is current. A rescan, a scan from the CLI, a run
  recorded again or a pruned history changes them; audit entries do not (the
  audit tables are read live by the pages that show them).
* **One rebuild at a time, never on a request's clock for long.** The request
  that first sees a new marker starts the rebuild in a thread of its own and
  waits for it at most :data:`FRESH_WAIT_S` (a small office is rebuilt within
  that, so whoever rescanned sees the result at once); after that, and for
  every request arriving while the rebuild runs, the previous view is served,
  marked not up to date (the page says it is being updated). Only the very
  first view is waited for (up to :data:`REBUILD_WAIT_S`; the app starts it
  when it starts). A request whose marker is newer than the rebuild in
  progress waits for that one and starts its own (at most :data:`MAX_ROUNDS`
  rounds within the same bound).
* **The office as it stands.** The view's report is the office state
  (:meth:`fleetcheck.store.Store.office_state`: each PC's latest observation
  from any run, a ``--limit`` scan, a rescan or fix's re-probe included), each
  host with its observation time; its trend is the office state per office day.
  A run recorded during a rebuild may or may not be in it; either way the
  marker read before the rebuild is older than the store's, so the next request
  rebuilds. A failed rebuild publishes
  nothing: its error goes to a request that has no view to fall back on, and
  the next request tries again.

Views are immutable once published and shared by all request threads (nothing
renders by mutating them). No HTTP here; blocking store reads, so call
:meth:`OfficeViews.lookup` from a worker thread.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fleetcheck.findings import RunResult
from fleetcheck.i18n import Lang
from fleetcheck.report.model import HostView, OfficeContext, ReportModel, TrendPoint, build_report
from fleetcheck.report.publish import office_context, office_trend_points
from fleetcheck.store import RunNotFound, RunSummary, Store

__all__ = ["HISTORY_RUNS", "OfficeView", "OfficeViews", "ViewUnavailable", "build_view"]

HISTORY_RUNS = 200  # rows of the history page
TREND_RUNS = 20  # points of the trend chart (as Store.trend)
FRESH_WAIT_S = 2.0  # a request that finds the store changed waits this long for the new view
REBUILD_WAIT_S = 120.0  # the first view: nothing to show before it
SETTLE_HOSTS = 1000  # from this many hosts a published view freezes the heap (see settle_heap)
MAX_ROUNDS = 3  # a request looks at most this often for a current view
LANGS: tuple[Lang, ...] = ("zh", "en")

Marker = tuple[object, ...]  # equal markers: no run was recorded, re-recorded or pruned in between


class ViewUnavailable(RuntimeError):
    """No view could be had in time (another request's first build is still running). Internal."""


@dataclass(frozen=True)
class OfficeView:
    """One snapshot of the store for the pages: ``reports`` is empty before any run."""

    marker: Marker
    runs: tuple[RunSummary, ...]  # newest first, up to HISTORY_RUNS (the history page)
    reports: dict[str, ReportModel] = field(default_factory=dict)
    hosts: dict[str, dict[str, HostView]] = field(default_factory=dict)  # lang -> host -> view
    groups: tuple[str, ...] = ()  # the groups hosts of the newest run are in
    build_s: float = 0.0

    def report(self, lang: Lang) -> ReportModel | None:
        """The newest run's report model in ``lang``, or None before any run."""
        return self.reports.get(lang)

    def host(self, lang: Lang, name: str) -> HostView | None:
        return self.hosts.get(lang, {}).get(name)

    @property
    def size(self) -> int:
        """Hosts in the office state."""
        return len(self.hosts.get(LANGS[0], {}))


def read_marker(store: Store) -> Marker:
    """The runs part of the store's change marker (one query): audit, change and renewal records
    do not change what the view shows (the pages read those live), so they do not force a rebuild."""
    m = store.change_marker()
    return (m.latest_run_id, m.runs, m.last_recorded, m.last_host_id)


def _trend(runs: Sequence[RunSummary]) -> list[TrendPoint]:
    """The trend ending with the newest run, oldest first (what Store.trend gives, without a query)."""
    return [TrendPoint(r.run_id, r.started.isoformat(), r.compliance_pct) for r in reversed(runs[:TREND_RUNS])]


def build_view(marker: Marker, runs: Sequence[RunSummary], run: RunResult | None, *,
               build_s: float = 0.0, office: OfficeContext | None = None,
               trend: list[TrendPoint] | None = None) -> OfficeView:
    """The view of ``run`` (the office state, with ``office`` saying where each host's state comes
    from; or one run), both languages; ``runs``: the newest runs, newest first; ``trend``: the
    chart's points (default: the runs up to ``run``). Pure."""
    if run is None:
        return OfficeView(marker=marker, runs=tuple(runs), build_s=build_s)
    if trend is None:
        trend = _trend([r for r in runs if (r.started, r.run_id) <= (run.started, run.run_id)])
    reports: dict[str, ReportModel] = {lang: build_report(run, lang=lang, trend=trend, office=office)
                                       for lang in LANGS}
    hosts: dict[str, dict[str, HostView]] = {lang: {h.host: h for h in model.hosts} for lang, model in reports.items()}
    groups = tuple(sorted({g for h in run.hosts for g in h.groups}))
    return OfficeView(marker=marker, runs=tuple(runs), reports=reports, hosts=hosts, groups=groups, build_s=build_s)


def load_view(store: Store, marker: Marker) -> OfficeView:
    """Read the office state and the history, and build the view (blocking)."""
    began = time.perf_counter()
    runs = store.list_runs(limit=HISTORY_RUNS)
    state = store.office_state() if runs else None
    if state is None:
        view = build_view(marker, runs, None)
    else:
        view = build_view(marker, runs, state.run, office=office_context(state),
                          trend=office_trend_points(store))
    return OfficeView(marker=view.marker, runs=view.runs, reports=view.reports, hosts=view.hosts,
                      groups=view.groups, build_s=time.perf_counter() - began)


def settle_heap(large: bool) -> None:
    """After a view was published (the old one is gone by then): one full garbage collection,
    and for a large view the heap frozen (:func:`gc.freeze`) until the next rebuild.

    A view of 5,000 hosts is millions of objects. Left to itself the
    interpreter runs full collections over all of them while pages render,
    each a stop-the-world pause of 200-600 ms (``benchmarks/dashboard.py``
    counts them). Frozen objects are skipped by collections but freed as usual
    when the last reference goes: views hold no reference cycles, so a replaced
    view is freed whole. What stays is a cycle that was alive at a freeze and
    died later (a request in flight then: bytes, per large rebuild). A smaller
    view unfreezes and collects everything. The rebuild itself runs with
    collections paused (see ``OfficeViews._rebuild``).
    """
    if large:
        gc.collect()  # the new objects only: the frozen ones are skipped (half the pause)
        gc.freeze()
    else:
        gc.unfreeze()
        gc.collect()


class OfficeViews:
    """The current :class:`OfficeView` of one store (thread-safe; see the module docstring)."""

    def __init__(self, store: Store, *, marker: Callable[[Store], Marker] = read_marker,
                 loader: Callable[[Store, Marker], OfficeView] = load_view,
                 fresh_s: float = FRESH_WAIT_S, wait_s: float = REBUILD_WAIT_S, settle_gc: bool = True) -> None:
        self._store = store
        self._settle_gc = settle_gc
        self._marker = marker
        self._loader = loader
        self._fresh_s = fresh_s
        self._wait_s = wait_s
        self._cond = threading.Condition()
        self._view: OfficeView | None = None
        self._building: Marker | None = None  # marker of the rebuild in progress
        self._thread: threading.Thread | None = None
        self._failed: tuple[Marker, Exception] | None = None  # the last rebuild's error, for its waiters
        self.rebuilds = 0  # finished rebuilds (for tests and the benchmark)

    def peek(self) -> OfficeView | None:
        """The last built view, without asking the store."""
        with self._cond:
            return self._view

    @property
    def rebuilding(self) -> bool:
        with self._cond:
            return self._building is not None

    def current(self) -> OfficeView:
        return self.lookup()[0]

    def lookup(self) -> tuple[OfficeView, bool]:
        """(view, up to date): the view of the store's state now, or the previous one while that is
        being built (see the module docstring). Blocking: call from a worker thread."""
        with self._cond:
            seen = self.rebuilds
        marker = self._marker(self._store)
        with self._cond:
            view = self._view
            if view is not None and marker in (view.marker, self._building):
                return view, view.marker == marker
            deadline = time.monotonic() + (self._fresh_s if view is not None else self._wait_s)
            for _ in range(MAX_ROUNDS):
                if self.rebuilds != seen:
                    # A view was published after our marker was read: the store may be past our marker
                    # (building ours would bring an older state back). Ask again (lock held, rare).
                    seen, marker = self.rebuilds, self._marker(self._store)
                    if self._view is not None and self._view.marker == marker:
                        return self._view, True
                if self._building is None:
                    self._start(marker)
                self._cond.wait_for(lambda: self._building is None, timeout=max(0.0, deadline - time.monotonic()))
                if self._view is not None and self._view.marker == marker:
                    return self._view, True
                if self._building is not None or time.monotonic() >= deadline:
                    break  # still building: the previous view, marked as not up to date
                if self._failed is not None and self._failed[0] == marker:
                    if self._view is None:
                        raise self._failed[1]
                    break
                # another state's rebuild has just ended: look again and build ours (next round)
            if self._view is not None:
                return self._view, False
        raise ViewUnavailable("the office view is not ready yet")

    def refresh(self) -> None:
        """Start building the view of the store's state now, unless it is built or being built (no wait)."""
        marker = self._marker(self._store)
        with self._cond:
            if self._building is None and (self._view is None or self._view.marker != marker):
                self._start(marker)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no rebuild runs (shutdown, tests); False when one still runs after ``timeout`` s."""
        with self._cond:
            return self._cond.wait_for(lambda: self._building is None, timeout=timeout)

    def _start(self, marker: Marker) -> None:
        """Start the rebuild of ``marker`` in its own thread (lock held)."""
        self._building = marker
        self._failed = None
        self._thread = threading.Thread(target=self._rebuild, args=(marker,), name="fleetcheck-office-view",
                                        daemon=True)
        self._thread.start()

    def _rebuild(self, marker: Marker) -> None:
        view: OfficeView | None = None
        failed: Exception | None = None
        paused = self._settle_gc and gc.isenabled()
        if paused:  # no collections over the millions of objects being made (refcounting still frees)
            gc.disable()
        try:
            try:
                view = self._loader(self._store, marker)
            except RunNotFound:  # the named run was pruned in between: build what the store holds now
                view = self._loader(self._store, self._marker(self._store))
        except Exception as exc:  # noqa: BLE001 - handed to the requests waiting for this rebuild, which raise it
            failed = exc
        finally:
            if paused:
                gc.enable()
        with self._cond:
            if view is not None:
                self._view = view
                self.rebuilds += 1
            else:
                self._failed = (marker, failed) if failed is not None else None
            self._building = None
            self._cond.notify_all()
        if view is not None and self._settle_gc and (view.size >= SETTLE_HOSTS or gc.get_freeze_count()):
            settle_heap(view.size >= SETTLE_HOSTS)

