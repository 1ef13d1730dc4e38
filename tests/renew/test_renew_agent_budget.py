"""Renewal keeps the agent's import poll inside the host deadline and explains a timed-out import.

WinRM ends the agent (and every process of its shell) when the controller
deletes the shell at its host deadline; an agent ended during the poll cannot
remove the task and its folder. So the import's ``timeout_ms`` must end well
before the deadline (issue 12, finding 11), and a failed import is explained
in both languages (Chinese first).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from fleetcheck.agent.contract import ActionResult, ImportPfx, ProbeRequest, ProbeResponse
from fleetcheck.inventory import parse_inventory
from fleetcheck.inventory.model import HostSpec
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.remediate.guard import Guard, TradingCalendar
from fleetcheck.renew.apply import DropFile, Renewal, RenewalOptions
from fleetcheck.renew.passwords import PfxPassword
from fleetcheck.renew.plan import RenewalState
from fleetcheck.sim import certgen
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import HostImage, instantiate
from fleetcheck.store import Store
from fleetcheck.transport import Deadline

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
CN = "F00504Y0042#0"
SECRET = "Budget-Unit-Secret-77"
INVENTORY = f"""
all:
  hosts:
    PC-A:
      ansible_host: 127.0.0.1
      gateway_cert: "{CN}"
      operator: 'TRADE\\交易员01'
"""


@pytest.fixture(scope="module")
def policies() -> list[Any]:
    return load_policies(shipped_policy_paths())


@pytest.fixture()
def image() -> HostImage:
    img = instantiate("win10-compliant", {"gateway_cert": CN, "cert_days_left": 10}, NOW)
    img.processes = [p for p in img.processes if p.name.lower() != "tdxw.exe"]
    return img


def _run(tmp_path: Path, policies: list[Any], probe: Any) -> tuple[list[Any], Store]:
    inventory = parse_inventory(INVENTORY, "inv.yaml")
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    guard = Guard(TradingCalendar(sessions=()), clock=lambda: NOW)
    renewal = Renewal(inventory, list(inventory.hosts), policies, store=store, guard=guard,
                      options=RenewalOptions(apply=True, timeout_s=10, who="tester"), probe=probe, clock=lambda: NOW)
    data, _ = certgen.make_pfx(certgen.LeafSpec(cn=CN, days_left=400), NOW, SECRET)
    outcome = renewal.run([DropFile(f"{CN}.pfx", data)], {CN: PfxPassword(SECRET)})
    return outcome.items, store


def _executor_probe(image: HostImage, tamper: Any) -> Any:
    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        if any(isinstance(a, ImportPfx) for a in request.actions):
            return tamper(image, request)  # type: ignore[no-any-return]
        return execute(image, request)[0]
    return probe


def test_the_import_poll_ends_inside_the_host_deadline(tmp_path: Path, policies: list[Any],
                                                       image: HostImage) -> None:
    seen: list[ImportPfx] = []

    def recording_agent(img: HostImage, request: ProbeRequest) -> ProbeResponse:
        seen.extend(a for a in request.actions if isinstance(a, ImportPfx))
        return execute(img, request)[0]

    items, store = _run(tmp_path, policies, _executor_probe(image, recording_agent))  # timeout_s=10
    store.close()
    assert items[0].state is RenewalState.installed
    assert [a.timeout_ms for a in seen] == [5000]  # not the contract's 60 s default: past a 10 s deadline


def test_a_timed_out_import_is_explained_in_both_languages(tmp_path: Path, policies: list[Any],
                                                           image: HostImage) -> None:
    def busy_session(img: HostImage, request: ProbeRequest) -> ProbeResponse:
        response = execute(img, ProbeRequest(want_processes=False))[0]
        return response.model_copy(update={"actions": [ActionResult(
            id=request.actions[0].id, status="error", error="the import task did not finish within 5000 ms")]})

    items, store = _run(tmp_path, policies, _executor_probe(image, busy_session))
    store.close()
    text = items[0].reason_text()
    assert items[0].state is RenewalState.failed
    assert "导入任务未在时限内完成" in text.zh and "folder and task were removed" in text.en
    assert "did not finish within 5000 ms" in text.en  # the agent's own words kept
