"""One host's rows across the store, for its timeline (``fleetcheck host NAME``, the dashboard's host page).

:func:`host_rows` reads, for one host name, newest first and bounded:

* its **observations**: every host row of a recorded run (the run's id, start,
  scope and interrupted flag; the host's status, error and times) with the
  status of each of its findings;
* its **change records** (``changes``: what each ``fleetcheck fix`` wrote);
* its **audit entries** that are not in the change records: refusals and
  rollbacks (``refused``, ``rolled_back``, ``rollback_failed``, ``skipped``);
* its **renewal records** (``renewals``).

What the rows mean (which checks changed state, what a fix or a rollback did)
is :mod:`fleetcheck.report.timeline`'s job; this module only knows the columns.

Bounds: a timeline of the newest ``limit`` entries holds at most ``limit``
entries of each kind, so each source is read to at most that many entries:
observations ``limit`` + 1 (the oldest one shown needs the one before it to
say what changed), at most :data:`COPIES_PER_OBSERVATION` host rows per
observation (a dashboard rescan before schema v6 re-recorded the other hosts'
last observation unchanged in its new run); the change records of the newest
``limit`` fix runs that touched the host; the newest
``limit`` × :data:`AUDIT_ROWS_PER_ENTRY` audit entries and ``limit`` renewal rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fleetcheck.i18n import Text
from fleetcheck.store import schema
from fleetcheck.store.audit_schema import audit_log, changes
from fleetcheck.store.renewal_schema import renewals
from fleetcheck.store.values import from_db, text_or_none

__all__ = [
    "AUDIT_EVENTS",
    "AUDIT_ROWS_PER_ENTRY",
    "COPIES_PER_OBSERVATION",
    "SIMILAR_NAMES",
    "AuditRow",
    "ChangeRow",
    "CheckRow",
    "HostRows",
    "ObservationRow",
    "RenewalRow",
    "host_rows",
]

#: Audit events a timeline reads from the log (fixes' own events are read from the change records).
AUDIT_EVENTS = ("refused", "rolled_back", "rollback_failed", "skipped")
#: Audit entries read per timeline entry asked for (one rollback of one fix run writes one entry per action).
AUDIT_ROWS_PER_ENTRY = 50
#: Differently-cased names suggested for an unknown host.
SIMILAR_NAMES = 5
#: Host rows read per observation asked for (an unchanged copy of an observation in a later run is one row).
COPIES_PER_OBSERVATION = 4


@dataclass(frozen=True)
class CheckRow:
    """One finding of an observation: which check, its state, its title."""

    policy_id: str
    check_id: str
    status: str
    title: Text


@dataclass(frozen=True)
class ObservationRow:
    """The host as one recorded run saw it."""

    run_id: str
    run_started: datetime
    scope: str | None  # office | limit | rescan | verify | collect; None: recorded before schema v6
    interrupted: bool
    status: str  # the host's status (ok, unreachable, auth_failed, …)
    error_class: str | None
    error: Text | None
    started: datetime | None
    finished: datetime | None
    checks: tuple[CheckRow, ...]

    @property
    def at(self) -> datetime:
        """When the host was observed: its probe's end, else its start, else the run's start."""
        return self.finished or self.started or self.run_started


@dataclass(frozen=True)
class ChangeRow:
    """One write action a fix carried out on the host (a row of ``changes``)."""

    action_id: str
    run_id: str
    position: int
    check_id: str | None
    kind: str
    status: str  # pending | unknown | applied | not_applied | failed | rolled_back
    error: str | None
    who: str
    forced: bool
    applied_at: str  # ISO 8601 UTC
    rolled_back_at: str | None


@dataclass(frozen=True)
class AuditRow:
    """One audit entry of the host (only :data:`AUDIT_EVENTS`)."""

    seq: int
    at: str  # ISO 8601 UTC
    who: str
    run_id: str | None
    action_id: str | None
    event: str
    result: str
    forced: bool
    details: dict[str, Any]


@dataclass(frozen=True)
class RenewalRow:
    """One PFX of one renew run for the host (a row of ``renewals``)."""

    run_id: str
    cn: str
    file_name: str
    state: str
    reasons: tuple[dict[str, str], ...]
    old_thumbprint: str | None
    new_thumbprint: str | None
    new_not_after: str | None
    removed_old: str | None
    forced: bool
    who: str
    created_at: str  # ISO 8601 UTC
    rolled_back_at: str | None


@dataclass(frozen=True)
class HostRows:
    """Everything the store holds about one host, newest first within each source (bounded, see module)."""

    host: str
    observations: tuple[ObservationRow, ...]
    changes: tuple[ChangeRow, ...]
    audit: tuple[AuditRow, ...]
    renewals: tuple[RenewalRow, ...]
    store_empty: bool  # no run, change, audit entry or renewal at all, of any host
    similar: tuple[str, ...] = ()  # for an unknown host: recorded names that differ only in case

    @property
    def known(self) -> bool:
        """The host appears somewhere in the store."""
        return bool(self.observations or self.changes or self.audit or self.renewals)


# --------------------------------------------------------------------------- observations


def _observations(conn: Connection, host: str, limit: int) -> tuple[ObservationRow, ...]:
    h, r = schema.hosts.c, schema.runs.c
    rows = conn.execute(
        sa.select(h.id, h.run_id, h.status, h.error_class, h.error, h.started, h.finished,
                  r.started.label("run_started"), r.scope, r.interrupted)
        .join_from(schema.hosts, schema.runs, h.run_id == r.run_id)
        .where(h.host == host)
        .order_by(r.started.desc(), r.run_id.desc())
        .limit((limit + 1) * COPIES_PER_OBSERVATION)
    ).all()
    checks: dict[int, list[CheckRow]] = {row.id: [] for row in rows}
    if rows:
        f = schema.findings.c
        for found in conn.execute(
            sa.select(f.host_id, f.policy_id, f.check_id, f.status, f.title)
            .where(f.host_id.in_(list(checks))).order_by(f.host_id, f.position)
        ):
            title = text_or_none(found.title)
            assert title is not None  # NOT NULL column
            checks[found.host_id].append(CheckRow(found.policy_id, found.check_id, found.status, title))
    out: list[ObservationRow] = []
    for row in rows:
        run_started = from_db(row.run_started)
        assert run_started is not None  # NOT NULL column
        out.append(ObservationRow(
            run_id=row.run_id, run_started=run_started, scope=row.scope, interrupted=bool(row.interrupted),
            status=row.status, error_class=row.error_class, error=text_or_none(row.error),
            started=from_db(row.started), finished=from_db(row.finished), checks=tuple(checks[row.id]),
        ))
    return tuple(out)


# --------------------------------------------------------------------------- changes, audit, renewals


def _changes(conn: Connection, host: str, limit: int) -> tuple[ChangeRow, ...]:
    c = changes.c
    newest_runs = (
        sa.select(c.run_id).where(c.host == host).group_by(c.run_id)
        .order_by(sa.func.max(c.applied_at).desc()).limit(limit)
    )
    run_ids = [r for r in conn.execute(newest_runs).scalars()]
    if not run_ids:
        return ()
    rows = conn.execute(
        sa.select(changes).where(c.host == host, c.run_id.in_(run_ids))
        .order_by(c.applied_at.desc(), c.position.desc())
    ).all()
    return tuple(ChangeRow(
        action_id=row.action_id, run_id=row.run_id, position=row.position, check_id=row.check_id, kind=row.kind,
        status=row.status, error=row.error, who=row.who, forced=bool(row.forced), applied_at=row.applied_at,
        rolled_back_at=row.rolled_back_at,
    ) for row in rows)


def _audit(conn: Connection, host: str, limit: int) -> tuple[AuditRow, ...]:
    a = audit_log.c
    rows = conn.execute(
        sa.select(a.seq, a.at, a.who, a.run_id, a.action_id, a.event, a.result, a.forced, a.details)
        .where(a.host == host, a.event.in_(AUDIT_EVENTS))
        .order_by(a.seq.desc()).limit(limit * AUDIT_ROWS_PER_ENTRY)
    ).all()
    return tuple(AuditRow(
        seq=row.seq, at=row.at, who=row.who, run_id=row.run_id, action_id=row.action_id, event=row.event,
        result=row.result, forced=bool(row.forced), details=row.details if isinstance(row.details, dict) else {},
    ) for row in rows)


def _renewals(conn: Connection, host: str, limit: int) -> tuple[RenewalRow, ...]:
    n = renewals.c
    rows = conn.execute(sa.select(renewals).where(n.host == host).order_by(n.id.desc()).limit(limit)).all()
    return tuple(RenewalRow(
        run_id=row.run_id, cn=row.cn, file_name=row.file_name, state=row.state,
        reasons=tuple(r for r in (row.reasons or ()) if isinstance(r, dict)),
        old_thumbprint=row.old_thumbprint, new_thumbprint=row.new_thumbprint, new_not_after=row.new_not_after,
        removed_old=row.removed_old, forced=bool(row.forced), who=row.who, created_at=row.created_at,
        rolled_back_at=row.rolled_back_at,
    ) for row in rows)


def _store_empty(conn: Connection) -> bool:
    for column in (schema.runs.c.run_id, changes.c.action_id, audit_log.c.seq, renewals.c.id):
        if conn.execute(sa.select(column).limit(1)).first() is not None:
            return False
    return True


def _similar(conn: Connection, host: str) -> tuple[str, ...]:
    """Recorded host names equal to ``host`` but for case (at most :data:`SIMILAR_NAMES`)."""
    h = schema.hosts.c
    names = conn.execute(
        sa.select(h.host).where(sa.func.lower(h.host) == host.lower()).distinct().order_by(h.host).limit(SIMILAR_NAMES)
    ).scalars()
    return tuple(str(n) for n in names)


def host_rows(conn: Connection, host: str, limit: int) -> HostRows:
    """The rows of ``host`` for a timeline of its newest ``limit`` entries (see the module docstring)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    found = HostRows(
        host=host,
        observations=_observations(conn, host, limit),
        changes=_changes(conn, host, limit),
        audit=_audit(conn, host, limit),
        renewals=_renewals(conn, host, limit),
        store_empty=False,
    )
    if found.known:
        return found
    return HostRows(host, (), (), (), (), store_empty=_store_empty(conn), similar=_similar(conn, host))
