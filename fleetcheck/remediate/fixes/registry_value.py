"""Fix planner for ``registry_value``: the expected value written (or the value deleted) in its view. Pure.

The first view (64/32-bit) that has the value is corrected in place, in the
type it already has; with no value anywhere, the first view the spec reads.
``absent`` deletes it in every view. A value required only to exist, or to
have a version, cannot be written: its data is unknown.
"""

from __future__ import annotations

from fleetcheck.agent.contract import Hive, RegValue
from fleetcheck.checks import registry_value
from fleetcheck.i18n import T
from fleetcheck.remediate.fixes.writes import Writes, like, value_at
from fleetcheck.remediate.proposal import FixContext, Proposal

__all__ = ["plan_registry_value"]


def plan_registry_value(spec: registry_value.Spec, fctx: FixContext) -> Proposal:
    """The write or deletes that make the value meet the spec."""
    if spec.exists or spec.version is not None:
        return Proposal(manual=T("要求“存在”或版本的值无法自动写入：不知道应写什么",
                                 "a value required to exist or to have a version cannot be written: its data is unknown"))
    hive: Hive = spec.hive
    paths = [q.path for _, q in registry_value.view_queries(spec)]
    w = Writes(fctx)
    if spec.absent:
        for path in paths:
            w.delete_value(hive, path, spec.name, value_at(fctx, hive, path, spec.name))
        return w.proposal()
    want = spec.equals if spec.equals is not None else (spec.in_[0] if spec.in_ else None)
    if want is None:
        return Proposal(manual=T("没有可写入的期望值", "no expected value to write"))
    found: tuple[str, RegValue] | None = None
    for path in paths:
        val = value_at(fctx, hive, path, spec.name)
        if val is not None:
            found = (path, val)
            break
    path, before = found if found is not None else (paths[0], None)
    w.set(hive, path, spec.name, like(before, want), before)
    return w.proposal()
