"""Schema migrations: ordered functions, each taking the database one version up.

``schema_version`` records every applied version. Opening a database runs the
missing migrations in order inside one transaction, so an old database is
upgraded in place and its data kept. A fresh database goes through the very
same path (v1, then v2, …), so the upgrade path is exercised on every open.

Rules for the next engineer (fix actions, audit log):
* append a new function to :data:`MIGRATIONS`; never edit a released one;
* portable DDL only (SQLAlchemy constructs, ``ALTER TABLE … ADD COLUMN``);
  no SQLite-only SQL, so PostgreSQL works unchanged;
* a table created by a migration is frozen as of that migration: if a later
  version changes it, snapshot the old definition inside the old migration.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fleetcheck.i18n import T
from fleetcheck.store import audit_schema, renewal_schema, schema
from fleetcheck.store.errors import SchemaError

# --- v1: the first released shape (runs, hosts without branch, findings without details) ---
_v1 = sa.MetaData()
sa.Table(
    "runs",
    _v1,
    sa.Column("run_id", sa.String(100), primary_key=True),
    sa.Column("started", sa.DateTime, nullable=False, index=True),
    sa.Column("finished", sa.DateTime),
    sa.Column("policies", sa.JSON, nullable=False),
    sa.Column("inventory", sa.String(1000)),
    sa.Column("hosts_total", sa.Integer, nullable=False),
    sa.Column("hosts_probed", sa.Integer, nullable=False),
    sa.Column("hosts_compliant", sa.Integer, nullable=False),
    sa.Column("hosts_failed", sa.Integer, nullable=False),
    sa.Column("findings_fail", sa.Integer, nullable=False),
    sa.Column("findings_error", sa.Integer, nullable=False),
    sa.Column("recorded", sa.DateTime, nullable=False),
)
sa.Table(
    "hosts",
    _v1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(100), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("host", sa.String(300), nullable=False),
    sa.Column("address", sa.String(300)),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("error_class", sa.String(200)),
    sa.Column("error", sa.JSON),
    sa.Column("started", sa.DateTime),
    sa.Column("finished", sa.DateTime),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("operator", sa.String(300)),
    sa.Column("operator_sid", sa.String(200)),
    sa.Column("groups", sa.JSON, nullable=False),
)
sa.Table(
    "findings",
    _v1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(100), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("policy_id", sa.String(200), nullable=False),
    sa.Column("check_id", sa.String(200), nullable=False),
    sa.Column("check_type", sa.String(100), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("title", sa.JSON, nullable=False),
    sa.Column("expected", sa.Text),
    sa.Column("observed", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("message", sa.JSON),
    sa.Column("remedy", sa.JSON),
    sa.Column("guide", sa.String(100)),
    sa.Column("fix", sa.String(20), nullable=False),
    sa.Column("waiver", sa.JSON),
)
sa.Table(
    "schema_version",
    _v1,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied", sa.DateTime, nullable=False),
)


def _add_column(conn: Connection, table: str, column: sa.Column[object]) -> None:
    """Portable ``ALTER TABLE … ADD COLUMN`` (SQLite and PostgreSQL both accept it)."""
    prep = conn.dialect.identifier_preparer
    col_type = column.type.compile(dialect=conn.dialect)
    conn.execute(
        sa.text(f"ALTER TABLE {prep.quote(table)} ADD COLUMN {prep.quote(column.name)} {col_type}")
    )


def _v1_initial(conn: Connection) -> None:
    _v1.create_all(conn)


def _v2_branch_details_certificates(conn: Connection) -> None:
    """Host branch, finding details and R-number; certificate and host-error tables.

    Existing v1 rows keep their data; the new columns are NULL for them (v1 never
    recorded details, so there are no certificates to backfill). Host errors are
    backfilled from v1 hosts that were not probed.
    """
    _add_column(conn, "hosts", sa.Column("branch", sa.String(300)))
    _add_column(conn, "findings", sa.Column("details", sa.JSON))
    _add_column(conn, "findings", sa.Column("requirement", sa.String(20)))
    schema.certificates.create(conn)
    schema.host_errors.create(conn)
    failed = conn.execute(
        sa.select(
            schema.hosts.c.run_id,
            schema.hosts.c.id,
            schema.hosts.c.host,
            schema.hosts.c.status,
            schema.hosts.c.error_class,
            schema.hosts.c.error,
            schema.hosts.c.attempts,
        ).where(schema.hosts.c.status != "ok")
    ).all()
    if failed:
        conn.execute(
            schema.host_errors.insert(),
            [
                {
                    "run_id": r.run_id,
                    "host_id": r.id,
                    "host": r.host,
                    "status": r.status,
                    "error_class": r.error_class,
                    "message": r.error,
                    "attempts": r.attempts,
                }
                for r in failed
            ],
        )


def _v3_changes_audit(conn: Connection) -> None:
    """Fix actions with their rollback data, and the hash-chained audit log (new tables only)."""
    audit_schema.create_v3(conn)


def _v4_renewals(conn: Connection) -> None:
    """Certificate renewal records (``fleetcheck renew``): a new table only."""
    renewal_schema.create_v4(conn)


def _v5_local_collection(conn: Connection) -> None:
    """Hosts whose answer came by a local collection file (``collect import``): one nullable column."""
    _add_column(conn, "hosts", sa.Column("local_collection", sa.JSON))


def _v6_scope_unique_hosts(conn: Connection) -> None:
    """Each run's scope, planned host count and interrupted flag (three nullable columns: older runs
    read as scope unknown, not interrupted); each host row's verdict (``compliant``: true/false,
    NULL when not probed; back-filled from the findings, so the office trend needs no findings
    scan); one host row per run and host name (a unique index); an index on the host name
    (``fleetcheck host NAME``'s timeline).

    Every release before v6 recorded a host once per run (inventories reject duplicate names),
    so the index cannot fail on an existing store.
    """
    _add_column(conn, "runs", sa.Column("scope", sa.String(20)))
    _add_column(conn, "runs", sa.Column("hosts_planned", sa.Integer))
    _add_column(conn, "runs", sa.Column("interrupted", sa.Boolean))
    _add_column(conn, "hosts", sa.Column("compliant", sa.Boolean))
    # HostResult.compliant: probed and no finding failed, errored or was not evaluated.
    conn.execute(sa.text(
        "UPDATE hosts SET compliant = CASE WHEN status <> 'ok' THEN NULL "
        "WHEN EXISTS (SELECT 1 FROM findings f WHERE f.host_id = hosts.id "
        "AND f.status IN ('fail', 'error', 'not_evaluated')) THEN FALSE ELSE TRUE END"
    ))
    conn.execute(sa.text("CREATE UNIQUE INDEX ux_hosts_run_host ON hosts (run_id, host)"))
    conn.execute(sa.text("CREATE INDEX ix_hosts_host ON hosts (host)"))  # one host's timeline


#: Ordered migrations; index + 1 is the version each one produces.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _v1_initial,
    _v2_branch_details_certificates,
    _v3_changes_audit,
    _v4_renewals,
    _v5_local_collection,
    _v6_scope_unique_hosts,
)
CURRENT_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    """The schema version of the database behind ``conn`` (0 = empty database)."""
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    if "schema_version" not in tables:
        if "runs" in tables:
            raise SchemaError(T("有 runs 表但没有 schema_version 表", "runs table without schema_version"))
        return 0
    version = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    return int(version or 0)


#: The PostgreSQL advisory lock key migrations hold (any constant of our own: "fleetchk" as an integer).
MIGRATION_LOCK = 0x666C656574636B


def upgrade(conn: Connection) -> list[int]:
    """Apply every missing migration in order; returns the versions applied.

    Safe to run from every node at once on PostgreSQL: the transaction first takes
    a transaction-level advisory lock (``pg_advisory_xact_lock``, released at commit),
    so one node migrates and the others, once it committed, find nothing to do.
    SQLite is one file on one machine; its writers are serialised by the file lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    version = current_version(conn)
    if version > CURRENT_VERSION:
        raise SchemaError(T(
            f"数据库结构版本 {version} 比本 fleetcheck 支持的（{CURRENT_VERSION}）更新",
            f"schema version {version} is newer than this fleetcheck ({CURRENT_VERSION})",
        ))
    applied: list[int] = []
    for number in range(version + 1, CURRENT_VERSION + 1):
        MIGRATIONS[number - 1](conn)
        conn.execute(
            schema.schema_version.insert().values(
                version=number, applied=datetime.now(timezone.utc).replace(tzinfo=None)
            )
        )
        applied.append(number)
    return applied
