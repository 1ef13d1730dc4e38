"""Renewal records in the store (table ``renewals``, schema v4): history, pending state, rollback data.

Only applied runs are recorded (a dry run changes nothing and records
nothing). What is stored is what :mod:`fleetcheck.store.renewal_schema`
lists: never a password, never PFX bytes. The SQL is in
:mod:`fleetcheck.store.renewals`; this module turns renewal items into rows
and knows what the states mean.

Example::

    with Store.open(url) as store:
        log = RenewalLog(store)
        log.record(run_id, items, who="TRADE\\\\admin")
        log.pending()            # latest state per (host, CN) == pending
        log.for_run(run_id)      # what --rollback undoes
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fleetcheck.renew.plan import RenewalItem, RenewalState
from fleetcheck.store import Store
from fleetcheck.store.renewals import RenewalRecord, RenewalTable
from fleetcheck.store.values import iso_utc

__all__ = ["RenewalLog", "RenewalRecord"]


class RenewalLog:
    """Renewal history of a :class:`Store`: what was installed, what is pending, what rollback undoes."""

    def __init__(self, store: Store) -> None:
        self._table = RenewalTable(store)

    def record(self, run_id: str, items: list[RenewalItem], who: str, now: datetime | None = None) -> None:
        """Store every item of an applied run (one transaction)."""
        when = iso_utc(now or datetime.now(timezone.utc)) or ""
        self._table.insert([self._row(run_id, item, who, when) for item in items])

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
            "old_not_after": iso_utc(old.not_after) if old else None,
            "new_thumbprint": item.new_thumbprint,
            "new_not_after": iso_utc(pfx.not_after) if pfx else None,
            "removed_old": item.removed_old,
            "old_backup": item.old_backup,
            "forced": item.forced,
            "who": who,
            "created_at": when,
            "rolled_back_at": None,
        }

    def all(self) -> list[RenewalRecord]:
        """Every row, oldest first."""
        return self._table.all()

    def for_run(self, run_id: str) -> list[RenewalRecord]:
        return self._table.for_run(run_id)

    def latest_run_id(self) -> str | None:
        """The newest run that installed something (what ``--rollback latest`` means)."""
        return self._table.latest_run_with_state(RenewalState.installed.value)

    def pending(self) -> list[RenewalRecord]:
        """Renewals whose latest record for their (host, CN) is ``pending``."""
        latest: dict[tuple[str | None, str], RenewalRecord] = {}
        for rec in self.all():
            latest[(rec.host, rec.cn.casefold())] = rec
        return [r for r in latest.values() if r.state == RenewalState.pending.value]

    def mark_rolled_back(self, record_id: int, now: datetime | None = None) -> None:
        self._table.set_state(record_id, RenewalState.rolled_back.value,
                              rolled_back_at=iso_utc(now or datetime.now(timezone.utc)))
