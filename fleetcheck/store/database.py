"""The :class:`Store` handle: one database, opened once, with the run-history API.

Example::

    with Store.open("sqlite:///history.db") as store:
        run_id = store.record_run(run, certificates=rows)
        again = store.load_run("latest")
        marker = store.change_marker()   # compare later: has anything been written?

The audit log, change records and renewal records are read and written through
their own classes (:mod:`fleetcheck.store.audit`, :mod:`fleetcheck.store.renewals`),
which take a ``Store``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from fleetcheck.findings import RunResult
from fleetcheck.i18n import T
from fleetcheck.store import migrations, office, runs
from fleetcheck.store.engine import open_engine, safe_url
from fleetcheck.store.errors import RunNotFound, StoreError
from fleetcheck.store.marker import ChangeMarker, read_marker
from fleetcheck.store.office import OfficeState, OfficeTrendPoint
from fleetcheck.store.runs import CertificateRecord, RunSummary
from fleetcheck.store.timeline import HostRows, host_rows

__all__ = ["Store"]


class Store:
    """The run-history database. Open with :meth:`open`; close (or use ``with``)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self.url = url

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (creating or upgrading) the store at ``url`` (see :func:`~fleetcheck.store.resolve_db_url`)."""
        engine, resolved = open_engine(url)
        return cls(engine, resolved)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for the other modules of ``fleetcheck.store`` only."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        with self._engine.connect() as conn:
            return migrations.current_version(conn)

    def change_marker(self) -> ChangeMarker:
        """A cheap value that changes whenever runs, audit, change or renewal records are written.

        One query (see :mod:`fleetcheck.store.marker`); equal markers mean a cached
        view built from the store is still current.
        """
        with self._engine.connect() as conn:
            return read_marker(conn)

    # -- writing -------------------------------------------------------------------------
    def record_run(self, run: RunResult, *, certificates: Sequence[Mapping[str, Any]]) -> str:
        """Store one sweep (hosts, findings, host errors) and the certificates the caller saw in it.

        ``certificates``: one mapping per certificate with ``host`` (a host of the
        run) and any of :data:`fleetcheck.store.runs.CERTIFICATE_FIELDS`
        (``fleetcheck.readiness.run_certificates(run)``). The store does not read
        findings' details itself; the argument is required so that no caller
        records a run's certificates as "none" by forgetting it. Returns the run id.
        """
        for attempt in range(2):
            try:
                with self._engine.begin() as conn:
                    runs.insert_run(conn, run, certificates)
                return run.run_id
            except IntegrityError:
                # Another writer recorded the same run id between our delete and insert (several
                # controllers or workers on one PostgreSQL): its rows are committed now, so the
                # retry replaces them, as recording a run twice always does.
                if attempt:
                    raise StoreError(T(f"扫描 {run.run_id} 正被同时写入，未能记录。请重试。",
                                       f"run {run.run_id} was being written at the same moment and could not be "
                                       "recorded. Try again.")) from None
        raise AssertionError("unreachable")

    def prune(
        self,
        *,
        keep_runs: int | None = None,
        keep_days: int | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        """Delete runs beyond the newest ``keep_runs`` or older than ``keep_days``.

        Returns the deleted run ids. With both limits a run is deleted when either
        says so. ``prune(keep_runs=10)`` keeps the last ten sweeps. The newest run
        of each office (inventory) is never deleted, whatever the limits say:
        ``keep_days=0`` or ``keep_runs=0`` leaves the latest run of every office.
        ``keep_runs`` never deletes a run that holds a host's current state
        (its newest record, or its newest probed record, whose certificates the
        office shows): a count limit never makes a PC vanish from the office
        state. ``keep_days`` is the age limit of observations: a PC whose only
        observation is older leaves the office state.
        """
        if (keep_runs is not None and keep_runs < 0) or (keep_days is not None and keep_days < 0):
            raise StoreError(T("保留数量/天数不能为负数。", "keep-runs / keep-days must not be negative."))
        recorded = self.list_runs()  # newest first
        doomed: set[str] = set()
        if keep_runs is not None:
            doomed.update(r.run_id for r in recorded[keep_runs:])
            if doomed:  # a count limit never drops a PC's current state (a one-PC scan is a run too)
                with self._engine.connect() as conn:
                    doomed.difference_update(office.source_run_ids(conn, recorded))
        if keep_days is not None:
            cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=keep_days)
            doomed.update(r.run_id for r in recorded if r.started < cutoff)
        latest: dict[str | None, str] = {}
        for r in recorded:  # newest first: the first run seen per office is its latest
            latest.setdefault(r.inventory, r.run_id)
        doomed.difference_update(latest.values())
        ordered = [r.run_id for r in recorded if r.run_id in doomed]
        with self._engine.begin() as conn:
            runs.delete_runs(conn, ordered)
        return ordered

    # -- reading -------------------------------------------------------------------------
    def list_runs(self, limit: int | None = None) -> list[RunSummary]:
        """Recorded runs, newest first."""
        with self._engine.connect() as conn:
            return runs.run_summaries(conn, limit)

    def resolve_run_id(self, run_id: str = "latest") -> str:
        """``"latest"`` → the newest run's id; any other id must exist."""
        with self._engine.connect() as conn:
            if run_id == "latest":
                found = runs.newest_run_id(conn)
                if found is None:
                    raise RunNotFound(T(
                        f"历史数据库 {safe_url(self.url)} 中还没有任何扫描记录。请先运行 fleetcheck scan。",
                        f"no run recorded yet in {safe_url(self.url)}. Run fleetcheck scan first.",
                    ))
                return found
            exists = runs.run_exists(conn, run_id)
        if not exists:
            raise RunNotFound(T(
                f"找不到扫描记录 {run_id}。用 fleetcheck history 查看已有的记录。",
                f"run {run_id} not found. List recorded runs with fleetcheck history.",
            ))
        return run_id

    def run_summary(self, run_id: str = "latest") -> RunSummary:
        rid = self.resolve_run_id(run_id)
        with self._engine.connect() as conn:
            return runs.run_summary(conn, rid)

    def previous_run(self, run_id: str) -> RunSummary | None:
        """The run recorded just before ``run_id`` (by start time), or None."""
        current = self.run_summary(run_id)
        older = [r for r in self.list_runs() if (r.started, r.run_id) < (current.started, current.run_id)]
        return older[0] if older else None

    def trend(self, run_id: str = "latest", limit: int = 20) -> list[RunSummary]:
        """Up to ``limit`` runs ending with ``run_id``, oldest first (for trend charts)."""
        current = self.run_summary(run_id)
        upto = [r for r in self.list_runs() if (r.started, r.run_id) <= (current.started, current.run_id)]
        return list(reversed(upto[:limit]))

    def load_run(self, run_id: str = "latest") -> RunResult:
        """Rebuild a recorded run (hosts in their original order, ``facts`` not kept)."""
        summary = self.run_summary(run_id)
        with self._engine.connect() as conn:
            hosts = runs.load_run_hosts(conn, summary.run_id)
        return RunResult(
            run_id=summary.run_id,
            started=summary.started,
            finished=summary.finished,
            policies=summary.policies,
            inventory=summary.inventory,
            hosts=hosts,
            scope=summary.scope,
            hosts_planned=summary.hosts_planned,
            interrupted=summary.interrupted,
        )

    def certificates(self, run_id: str = "latest") -> list[CertificateRecord]:
        """Every certificate recorded with a run, soonest expiry first (unknown expiry last)."""
        rid = self.resolve_run_id(run_id)
        with self._engine.connect() as conn:
            return runs.certificate_records(conn, rid)

    # -- the office as it stands (fleetcheck.store.office) -------------------------------
    def office_state(self, *, names: Collection[str] | None = None,
                     until: datetime | None = None) -> OfficeState | None:
        """Each host's latest observation from any run (None before any host was recorded).

        ``names``: only these hosts (e.g. the inventory's); ``until``: the office as it stood then.
        """
        recorded = self.list_runs()
        with self._engine.connect() as conn:
            return office.office_state(conn, recorded, names=names, until=until)

    def office_trend(self, days: int = 20, *, names: Collection[str] | None = None) -> list[OfficeTrendPoint]:
        """The office state's compliance at the end of each of the last ``days`` office days with a run
        (``names``: only these hosts)."""
        recorded = self.list_runs()
        with self._engine.connect() as conn:
            return office.office_trend(conn, recorded, days=days, names=names)

    def host_errors(self, run_id: str = "latest") -> list[dict[str, Any]]:
        """Hosts that could not be probed in a run: host, status, error class, message, attempts."""
        rid = self.resolve_run_id(run_id)
        with self._engine.connect() as conn:
            return runs.host_error_rows(conn, rid)

    # -- one host over time (fleetcheck.store.timeline) ----------------------------------
    def host_timeline(self, name: str, limit: int = 50) -> HostRows:
        """Host ``name``'s observations, change records, rollbacks/refusals and renewals, newest first.

        Enough rows for a timeline of its newest ``limit`` entries (each source
        is bounded, see :mod:`fleetcheck.store.timeline`); ``HostRows.known`` is
        False when the store has never heard of the host.
        """
        with self._engine.connect() as conn:
            return host_rows(conn, name, limit)
