"""Renewal's I/O edge with the simulator's executor as the probe (no network): failure paths.

The happy paths run over real WinRM in test_renew_sim.py; here a probe
function answers from a HostImage directly so that a broken agent, an
unreachable host or a failed verification can be staged exactly.
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
from fleetcheck.renew.plan import RenewalState, exit_code
from fleetcheck.sim import certgen
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import HostImage, instantiate
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog
from fleetcheck.transport import Deadline, Refused

NOW = datetime.now(timezone.utc).replace(microsecond=0)
CN = "F00504Y0042#0"
SECRET = "Apply-Unit-Secret-55"
INVENTORY = f"""
all:
  hosts:
    PC-A:
      ansible_host: 127.0.0.1
      gateway_cert: "{CN}"
      operator: 'TRADE\\交易员01'
    PC-B:
      ansible_host: 127.0.0.2
      gateway_cert: "F00504Y0043#0"
"""


@pytest.fixture(scope="module")
def policies() -> list[Any]:
    return load_policies(shipped_policy_paths())


@pytest.fixture()
def image() -> HostImage:
    img = instantiate("win10-compliant", {"gateway_cert": CN, "cert_days_left": 10}, NOW)
    img.processes = [p for p in img.processes if p.name.lower() != "tdxw.exe"]
    return img


def _drop() -> list[DropFile]:
    data, _ = certgen.make_pfx(certgen.LeafSpec(cn=CN, days_left=400), NOW, SECRET)
    return [DropFile(f"{CN}.pfx", data)]


def _run(tmp_path: Path, policies: list[Any], probe: Any, *, apply: bool = True, limit: list[str] | None = None,
         passwords: dict[str, PfxPassword] | None = None) -> tuple[list[Any], Store]:
    inventory = parse_inventory(INVENTORY, "inv.yaml")
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    guard = Guard(TradingCalendar(sessions=()), clock=lambda: NOW)
    renewal = Renewal(inventory, limit or list(inventory.hosts), policies, store=store, guard=guard,
                      options=RenewalOptions(apply=apply, timeout_s=10, who="tester"), probe=probe, clock=lambda: NOW)
    outcome = renewal.run(_drop(), {CN: PfxPassword(SECRET)} if passwords is None else passwords)
    return outcome.items, store


def _executor_probe(image: HostImage, tamper: Any = None) -> Any:
    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        if tamper is not None and any(isinstance(a, ImportPfx) for a in request.actions):
            return tamper(image, request)
        return execute(image, request)[0]
    return probe


def test_import_reported_ok_but_not_there_fails_verification(tmp_path: Path, policies: list[Any],
                                                              image: HostImage) -> None:
    def lying_agent(img: HostImage, request: ProbeRequest) -> ProbeResponse:
        response = execute(img, ProbeRequest(want_processes=False))[0]
        return response.model_copy(update={"actions": [
            ActionResult(id=request.actions[0].id, status="ok", changed=True, thumbprint="AB" * 20)]})

    items, store = _run(tmp_path, policies, _executor_probe(image, lying_agent))
    assert items[0].state is RenewalState.failed and exit_code(items) == 1
    assert "not in the operator's Personal store" in items[0].reason_text().en
    events = [e.event for e in AuditLog(store).entries()]
    store.close()
    assert events == ["applied", "failed"]


def test_agent_error_text_never_carries_the_password(tmp_path: Path, policies: list[Any], image: HostImage) -> None:
    def leaky_agent(img: HostImage, request: ProbeRequest) -> ProbeResponse:
        response = execute(img, ProbeRequest(want_processes=False))[0]
        return response.model_copy(update={"actions": [ActionResult(
            id=request.actions[0].id, status="error", error=f"certutil failed for password {SECRET}")]})

    items, store = _run(tmp_path, policies, _executor_probe(image, leaky_agent))
    text = items[0].reason_text()
    assert items[0].state is RenewalState.failed and "certutil failed" in text.en
    assert SECRET not in text.en + text.zh
    assert all(SECRET not in str(e) for e in AuditLog(store).entries())
    store.close()


def test_unreachable_host_fails_with_exit_3_and_dry_run_touches_nothing(tmp_path: Path, policies: list[Any],
                                                                         image: HostImage) -> None:
    def down(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        raise Refused(message_text())

    def message_text() -> Any:
        from fleetcheck.i18n import T

        return T("连接被拒绝", "connection refused")

    items, store = _run(tmp_path, policies, down, apply=False)
    store.close()
    assert items[0].state is RenewalState.failed and items[0].unreachable and exit_code(items) == 3
    before = image.to_state()
    items, store = _run(tmp_path, policies, _executor_probe(image), apply=False)
    store.close()
    assert items[0].state is RenewalState.planned and image.to_state() == before


def test_outside_limit_is_skipped_and_missing_password_refused(tmp_path: Path, policies: list[Any],
                                                               image: HostImage) -> None:
    calls: list[ProbeRequest] = []

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        calls.append(request)
        return execute(image, request)[0]

    items, store = _run(tmp_path, policies, probe, limit=["PC-B"])
    store.close()
    assert items[0].state is RenewalState.skipped and calls == []
    items, store = _run(tmp_path, policies, probe, passwords={})
    store.close()
    assert items[0].state is RenewalState.refused and items[0].reasons[0].code == "no_password" and calls == []


def test_import_as_the_real_executor_installs(tmp_path: Path, policies: list[Any], image: HostImage) -> None:
    items, store = _run(tmp_path, policies, _executor_probe(image))
    store.close()
    assert items[0].state is RenewalState.installed, items[0].reason_text().en
    assert items[0].new_thumbprint == items[0].pfx.thumbprint  # type: ignore[union-attr]


def test_works_without_any_certificate_check_in_the_policy_set(tmp_path: Path, image: HostImage) -> None:
    """The operator's store is read by renewal itself: installed certificate and verification need no policy."""
    items, store = _run(tmp_path, [], _executor_probe(image))
    store.close()
    item = items[0]
    assert item.state is RenewalState.installed, item.reason_text().en
    assert item.installed is not None and item.installed.source == "probe"
    assert item.installed.not_after is not None and (item.installed.not_after - NOW).days in (9, 10)
