"""The fix planner registry: check type name -> planner. Filled by :mod:`fleetcheck.remediate.fixes`."""

from __future__ import annotations

from fleetcheck.remediate.proposal import Planner

__all__ = ["FIX_PLANNERS", "register_fix"]

FIX_PLANNERS: dict[str, Planner] = {}


def register_fix(check_type: str, planner: Planner) -> None:
    """Make ``check_type`` findings with ``fix: auto`` plannable by ``planner``."""
    FIX_PLANNERS[check_type] = planner
