"""Undo one applied renewal run (``fleetcheck renew --rollback RUN`` and ``fleetcheck rollback --run RUN``).

:func:`rollback_renewal_run` runs the rollback and returns what happened; it
prints nothing. The commands print :meth:`RenewalRollback.lines` and exit with
:attr:`RenewalRollback.exit_code`:

- every certificate of the run restored: 0; some restore failed: 1;
- the run was already rolled back: 0 (the state asked for already holds,
  like "already installed"), said with the time it happened in office time;
- the run imported no certificate: 2, nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleetcheck.errors import EXIT_NONCOMPLIANT, EXIT_OK, EXIT_USAGE
from fleetcheck.i18n import T, Text
from fleetcheck.inventory import Inventory
from fleetcheck.officetime import office_time, office_zone
from fleetcheck.policy.loader import load_policy_files
from fleetcheck.remediate.guard import Guard
from fleetcheck.renew.apply import RenewalOptions, RollbackResult, rollback_renewals
from fleetcheck.renew.records import RenewalLog
from fleetcheck.runner import DEFAULT_TIMEOUT_S
from fleetcheck.store import Store
from fleetcheck.store.audit import local_user

__all__ = ["RenewalRollback", "rollback_renewal_run"]


@dataclass(frozen=True)
class RenewalRollback:
    """The outcome of undoing one renewal run."""

    run_id: str
    results: tuple[RollbackResult, ...]
    #: When ``results`` is empty: the stored (UTC) time the run was already rolled back, if it was.
    already_rolled_back_at: str | None = None

    @property
    def exit_code(self) -> int:
        if not self.results:
            return EXIT_OK if self.already_rolled_back_at else EXIT_USAGE
        return EXIT_OK if all(r.ok for r in self.results) else EXIT_NONCOMPLIANT

    def lines(self) -> list[Text]:
        """One line per certificate, or the one line saying why there was nothing to undo."""
        run_id = self.run_id
        if self.results:
            return [T(f"  {'✓' if r.ok else '✗'} {r.record.cn}  {r.message.zh}",
                      f"  {'✓' if r.ok else '✗'} {r.record.cn}  {r.message.en}") for r in self.results]
        if self.already_rolled_back_at:
            at = f"{office_time(self.already_rolled_back_at)} ({office_zone().key})"  # stored UTC, shown in office time
            return [T(f"证书更新 {run_id} 已于 {at} 回滚，没有可再回滚的内容",
                      f"the renewal run {run_id} was already rolled back (at {at}): nothing left to undo")]
        return [T(f"证书更新 {run_id} 没有导入任何证书，没有可回滚的内容",
                  f"the renewal run {run_id} imported no certificate: nothing to roll back")]


def rollback_renewal_run(store: Store, run_id: str, inventory: Inventory, timeout_s: float = DEFAULT_TIMEOUT_S, *,
                         policies: Sequence[Any] | None = None, guard: Guard | None = None,
                         force: bool = False, who: str | None = None) -> RenewalRollback | None:
    """Undo the renewal run ``run_id``; None when it is not a renewal run at all.

    (None lets ``fleetcheck rollback --run`` tell a renewal run from a fix run.)
    ``policies`` default to the shipped pack; ``who`` to the local user (audited).
    """
    records = RenewalLog(store).for_run(run_id)
    if not records:
        return None
    chosen = list(policies) if policies is not None else load_policy_files()
    results = rollback_renewals(run_id, store, inventory, chosen, guard=guard or Guard(),
                                options=RenewalOptions(force=force, who=who or local_user(), timeout_s=timeout_s))
    undone = sorted(r.rolled_back_at for r in records if r.rolled_back_at)
    return RenewalRollback(run_id=run_id, results=tuple(results),
                           already_rolled_back_at=undone[-1] if undone and not results else None)
