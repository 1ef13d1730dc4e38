"""A cheap "has the store changed?" signal for caches (the dashboard's office view).

:func:`read_marker` reads, in ONE ``SELECT`` of scalar sub-queries, a handful
of aggregates that change whenever anything a view shows is written:

* a run recorded, re-recorded (same id: new ``recorded`` time, new host ids)
  or pruned (the run count drops);
* an audit entry appended (the audit head's ``seq``);
* a change record written (count) or rolled back (newest ``rolled_back_at``);
* a renewal recorded (count) or rolled back (newest ``rolled_back_at``).

Each aggregate is a primary-key ``max`` or a ``count``/``max`` over a small
table; the large tables (hosts, findings) are only touched through their
primary key index. Compare two markers with ``==``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fleetcheck.store import audit_schema, renewal_schema, schema
from fleetcheck.store.values import from_db

__all__ = ["ChangeMarker", "read_marker"]


@dataclass(frozen=True)
class ChangeMarker:
    """What :func:`read_marker` read; equal markers mean nothing a view shows was written in between."""

    latest_run_id: str | None
    runs: int
    last_recorded: datetime | None
    last_host_id: int
    audit_seq: int
    changes: int
    last_rollback: str | None
    renewals: int
    last_renewal_rollback: str | None


def _scalar(query: Any) -> Any:
    return query.scalar_subquery()


def read_marker(conn: Connection) -> ChangeMarker:
    """The store's current marker (one round trip)."""
    runs, hosts = schema.runs.c, schema.hosts.c
    changes, renewals = audit_schema.changes.c, renewal_schema.renewals.c
    row = conn.execute(sa.select(
        _scalar(sa.select(runs.run_id).order_by(runs.started.desc(), runs.run_id.desc()).limit(1)),
        _scalar(sa.select(sa.func.count()).select_from(schema.runs)),
        _scalar(sa.select(sa.func.max(runs.recorded))),
        _scalar(sa.select(sa.func.max(hosts.id))),
        _scalar(sa.select(sa.func.max(audit_schema.audit_head.c.seq))),
        _scalar(sa.select(sa.func.count()).select_from(audit_schema.changes)),
        _scalar(sa.select(sa.func.max(changes.rolled_back_at))),
        _scalar(sa.select(sa.func.count()).select_from(renewal_schema.renewals)),
        _scalar(sa.select(sa.func.max(renewals.rolled_back_at))),
    )).one()
    return ChangeMarker(
        latest_run_id=row[0],
        runs=int(row[1] or 0),
        last_recorded=from_db(row[2]),
        last_host_id=int(row[3] or 0),
        audit_seq=int(row[4] or 0),
        changes=int(row[5] or 0),
        last_rollback=row[6],
        renewals=int(row[7] or 0),
        last_renewal_rollback=row[8],
    )
