"""Remediation: plan fixes (pure), guard, apply with verification, roll back.

Modules: :mod:`.plan` (pure planner), :mod:`.fixes` (per check type fix
planners), :mod:`.guard` (trading hours / trading clients), :mod:`.apply`
(one round trip of actions, re-probe, verify, record), :mod:`.rollback`.
The audit log and the change records live in :mod:`fleetcheck.store.audit`.
"""
