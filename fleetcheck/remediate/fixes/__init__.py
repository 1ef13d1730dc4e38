"""Fix planners, one module per check type: a failing finding -> contract write actions. Pure.

``FIX_PLANNERS[check_type](spec, fctx) -> Proposal``; register a new one with
:func:`register_fix`. Each planner re-derives the current state from the
host's facts (the same public readers the check modules use) and proposes the
smallest set of writes that makes the check pass, each with a
``before → after`` diff. The decisions of each type are in its module's
docstring: :mod:`.zone_action`, :mod:`.trusted_site`, :mod:`.edge_policy`,
:mod:`.registry_value` (the value written in the layer that decides the
effective value), :mod:`.ie_mode_site` (fleetcheck's own site list),
:mod:`.activex` (re-enable, or clear a stale registration and reboot),
:mod:`.installed_program` (only with an installer given by the admin).

The interface a planner implements is in :mod:`fleetcheck.remediate.proposal`;
:mod:`fleetcheck.remediate.plan` runs the planners registered here. This
package imports neither ``plan`` nor anything that imports it.
"""

from __future__ import annotations

from fleetcheck.remediate.fixes.activex import plan_activex
from fleetcheck.remediate.fixes.edge_policy import plan_edge_policy
from fleetcheck.remediate.fixes.ie_mode_site import plan_ie_mode_site, site_list_xml
from fleetcheck.remediate.fixes.installed_program import plan_installed_program
from fleetcheck.remediate.fixes.registry import FIX_PLANNERS, register_fix
from fleetcheck.remediate.fixes.registry_value import plan_registry_value
from fleetcheck.remediate.fixes.trusted_site import plan_trusted_site
from fleetcheck.remediate.fixes.zone_action import plan_zone_action

__all__ = [
    "FIX_PLANNERS",
    "plan_activex",
    "plan_edge_policy",
    "plan_ie_mode_site",
    "plan_installed_program",
    "plan_registry_value",
    "plan_trusted_site",
    "plan_zone_action",
    "register_fix",
    "site_list_xml",
]

register_fix("zone_action", plan_zone_action)
register_fix("trusted_site", plan_trusted_site)
register_fix("edge_policy", plan_edge_policy)
register_fix("ie_mode_site", plan_ie_mode_site)
register_fix("activex", plan_activex)
register_fix("installed_program", plan_installed_program)
register_fix("registry_value", plan_registry_value)
