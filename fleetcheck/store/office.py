"""The office as it stands: each host's latest observation from any run (the SQL side).

A run is one sweep of some hosts: the whole office, a ``--limit`` subset, the
dashboard's rescan of one PC, fix's re-probe of the PCs it changed, a run
interrupted half-way. None of them alone is "the office". The office state is,
per host name, the newest host record of any run (by the time the host was
observed: its sweep's finish, else its start, else the run's start), so a
one-host scan changes that one host and an interrupted sweep changes only the
hosts it reached (it records no others).

A newest record that could not probe the host (unreachable, refused…) is the
host's state: fleetcheck shows "not probed at T", never an older pass as if it
were current. Certificates are facts that an unreachable probe does not undo,
so each host's certificates come from its newest *probed* record, with that
record's time.

:func:`office_trend` gives the office state's compliance at the end of each
office day (Asia/Shanghai) that had a run: from the hosts table only (its
``compliant`` column, schema v6), never the findings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fleetcheck.findings import HostResult, HostStatus, RunResult
from fleetcheck.officetime import office_date
from fleetcheck.store import schema
from fleetcheck.store.runs import (
    CertificateRecord,
    RunSummary,
    certificate_record,
    finding_columns,
    host_results,
    soonest_first,
)
from fleetcheck.store.values import from_db

__all__ = ["Observation", "OfficeState", "OfficeTrendPoint", "office_state", "office_trend", "source_run_ids"]

CHUNK = 2000  # ids per IN (...) list (well under SQLite's and PostgreSQL's parameter limits)


@dataclass(frozen=True)
class Observation:
    """Where one host's current state comes from."""

    host: str
    run_id: str
    observed: datetime  # UTC
    status: HostStatus
    partial: bool  # the run that saw it saw part of the office (limit, rescan, verify, collect, interrupted)


@dataclass(frozen=True)
class OfficeState:
    """Each host's latest observation, as one :class:`RunResult` (``run``) plus where each came from.

    ``run.run_id`` is the newest contributing run's id, ``run.started`` its start
    and ``run.finished`` the newest observation; its hosts are ordered by name.
    ``certificates``: per host, those of its newest probed observation, soonest
    expiry first, each with its observation time (``observed``).
    """

    run: RunResult
    observations: dict[str, Observation]
    certificates: list[CertificateRecord]
    sources: tuple[str, ...]  # contributing run ids, newest first

    def age_days(self, host: str, now: datetime) -> float | None:
        seen = self.observations.get(host)
        return None if seen is None else (now - seen.observed).total_seconds() / 86400.0

    def stale(self, now: datetime, max_age_days: float) -> list[str]:
        """Hosts whose latest observation is older than ``max_age_days`` (by name)."""
        return sorted(h for h, o in self.observations.items() if (now - o.observed).total_seconds() > max_age_days * 86400)


@dataclass(frozen=True)
class OfficeTrendPoint:
    """The office state at the end of one office day that had a run."""

    day: date  # office date
    last_run_id: str  # the day's newest run
    hosts: int
    probed: int
    compliant: int

    @property
    def compliance_pct(self) -> float | None:
        return None if self.probed == 0 else round(100.0 * self.compliant / self.probed, 1)


@dataclass(frozen=True)
class _Seen:
    host_id: int
    host: str
    status: str
    compliant: bool | None
    observed: datetime
    run: RunSummary


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _seen_rows(conn: Connection, runs: dict[str, RunSummary], names: Collection[str] | None) -> list[_Seen]:
    """Every host record of ``runs``, newest observation first (light columns only)."""
    h = schema.hosts.c
    query = sa.select(h.id, h.host, h.status, h.compliant, h.started, h.finished, h.run_id)
    seen: list[_Seen] = []
    for r in conn.execute(query):
        run = runs.get(r.run_id)
        if run is None or (names is not None and r.host not in names):
            continue
        observed = from_db(r.finished) or from_db(r.started) or run.started
        seen.append(_Seen(r.id, r.host, r.status, r.compliant, observed, run))
    seen.sort(key=lambda s: (s.observed, s.run.started, s.run.run_id, s.host_id), reverse=True)
    return seen


def _latest(seen: Sequence[_Seen]) -> tuple[dict[str, _Seen], dict[str, _Seen]]:
    """(newest record per host, newest probed record per host), from newest-first rows."""
    latest: dict[str, _Seen] = {}
    probed: dict[str, _Seen] = {}
    for s in seen:
        latest.setdefault(s.host, s)
        if s.status == HostStatus.ok.value:
            probed.setdefault(s.host, s)
    return latest, probed


def source_run_ids(conn: Connection, runs: Sequence[RunSummary]) -> set[str]:
    """The runs the office state reads: each host's newest record and newest probed record."""
    latest, probed = _latest(_seen_rows(conn, {r.run_id: r for r in runs}, None))
    return {s.run.run_id for s in (*latest.values(), *probed.values())}


def _hosts(conn: Connection, ids: Sequence[int]) -> list[HostResult]:
    h = schema.hosts.c
    f = schema.findings.c
    results: list[HostResult] = []
    for chunk in _chunks(ids):
        rows = conn.execute(sa.select(schema.hosts).where(h.id.in_(chunk))).all()
        findings = sa.select(*finding_columns()).where(f.host_id.in_(chunk)).order_by(f.host_id, f.position)
        results.extend(host_results(conn, rows, findings))
    return results


def _certificates(conn: Connection, probed: dict[str, _Seen]) -> list[CertificateRecord]:
    c = schema.certificates.c
    observed = {s.host_id: s.observed for s in probed.values()}
    records: list[CertificateRecord] = []
    ids = sorted(observed)
    for chunk in _chunks(ids):
        rows = conn.execute(sa.select(schema.certificates).where(c.host_id.in_(chunk)).order_by(c.host, c.id))
        records.extend(certificate_record(r, observed[r.host_id]) for r in rows)
    return soonest_first(records)


def _policies(runs: Sequence[RunSummary]) -> list[str]:
    ordered: dict[str, None] = {}
    for run in runs:
        ordered.update(dict.fromkeys(run.policies))
    return list(ordered)


def office_state(conn: Connection, runs: Sequence[RunSummary], *, names: Collection[str] | None = None,
                 until: datetime | None = None) -> OfficeState | None:
    """The office state from ``runs`` (the recorded runs, newest first), None when they hold no host.

    ``names``: only these hosts (an inventory's); ``until``: as it stood then (runs started by then).
    """
    usable = {r.run_id: r for r in runs if until is None or r.started <= until}
    latest, probed = _latest(_seen_rows(conn, usable, names))
    if not latest:
        return None
    by_id = {h.host_id: h for h in latest.values()}
    hosts = sorted(_hosts(conn, sorted(by_id)), key=lambda h: h.host)
    sources = sorted({s.run.run_id: s.run for s in latest.values()}.values(),
                     key=lambda r: (r.started, r.run_id), reverse=True)
    newest = sources[0]
    run = RunResult(
        run_id=newest.run_id,
        started=newest.started,
        finished=max(s.observed for s in latest.values()),
        policies=_policies(sources),
        inventory=newest.inventory,
        hosts=hosts,
    )
    observations = {
        name: Observation(host=name, run_id=s.run.run_id, observed=s.observed, status=HostStatus(s.status),
                          partial=s.run.partial)
        for name, s in latest.items()
    }
    return OfficeState(run=run, observations=observations, certificates=_certificates(conn, probed),
                       sources=tuple(r.run_id for r in sources))


def office_trend(conn: Connection, runs: Sequence[RunSummary], *, days: int = 20) -> list[OfficeTrendPoint]:
    """The office state's compliance at the end of each of the last ``days`` office days with a run,
    oldest first (``runs``: the recorded runs, any order)."""
    by_id = {r.run_id: r for r in runs}
    ordered = sorted(runs, key=lambda r: (r.started, r.run_id))
    h = schema.hosts.c
    rows: dict[str, list[tuple[str, str, bool | None]]] = {r.run_id: [] for r in ordered}
    for r in conn.execute(sa.select(h.run_id, h.host, h.status, h.compliant)):
        if r.run_id in by_id:
            rows[r.run_id].append((r.host, r.status, r.compliant))
    state: dict[str, tuple[str, bool | None]] = {}
    points: dict[date, OfficeTrendPoint] = {}
    for run in ordered:  # runs replay in start order (a host's record in a later-started run wins)
        for host, status, compliant in rows[run.run_id]:
            state[host] = (status, compliant)
        probed = [c for status, c in state.values() if status == HostStatus.ok.value]
        day = office_date(run.started)
        points[day] = OfficeTrendPoint(day=day, last_run_id=run.run_id, hosts=len(state), probed=len(probed),
                                       compliant=sum(1 for c in probed if c))
    return [points[d] for d in sorted(points)][-days:]

