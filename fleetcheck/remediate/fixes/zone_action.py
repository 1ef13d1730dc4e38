"""Fix planner for ``zone_action``: the URL action written in the layer that decides it. Pure.

The value goes into the layer that decides the effective value (a policy
layer that overrides is corrected in place); otherwise per strategy
(``user``: the operator's preference, ``machine-policy``: the HKLM policy
key). Always REG_DWORD: IE does not read a REG_SZ URL action as its number.
"""

from __future__ import annotations

from fleetcheck.agent.contract import Hive
from fleetcheck.checks import ie_zones, zone_action
from fleetcheck.remediate.fixes.writes import Writes, dword_value, value_at
from fleetcheck.remediate.proposal import FixContext, Proposal

__all__ = ["plan_zone_action"]


def plan_zone_action(spec: zone_action.Spec, fctx: FixContext) -> Proposal:
    """The one ``SetValue`` that makes the zone's action ``spec.expected`` where IE reads it."""
    eff = ie_zones.effective_zone_action(fctx.ctx, spec.zone, str(spec.action))
    zone = f"Zones\\{spec.zone}"
    hive: Hive
    if eff.layer == ie_zones.LAYER_MACHINE_POLICY or fctx.options.strategy == "machine-policy":
        path, hive = f"{ie_zones.POLICY_IS}\\{zone}", "HKLM"
    elif eff.hklm_only:
        path, hive = ie_zones.machine_pref_path(fctx.ctx, zone), "HKLM"  # the view 32-bit IE reads
    elif eff.layer == ie_zones.LAYER_USER_POLICY:
        path, hive = f"{ie_zones.USER_POLICY_IS}\\{zone}", "HKU"
    else:
        path, hive = f"{ie_zones.USER_PREF_IS}\\{zone}", "HKU"
    before = value_at(fctx, hive, path, str(spec.action))
    w = Writes(fctx)
    w.set(hive, path, str(spec.action), dword_value(spec.expected), before)
    return w.proposal()
