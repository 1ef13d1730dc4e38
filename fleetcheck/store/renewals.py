"""The ``renewals`` table's SQL (schema v4, :mod:`fleetcheck.store.renewal_schema`).

:class:`RenewalTable` stores rows that :mod:`fleetcheck.renew.records` builds
from renewal items, and reads them back as :class:`RenewalRecord`. It knows
the columns, not what a renewal state means (the caller passes states).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from fleetcheck.store.database import Store
from fleetcheck.store.renewal_schema import renewals

__all__ = ["RENEWAL_COLUMNS", "RenewalRecord", "RenewalTable"]

#: The columns a row written by :meth:`RenewalTable.insert` must have (``id`` is assigned).
RENEWAL_COLUMNS = tuple(c.name for c in renewals.columns if c.name != "id")


@dataclass(frozen=True)
class RenewalRecord:
    """One stored row (see :mod:`fleetcheck.store.renewal_schema` for the columns' meaning)."""

    id: int
    run_id: str
    host: str | None
    cn: str
    file_name: str
    pfx_sha256: str | None
    state: str
    reasons: list[dict[str, str]]
    operator: str | None
    operator_sid: str | None
    old_thumbprint: str | None
    old_not_after: str | None
    new_thumbprint: str | None
    new_not_after: str | None
    removed_old: str | None
    old_backup: dict[str, Any] | None
    forced: bool
    who: str
    created_at: str
    rolled_back_at: str | None


def _record(row: Any) -> RenewalRecord:
    return RenewalRecord(**{c.name: getattr(row, c.name) for c in renewals.columns})


class RenewalTable:
    """Read and write the ``renewals`` table of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store rows (each with exactly :data:`RENEWAL_COLUMNS`) in one transaction."""
        for row in rows:
            if set(row) != set(RENEWAL_COLUMNS):
                raise ValueError(f"renewal row columns {sorted(row)} are not {sorted(RENEWAL_COLUMNS)}")
        if rows:
            with self._engine.begin() as conn:
                conn.execute(renewals.insert(), [dict(r) for r in rows])

    def all(self) -> list[RenewalRecord]:
        """Every row, oldest first."""
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(sa.select(renewals).order_by(renewals.c.id))]

    def for_run(self, run_id: str) -> list[RenewalRecord]:
        """The rows of one renew run, in the order they were written."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(renewals).where(renewals.c.run_id == run_id).order_by(renewals.c.id))
            return [_record(r) for r in rows]

    def latest_run_with_state(self, state: str) -> str | None:
        """The run id of the newest row in ``state``, None when there is none."""
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(renewals.c.run_id).where(renewals.c.state == state)
                .order_by(renewals.c.id.desc()).limit(1)
            ).scalar()
        return None if found is None else str(found)

    def set_state(self, record_id: int, state: str, *, rolled_back_at: str | None = None) -> None:
        """Change one row's state (and, for a rollback, when it happened)."""
        with self._engine.begin() as conn:
            conn.execute(renewals.update().where(renewals.c.id == record_id).values(
                state=state, rolled_back_at=rolled_back_at))
