"""Building blocks the per-type fix planners share: the write accumulator and value helpers. Pure."""

from __future__ import annotations

from typing import Any

from fleetcheck.agent.contract import Action, DeleteKey, DeleteValue, Hive, RegValue, SetValue
from fleetcheck.checks.base import reg_query
from fleetcheck.checks.facts import FactError, reg_location, registry_key
from fleetcheck.i18n import T, Text
from fleetcheck.remediate.proposal import FixContext, Proposal, show_value

__all__ = ["Writes", "dword_value", "like", "value_at"]


class Writes:
    """Accumulates the actions of one finding's fix and the diff line of each.

    ``set``/``delete_value`` skip a write that would change nothing; ``add``
    appends any other action with its own diff line. ``HKU`` writes go to the
    operator's hive (a :class:`FactError` without an operator).
    """

    def __init__(self, fctx: FixContext) -> None:
        self.fctx = fctx
        self.actions: list[Action] = []
        self.diff: list[Text] = []

    def next_id(self) -> str:
        """The id the next action gets: ``<check id>-<n>``."""
        return f"{self.fctx.finding.check_id}-{len(self.actions) + 1}"

    def _sid(self, hive: Hive) -> str | None:
        if hive != "HKU":
            return None
        if self.fctx.operator is None:
            raise FactError(T("没有操作员登录，无法写入用户设置", "no operator logged on: user settings cannot be written"))
        return self.fctx.operator.sid

    def add(self, action: Action, diff: Text) -> None:
        """Append ``action`` (built with :meth:`next_id`) and the line that describes it."""
        self.actions.append(action)
        self.diff.append(diff)

    def set(self, hive: Hive, path: str, name: str, value: RegValue, before: RegValue | None) -> None:
        """Write ``value`` unless ``before`` already equals it."""
        if before is not None and before == value:
            return
        sid = self._sid(hive)
        where = f"{reg_location(hive, path, sid)} [{name or '(默认 default)'}]"
        self.add(SetValue(id=self.next_id(), hive=hive, sid=sid, path=path, name=name, value=value),
                 T(f"{where}: {show_value(before)} → {show_value(value)}",
                   f"{where}: {show_value(before)} → {show_value(value)}"))

    def delete_value(self, hive: Hive, path: str, name: str, before: RegValue | None) -> None:
        """Delete the value unless it is already absent (``before`` None)."""
        if before is None:
            return
        sid = self._sid(hive)
        where = f"{reg_location(hive, path, sid)} [{name}]"
        self.add(DeleteValue(id=self.next_id(), hive=hive, sid=sid, path=path, name=name),
                 T(f"{where}: {show_value(before)} → 删除", f"{where}: {show_value(before)} → deleted"))

    def delete_key(self, hive: Hive, path: str) -> None:
        """Delete the key with its subtree (the agent backs it up for rollback)."""
        sid = self._sid(hive)
        where = reg_location(hive, path, sid)
        self.add(DeleteKey(id=self.next_id(), hive=hive, sid=sid, path=path),
                 T(f"{where}: 删除整个键（先备份） → 不存在", f"{where}: key deleted (backed up) → absent"))

    def proposal(self, **extra: Any) -> Proposal:
        """The accumulated writes as a :class:`Proposal` (``extra``: its other fields)."""
        return Proposal(actions=tuple(self.actions), diff=tuple(self.diff), **extra)


def dword_value(value: int) -> RegValue:
    """``value`` as a REG_DWORD."""
    return RegValue(t="DWORD", v=value)


def like(before: RegValue | None, want: int | str) -> RegValue:
    """``want`` in the type the value already has, when that type can hold it (REG_SZ "0" stays REG_SZ)."""
    if isinstance(want, int):
        if before is not None and before.t in ("SZ", "EXPAND_SZ"):
            return RegValue(t=before.t, v=str(want))
        if before is not None and before.t == "QWORD":
            return RegValue(t="QWORD", v=want)
        return dword_value(want)
    if before is not None and before.t == "EXPAND_SZ":
        return RegValue(t="EXPAND_SZ", v=want)
    return RegValue(t="SZ", v=want)


def value_at(fctx: FixContext, hive: Hive, path: str, name: str) -> RegValue | None:
    """The current value from the facts, when the scan read that key; None if absent or not read."""
    query = reg_query(hive, path)
    try:
        key = registry_key(fctx.ctx, query, user=hive == "HKU")
    except FactError:
        return None
    return key.value(name) if key is not None else None
