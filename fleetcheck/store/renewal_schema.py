"""Tables of schema v4: certificate renewals (``fleetcheck renew``), one row per PFX per run.

Frozen as of migration v4 (see :mod:`fleetcheck.store.migrations`): a later
change needs a new migration. Portable types only (SQLite and PostgreSQL).

``renewals`` — what happened to one PFX file in one renew run: the target
host and operator, the state (``refused`` / ``pending`` / ``installed`` /
``already_installed`` / ``guard_refused`` / ``failed`` / ``skipped`` /
``rolled_back``), the reasons (bilingual, with codes), the old and new
thumbprints, and, when ``--remove-old`` removed the old certificate, its
backup (the agent's ``before_tree`` / ``before_file``: a public certificate
blob and key-provider *name*, no key material) so rollback can restore it.
Never a password or PFX bytes: only the PFX's SHA-256. Dry runs are not
recorded. Pending renewals are the rows whose latest state for a (host, CN)
is ``pending``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

metadata = sa.MetaData()

renewals = sa.Table(
    "renewals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(100), nullable=False, index=True),
    sa.Column("host", sa.String(300), index=True),
    sa.Column("cn", sa.String(300), nullable=False, index=True),
    sa.Column("file_name", sa.String(500), nullable=False),
    sa.Column("pfx_sha256", sa.String(64)),
    sa.Column("state", sa.String(30), nullable=False, index=True),
    sa.Column("reasons", sa.JSON),  # [{"code", "zh", "en"}]
    sa.Column("operator", sa.String(300)),
    sa.Column("operator_sid", sa.String(200)),
    sa.Column("old_thumbprint", sa.String(40)),
    sa.Column("old_not_after", sa.String(40)),  # ISO 8601 UTC
    sa.Column("new_thumbprint", sa.String(40)),
    sa.Column("new_not_after", sa.String(40)),
    sa.Column("removed_old", sa.String(40)),  # thumbprint removed with --remove-old
    sa.Column("old_backup", sa.JSON),  # {"tree": RegKey dump, "file": FileInfo dump}
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("who", sa.String(300), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("rolled_back_at", sa.String(40)),
)


def create_v4(conn: Connection) -> None:
    """Migration v4: create ``renewals`` (existing tables untouched)."""
    metadata.create_all(conn)
