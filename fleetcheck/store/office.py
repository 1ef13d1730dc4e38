"""The office as it stands: each host's latest observation from any run (the SQL side).

A run is one sweep of some hosts: the whole office, a ``--limit`` subset, the
dashboard's rescan of one PC, fix's re-probe of the PCs it changed, a run
interrupted half-way. None of them alone is "the office". The office state is,
per host name, the newest host record of any run (by the time the host was
observed: its sweep's finish, else its start, else the run's start), so a
one-host scan changes that one host and an interrupted sweep changes only the
hosts it reached (it records no others).

Which PCs the office has: the hosts of its newest complete sweep (a run of the
whole inventory that was not interrupted) and any host recorded after it;
before the first complete sweep (a store whose runs predate schema v6, which
did not record a run's scope), every PC recorded. A PC removed from the inventory
leaves the office state with the next full scan; one added appears with its
first scan, ``--limit`` or not.

A record that could not probe the host (unreachable, refused, timed out…) is
an attempt, not an observation: it does not replace what the last probe saw.
The host keeps its last probed state, with that probe's time (so its age
shows, and it turns stale), and the failed attempt is kept beside it
(:attr:`Observation.failed_since`) for the views to say "not reachable since
T". A host never probed is shown by its newest record (not probed). This is
what keeps one PC switched off for the day from blanking its certificate out
of ``certs`` and the report, while its pass is never presented as current:
every view shows when it was made.

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
    failed_since: datetime | None = None  # a newer attempt failed to probe it (the newest such attempt, UTC)
    failed_status: HostStatus | None = None  # ... and how


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
    at: datetime  # that run's start (UTC)
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
    observed: datetime
    run: RunSummary


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _seen_rows(conn: Connection, runs: dict[str, RunSummary], names: Collection[str] | None) -> list[_Seen]:
    """Every host record of ``runs``, newest observation first (light columns only)."""
    h = schema.hosts.c
    query = sa.select(h.id, h.host, h.status, h.started, h.finished, h.run_id)
    seen: list[_Seen] = []
    for r in conn.execute(query):
        run = runs.get(r.run_id)
        if run is None or (names is not None and r.host not in names):
            continue
        observed = from_db(r.finished) or from_db(r.started) or run.started
        seen.append(_Seen(r.id, r.host, r.status, observed, run))
    seen.sort(key=lambda s: (s.observed, s.run.started, s.run.run_id, s.host_id), reverse=True)
    return seen


def _complete(run: RunSummary) -> bool:
    """A sweep of the whole inventory that ran to its end. A run recorded before schema v6 (scope
    unknown) may have been a ``--limit`` scan, so it never decides which PCs the office has: until
    the first complete sweep, every PC recorded is in the office."""
    return run.scope == "office" and not run.interrupted


def _members(seen: Sequence[_Seen]) -> list[_Seen]:
    """``seen`` (newest first) without the hosts that the newest complete sweep no longer had."""
    full = next((s.run for s in seen if _complete(s.run)), None)
    if full is None:
        return list(seen)
    mark = (full.started, full.run_id)
    members = {s.host for s in seen if (s.run.started, s.run.run_id) >= mark}
    return [s for s in seen if s.host in members]


def _latest(seen: Sequence[_Seen]) -> tuple[dict[str, _Seen], dict[str, _Seen]]:
    """(newest record per host, the record each host's state comes from: its newest probed record,
    else its newest record), from newest-first rows."""
    latest: dict[str, _Seen] = {}
    probed: dict[str, _Seen] = {}
    for s in seen:
        latest.setdefault(s.host, s)
        if s.status == HostStatus.ok.value:
            probed.setdefault(s.host, s)
    return latest, {host: probed.get(host, s) for host, s in latest.items()}


def source_run_ids(conn: Connection, runs: Sequence[RunSummary]) -> set[str]:
    """The runs the office state reads: each host's newest record and newest probed record."""
    latest, state = _latest(_members(_seen_rows(conn, {r.run_id: r for r in runs}, None)))
    return {s.run.run_id for s in (*latest.values(), *state.values())}


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
    latest, state = _latest(_members(_seen_rows(conn, usable, names)))
    if not state:
        return None
    by_id = {s.host_id: s for s in state.values()}
    hosts = sorted(_hosts(conn, sorted(by_id)), key=lambda h: h.host)
    sources = sorted({s.run.run_id: s.run for s in state.values()}.values(),
                     key=lambda r: (r.started, r.run_id), reverse=True)
    newest = sources[0]
    run = RunResult(
        run_id=newest.run_id,
        started=newest.started,
        finished=max(s.observed for s in state.values()),
        policies=_policies(sources),
        inventory=newest.inventory,
        hosts=hosts,
    )
    observations: dict[str, Observation] = {}
    for name, s in state.items():
        attempt = latest[name]
        failed = attempt is not s
        observations[name] = Observation(
            host=name, run_id=s.run.run_id, observed=s.observed, status=HostStatus(s.status),
            partial=s.run.partial, failed_since=attempt.observed if failed else None,
            failed_status=HostStatus(attempt.status) if failed else None)
    probed = {name: s for name, s in state.items() if s.status == HostStatus.ok.value}
    return OfficeState(run=run, observations=observations, certificates=_certificates(conn, probed),
                       sources=tuple(r.run_id for r in sources))


def office_trend(conn: Connection, runs: Sequence[RunSummary], *, days: int = 20,
                 names: Collection[str] | None = None) -> list[OfficeTrendPoint]:
    """The office state's compliance at the end of each of the last ``days`` office days with a run,
    oldest first (``runs``: the recorded runs, any order; ``names``: only these hosts)."""
    by_id = {r.run_id: r for r in runs}
    ordered = sorted(runs, key=lambda r: (r.started, r.run_id))
    h = schema.hosts.c
    rows: dict[str, list[tuple[str, str, bool | None]]] = {r.run_id: [] for r in ordered}
    for r in conn.execute(sa.select(h.run_id, h.host, h.status, h.compliant)):
        if r.run_id in by_id and (names is None or r.host in names):
            rows[r.run_id].append((r.host, r.status, r.compliant))
    state: dict[str, tuple[str, bool | None]] = {}
    points: dict[date, OfficeTrendPoint] = {}
    for run in ordered:  # runs replay in start order (a host's record in a later-started run wins)
        if _complete(run) and rows[run.run_id]:  # a complete sweep says which PCs the office has
            keep = {host for host, _, _ in rows[run.run_id]}
            state = {host: v for host, v in state.items() if host in keep}
        for host, status, compliant in rows[run.run_id]:
            if status == HostStatus.ok.value or state.get(host, ("", None))[0] != HostStatus.ok.value:
                state[host] = (status, compliant)  # a failed attempt keeps the last probed state
        probed = [c for status, c in state.values() if status == HostStatus.ok.value]
        day = office_date(run.started)
        points[day] = OfficeTrendPoint(day=day, last_run_id=run.run_id, at=run.started, hosts=len(state),
                                       probed=len(probed),
                                       compliant=sum(1 for c in probed if c))
    return [points[d] for d in sorted(points)][-days:]

