"""Fix planner for ``edge_policy``: the setting corrected where Edge reads it. Pure.

The first layer that has the value (machine policy, user policy, machine
recommended, user recommended) is corrected in place, in the type it already
has; with no value anywhere, the machine policy key gets it. A setting whose
only acceptable state is "absent" is deleted where it is.
"""

from __future__ import annotations

from fleetcheck.agent.contract import Hive, RegValue
from fleetcheck.checks import edge_policy
from fleetcheck.checks.base import reg_query
from fleetcheck.checks.facts import registry_key
from fleetcheck.remediate.fixes.writes import Writes, like
from fleetcheck.remediate.proposal import FixContext, Proposal

__all__ = ["EDGE_LAYERS", "plan_edge_policy"]

EDGE_LAYERS: tuple[tuple[Hive, str], ...] = (
    ("HKLM", edge_policy.EDGE),
    ("HKU", edge_policy.USER_EDGE),
    ("HKLM", edge_policy.EDGE + r"\Recommended"),
    ("HKU", edge_policy.USER_EDGE + r"\Recommended"),
)


def _found(fctx: FixContext, name: str) -> tuple[Hive, str, RegValue] | None:
    for hive, path in EDGE_LAYERS:
        if hive == "HKU" and fctx.operator is None:
            continue
        key = registry_key(fctx.ctx, reg_query(hive, path), user=hive == "HKU")
        val = key.value(name) if key is not None else None
        if val is not None:
            return hive, path, val
    return None


def plan_edge_policy(spec: edge_policy.Spec, fctx: FixContext) -> Proposal:
    """The write (or delete) that gives the spec's main setting an acceptable value."""
    setting = spec.main_setting()
    found = _found(fctx, setting.name)
    want = setting.equals if setting.equals is not None else (setting.allowed[0] if setting.allowed else None)
    w = Writes(fctx)
    if want is None:  # only "absent" is acceptable: remove it where it is
        if found is not None:
            w.delete_value(found[0], found[1], setting.name, found[2])
        return w.proposal()
    hive: Hive = found[0] if found is not None else "HKLM"
    path = found[1] if found is not None else edge_policy.EDGE
    before = found[2] if found is not None else None
    w.set(hive, path, setting.name, like(before, want), before)
    return w.proposal()
