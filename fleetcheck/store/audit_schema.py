"""Tables of schema v3: change records (for rollback) and the hash-chained audit log.

Frozen as of migration v3 (see :mod:`fleetcheck.store.migrations`): a later
change to these tables needs a new migration, never an edit here without one.
Portable types only (SQLite and PostgreSQL).

* ``changes`` — one row per write action carried out on a host: the action
  (secrets removed), what was there before (value with its type, key tree,
  file content, the topmost registry key the action created), what it wrote,
  and its status (``applied`` / ``failed`` / ``rolled_back``). Keyed by
  ``action_id``; ``run_id`` groups the actions of one ``fleetcheck fix``.
* ``audit_log`` — append-only; ``seq`` is 1, 2, 3 …; every entry holds
  ``prev_hash`` (the previous entry's ``hash``) and its own ``hash`` =
  SHA-256 of its canonical JSON (see :mod:`fleetcheck.store.audit`).
* ``audit_head`` — one row: the last ``seq`` and ``hash``, updated in the same
  transaction as each append, so removing the newest entries is detected too.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

metadata = sa.MetaData()

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("action_id", sa.String(100), primary_key=True),
    sa.Column("run_id", sa.String(100), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),  # order within the run's host plan
    sa.Column("host", sa.String(300), nullable=False, index=True),
    sa.Column("check_id", sa.String(400)),
    sa.Column("kind", sa.String(40), nullable=False),  # the contract action kind
    sa.Column("action", sa.JSON, nullable=False),  # the contract action, secrets removed
    sa.Column("before", sa.JSON),  # {"value"|"tree"|"file"|"created_key": ...}
    sa.Column("after", sa.JSON),
    sa.Column("status", sa.String(20), nullable=False),  # applied | failed | rolled_back
    sa.Column("error", sa.Text),
    sa.Column("who", sa.String(300), nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("applied_at", sa.String(40), nullable=False),  # ISO 8601 UTC
    sa.Column("rolled_back_at", sa.String(40)),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(40), nullable=False),  # ISO 8601 UTC; a string so the hash input round-trips
    sa.Column("who", sa.String(300), nullable=False),
    sa.Column("host", sa.String(300), nullable=False),
    sa.Column("run_id", sa.String(100)),
    sa.Column("action_id", sa.String(100), index=True),
    sa.Column("event", sa.String(30), nullable=False),  # applied | failed | refused | rolled_back | rollback_failed
    sa.Column("action", sa.JSON),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("details", sa.JSON),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


def create_v3(conn: Connection) -> None:
    """Migration v3: create ``changes``, ``audit_log`` and ``audit_head`` (existing tables untouched)."""
    metadata.create_all(conn)
