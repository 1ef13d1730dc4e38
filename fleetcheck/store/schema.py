"""The run-history schema, as SQLAlchemy Core tables (the current version).

Portable types only (String, Integer, Boolean, DateTime, JSON, Text) so that the
same tables work on SQLite and PostgreSQL. Datetimes are stored as naive UTC
(SQLite has no time zone type); the store converts on the way in and out.

Foreign keys are declared for documentation and for PostgreSQL; deletes never
rely on ``ON DELETE CASCADE`` (SQLite leaves foreign keys off by default), the
store deletes children explicitly.

Nothing secret is ever stored: RunResult holds no passwords, and the raw probe
facts (``HostResult.facts``) are deliberately not persisted — they are large and
may carry registry data an auditor does not need; findings carry what matters.

Extension point for later issues (fix actions with rollback data, the
hash-chained audit log): add the tables here AND a new migration function at the
end of ``fleetcheck.store.migrations.MIGRATIONS`` that creates them; never edit
an already released migration.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: One row per applied migration; the highest ``version`` is the schema version.
schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied", sa.DateTime, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(100), primary_key=True),
    sa.Column("started", sa.DateTime, nullable=False, index=True),
    sa.Column("finished", sa.DateTime),
    sa.Column("policies", sa.JSON, nullable=False),
    sa.Column("inventory", sa.String(1000)),
    sa.Column("hosts_total", sa.Integer, nullable=False),
    sa.Column("hosts_probed", sa.Integer, nullable=False),
    sa.Column("hosts_compliant", sa.Integer, nullable=False),
    sa.Column("hosts_failed", sa.Integer, nullable=False),  # not probed (unreachable, auth…)
    sa.Column("findings_fail", sa.Integer, nullable=False),
    sa.Column("findings_error", sa.Integer, nullable=False),
    sa.Column("recorded", sa.DateTime, nullable=False),
    # schema v6: what the run set out to see (RunResult.scope), how many hosts, and whether it stopped early
    sa.Column("scope", sa.String(20)),
    sa.Column("hosts_planned", sa.Integer),
    sa.Column("interrupted", sa.Boolean),
)

hosts = sa.Table(
    "hosts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(100), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),  # order in the run
    sa.Column("host", sa.String(300), nullable=False),
    sa.Column("address", sa.String(300)),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("error_class", sa.String(200)),
    sa.Column("error", sa.JSON),  # {"zh": ..., "en": ...}
    sa.Column("started", sa.DateTime),
    sa.Column("finished", sa.DateTime),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("operator", sa.String(300)),
    sa.Column("operator_sid", sa.String(200)),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("branch", sa.String(300)),  # added in schema v2
    # {"file", "collected", "listed"}: the answer came by a local collection file (schema v5)
    sa.Column("local_collection", sa.JSON),
    sa.Column("compliant", sa.Boolean),  # schema v6: HostResult.compliant (NULL: not probed)
    # schema v6: a host is recorded at most once per run (re-recording a run replaces it whole)
    sa.Index("ux_hosts_run_host", "run_id", "host", unique=True),
    sa.Index("ix_hosts_host", "host"),
)

findings = sa.Table(
    "findings",
    metadata,
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
    sa.Column("details", sa.JSON),  # added in schema v2
    sa.Column("requirement", sa.String(20)),  # added in schema v2
)

#: Every gateway certificate seen, from certificate findings' ``details`` (schema v2).
certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(100), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), nullable=False),
    sa.Column("host", sa.String(300), nullable=False),
    sa.Column("thumbprint", sa.String(100)),
    sa.Column("subject_cn", sa.String(500)),
    sa.Column("issuer", sa.String(1000)),
    sa.Column("not_after", sa.DateTime),
    sa.Column("days_left", sa.Integer),
    sa.Column("kind", sa.String(20)),
    sa.Column("has_private_key", sa.Boolean),
    sa.Column("store", sa.String(20)),
    sa.Column("user", sa.String(300)),
)

#: Hosts that could not be probed, one row each, for "which hosts keep failing" queries (v2).
host_errors = sa.Table(
    "host_errors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(100), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("hosts.id"), nullable=False),
    sa.Column("host", sa.String(300), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("error_class", sa.String(200)),
    sa.Column("message", sa.JSON),
    sa.Column("attempts", sa.Integer, nullable=False),
)

#: Children of a run, in the order they must be deleted.
RUN_CHILDREN: tuple[sa.Table, ...] = (certificates, host_errors, findings, hosts)
