"""Rollback restores the PC's data exactly, whatever its value names (review finding).

A deleted key's backed-up tree may hold values named like fleetcheck's own secrets
(``Password``, ``pfx``): those are the PC's data, and the change record keeps them as
read, so rollback restores the tree (masking them once made the tree unrestorable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetcheck.agent.contract import DeleteKey, RegValue
from fleetcheck.i18n import T
from fleetcheck.remediate.plan import FixStep, HostPlan
from fleetcheck.remediate.rollback import rollback_host
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog

from .test_write_ahead import SPEC, plan_for, probe_of, remediator, sim  # noqa: F401


@pytest.mark.parametrize(("name", "value"), [("Password", "x"), ("pfx", "QUJD"), ("winrm_password", "y")])
def test_a_deleted_tree_with_secret_looking_value_names_is_restored_exactly(
        sim: Any, tmp_path: Path, name: str, value: str) -> None:  # noqa: F811
    scan, _, policies = plan_for(sim)
    node = sim.image.hklm.ensure("SOFTWARE\\fleetcheck-test\\sub")
    node.values[name.lower()] = (name, RegValue(t="SZ", v=value))
    before = sim.snapshot()
    step = FixStep("p", "k", T("删除", "delete"),
                   (DeleteKey(id="d", hive="HKLM", path="SOFTWARE\\fleetcheck-test"),), (T("删除", "delete"),))
    real = probe_of(sim)
    with Store.open(f"sqlite:///{tmp_path / 'x.db'}") as store:
        # (The step's check id is made up, so its verification fails; the deletion itself is applied.)
        remediator(store, policies, real).apply_host(SPEC, scan, HostPlan(SPEC.name, None, (step,)))
        assert sim.image.hklm.find("SOFTWARE\\fleetcheck-test") is None
        changes, audit = ChangeLog(store), AuditLog(store)
        undone = rollback_host(SPEC, changes.for_host(SPEC.name), audit, changes, who="t", probe=real)
        assert undone.ok, undone.error
    assert sim.snapshot() == before


def test_an_action_that_failed_partway_is_still_rolled_back_exactly(
        sim: Any, tmp_path: Path) -> None:  # noqa: F811
    """The agent reports an error after DeleteSubKeyTree removed part of a tree (an ACL on one
    subkey, say): the change is recorded as possibly made, and rollback restores the tree."""
    scan, _, policies = plan_for(sim)
    for sub in ("a", "b"):
        sim.image.hklm.ensure(f"SOFTWARE\\fleetcheck-test\\{sub}").values["v"] = ("v", RegValue(t="SZ", v=sub))
    before = sim.snapshot()
    real = probe_of(sim)

    def half_done(host: Any, request: Any, deadline: Any, cancel: Any) -> Any:
        response = real(host, request, deadline, cancel)
        if not request.actions:
            return response
        sim.image.hklm.ensure("SOFTWARE\\fleetcheck-test\\b")  # the part that could not be deleted
        failed = [r.model_copy(update={"status": "error", "error": "Access to the registry key is denied."})
                  for r in response.actions]
        return response.model_copy(update={"actions": failed})

    step = FixStep("p", "k", T("删除", "delete"),
                   (DeleteKey(id="d", hive="HKLM", path="SOFTWARE\\fleetcheck-test"),), (T("删除", "delete"),))
    with Store.open(f"sqlite:///{tmp_path / 'x.db'}") as store:
        remediator(store, policies, half_done).apply_host(SPEC, scan, HostPlan(SPEC.name, None, (step,)))
        changes, audit = ChangeLog(store), AuditLog(store)
        assert [c.status for c in changes.for_host(SPEC.name)] == ["unknown"]
        undone = rollback_host(SPEC, changes.for_host(SPEC.name), audit, changes, who="t", probe=real)
        assert undone.ok, undone.error
        assert audit.verify() == []  # the chain is intact
    assert sim.snapshot() == before
