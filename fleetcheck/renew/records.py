"""Renewal records in the store (table ``renewals``, schema v4): history, pending state, rollback data.

Only applied runs are recorded (a dry run changes nothing and records
nothing). What is stored is what :mod:`fleetcheck.store.renewal_schema`
lists: never a password, never PFX bytes.

Example::

    with Store.open(url) as store:
        log = RenewalLog(store)
        log.record(run_id, items, who="TRADE\\\\admin")
        log.pending()            # latest state per (host, CN) == pending
        log.for_run(run_id)      # what --rollback undoes
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from fleetcheck.renew.plan import RenewalItem, RenewalState
from fleetcheck.store import Store
from fleetcheck.store.renewal_schema import renewals

__all__ = ["RenewalLog", "RenewalRecord"]


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat()


@dataclass(frozen=True)
class RenewalRecord:
    """One stored row (see the schema module for the columns' meaning)."""

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


class RenewalLog:
    """Read and write the ``renewals`` table of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self._engine: sa.engine.Engine = store._engine

    def record(self, run_id: str, items: list[RenewalItem], who: str, now: datetime | None = None) -> None:
        """Store every item of an applied run (one transaction)."""
        when = _iso(now or datetime.now(timezone.utc))
        rows = [self._row(run_id, item, who, when or "") for item in items]
        if rows:
            with self._engine.begin() as conn:
                conn.execute(renewals.insert(), rows)

    @staticmethod
    def _row(run_id: str, item: RenewalItem, who: str, when: str) -> dict[str, Any]:
        pfx, old = item.pfx, item.installed
        return {
            "run_id": run_id,
            "host": item.host,
            "cn": item.cn,
            "file_name": item.file_name,
            "pfx_sha256": pfx.sha256 if pfx else None,
            "state": item.state.value,
            "reasons": [{"code": r.code, "zh": r.reason.zh, "en": r.reason.en} for r in item.reasons]
            + [{"code": "note", "zh": n.zh, "en": n.en} for n in item.notes],
            "operator": item.operator,
            "operator_sid": item.operator_sid,
            "old_thumbprint": old.thumbprint if old else None,
            "old_not_after": _iso(old.not_after) if old else None,
            "new_thumbprint": item.new_thumbprint,
            "new_not_after": _iso(pfx.not_after) if pfx else None,
            "removed_old": item.removed_old,
            "old_backup": item.old_backup,
            "forced": item.forced,
            "who": who,
            "created_at": when,
            "rolled_back_at": None,
        }

    def all(self) -> list[RenewalRecord]:
        """Every row, oldest first."""
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(sa.select(renewals).order_by(renewals.c.id))]

    def for_run(self, run_id: str) -> list[RenewalRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(renewals).where(renewals.c.run_id == run_id).order_by(renewals.c.id))
            return [_record(r) for r in rows]

    def latest_run_id(self) -> str | None:
        """The newest run that installed something (what ``--rollback latest`` means)."""
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(renewals.c.run_id).where(renewals.c.state == RenewalState.installed.value)
                .order_by(renewals.c.id.desc()).limit(1)
            ).scalar()
        return None if found is None else str(found)

    def pending(self) -> list[RenewalRecord]:
        """Renewals whose latest record for their (host, CN) is ``pending``."""
        latest: dict[tuple[str | None, str], RenewalRecord] = {}
        for rec in self.all():
            latest[(rec.host, rec.cn.casefold())] = rec
        return [r for r in latest.values() if r.state == RenewalState.pending.value]

    def mark_rolled_back(self, record_id: int, now: datetime | None = None) -> None:
        with self._engine.begin() as conn:
            conn.execute(renewals.update().where(renewals.c.id == record_id).values(
                state=RenewalState.rolled_back.value, rolled_back_at=_iso(now or datetime.now(timezone.utc))))
