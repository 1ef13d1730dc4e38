"""The pywinrm transport against the WS-Management simulator: every fault class, request count, quotas."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests.adapters
from winrm.protocol import Protocol
from xdist_support import worker_address

from fleetcheck.agent.contract import ProbeRequest
from fleetcheck.findings import HostStatus
from fleetcheck.inventory import Inventory, PasswordSources, load_inventory
from fleetcheck.runner import SweepJob, sweep_one
from fleetcheck.sim.office import OfficeSpec, start_office
from fleetcheck.transport import (
    AgentFailed,
    AuthRejected,
    BadOutput,
    Cancelled,
    ConfigurationError,
    Deadline,
    QuotaExceeded,
    Refused,
    TimedOut,
    TlsError,
    TransportError,
    Unreachable,
    WsmanFault,
    auth_unavailable,
    probe_host,
)
from fleetcheck.transport.session import stderr_head

pytestmark = pytest.mark.sim

FAULTS: dict[str, dict[str, object]] = {
    "ok": {},
    "refuse": {"refuse": True},
    "hang": {"hang": True},
    "wsman500": {"wsman_500": True},
    "unauth": {"unauthorized": True},
    "agentexit": {"agent_exit": 3},
    "garbage": {"garbage": True},
    "truncated": {"truncated": True},
    "gbk": {"gbk_on_utf8": True},
    "huge": {"huge": True},
    "reset": {"reset_mid_receive": True},
    "slow": {"slow_agent_s": 1.5},
}


@pytest.fixture(scope="module")
def office_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    groups: list[dict[str, object]] = [
        {"name": f"g_{key}", "image": "win10-compliant", "count": 1, "faults": faults, "vars": {"hostname": f"PC-{key}"}}
        for key, faults in FAULTS.items()
    ]
    groups.append({"name": "g_tls", "image": "win10-compliant", "count": 1, "scheme": "https",
                   "vars": {"hostname": "PC-tls"}})
    groups.append({"name": "g_win7", "image": "win7-compliant", "count": 1, "vars": {"hostname": "PC-win7"}})
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Transport-Pw-1"}, "scheme": "http"},
        "groups": groups,
    })
    state = tmp_path_factory.mktemp("office")
    with start_office(spec, state, first_address=worker_address("127.0.96.1")) as office:
        office.write_inventory(state / "inv.yaml")
        yield load_inventory(state / "inv.yaml", PasswordSources(literal_ok=True))


@pytest.mark.parametrize(
    ("host", "error", "status", "transient"),
    [
        ("PC-refuse", Refused, HostStatus.refused, False),
        ("PC-wsman500", WsmanFault, HostStatus.wsman_fault, False),
        ("PC-unauth", AuthRejected, HostStatus.auth_failed, False),
        ("PC-agentexit", AgentFailed, HostStatus.agent_failed, False),
        ("PC-garbage", BadOutput, HostStatus.bad_output, False),
        ("PC-truncated", BadOutput, HostStatus.bad_output, False),
        ("PC-gbk", BadOutput, HostStatus.bad_output, False),
        ("PC-reset", Unreachable, HostStatus.unreachable, True),
    ],
)
def test_fault_maps_to_error_class_and_status(office_inventory: Inventory, host: str, error: type[TransportError],
                                              status: HostStatus, transient: bool) -> None:
    with pytest.raises(error) as info:
        probe_host(office_inventory.hosts[host], ProbeRequest(), Deadline.after(20))
    exc = info.value
    assert type(exc).status is status and exc.transient is transient
    assert "Transport-Pw-1" not in exc.text.zh + exc.text.en + str(exc)
    assert office_inventory.hosts[host].endpoint in exc.text.en


def test_details_of_faults(office_inventory: Inventory) -> None:
    with pytest.raises(AgentFailed) as failed:
        probe_host(office_inventory.hosts["PC-agentexit"], ProbeRequest(), Deadline.after(20))
    assert failed.value.exit_code == 3 and failed.value.stderr_head
    with pytest.raises(WsmanFault) as fault:
        probe_host(office_inventory.hosts["PC-wsman500"], ProbeRequest(), Deadline.after(20))
    assert fault.value.code is not None
    with pytest.raises(BadOutput) as gbk:
        probe_host(office_inventory.hosts["PC-gbk"], ProbeRequest(), Deadline.after(20))
    assert "65001" in gbk.value.text.en


def test_hang_is_bounded_by_the_deadline(office_inventory: Inventory) -> None:
    with pytest.raises(TimedOut):
        probe_host(office_inventory.hosts["PC-hang"], ProbeRequest(), Deadline.after(3))
    result = sweep_one(SweepJob(host=office_inventory.hosts["PC-hang"], request=ProbeRequest(), timeout_s=3))
    assert result.status is HostStatus.timeout and result.error_class == "TimedOut"


@pytest.mark.parametrize("host", ["PC-ok", "PC-slow", "PC-huge", "PC-tls", "PC-win7"])
def test_healthy_hosts_answer(office_inventory: Inventory, host: str) -> None:
    facts = probe_host(office_inventory.hosts[host], ProbeRequest(), Deadline.after(30))
    assert facts.os.hostname.upper() == host.upper()


def test_tls_validation_needs_the_right_ca(office_inventory: Inventory, tmp_path: Path) -> None:
    host = office_inventory.hosts["PC-tls"]
    assert host.effective_scheme == "https" and host.cert_validation == "validate"
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(Path(requests.certs.where()).read_text())
    with pytest.raises(TlsError):
        probe_host(host.model_copy(update={"ca_trust_path": str(other_ca)}), ProbeRequest(), Deadline.after(10))
    ignored = host.model_copy(update={"ca_trust_path": str(other_ca), "cert_validation": "ignore"})
    assert probe_host(ignored, ProbeRequest(), Deadline.after(10)).os.hostname


def test_one_probe_takes_at_most_8_http_requests(office_inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    count = {"n": 0}
    original = requests.adapters.HTTPAdapter.send

    def counting(self: requests.adapters.HTTPAdapter, *args: object, **kwargs: object) -> object:
        count["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", counting)
    for host in ("PC-ok", "PC-tls"):  # NTLM over HTTP (encrypted) and over HTTPS
        count["n"] = 0
        probe_host(office_inventory.hosts[host], ProbeRequest(), Deadline.after(30))
        assert count["n"] <= 8, host


def test_configuration_errors_are_clear_and_secret_free(office_inventory: Inventory) -> None:
    host = office_inventory.hosts["PC-ok"]
    basic_http = host.model_copy(update={"auth": "basic"})
    with pytest.raises(ConfigurationError) as info:
        probe_host(basic_http, ProbeRequest(), Deadline.after(5))
    assert "Basic authentication over plain HTTP refused" in info.value.text.en
    with pytest.raises(ConfigurationError) as missing:
        probe_host(host.model_copy(update={"password": None}), ProbeRequest(), Deadline.after(5))
    assert "--ask-pass" in missing.value.text.en
    if auth_unavailable("kerberos"):
        with pytest.raises(ConfigurationError) as kerberos:
            probe_host(host.model_copy(update={"auth": "kerberos"}), ProbeRequest(), Deadline.after(5))
        assert "fleetcheck[kerberos]" in kerberos.value.text.en


def test_quota_exceeded_is_transient_and_shells_are_not_leaked(office_inventory: Inventory) -> None:
    host = office_inventory.hosts["PC-win7"]
    assert host.password is not None
    admin = Protocol(host.endpoint, transport="ntlm", username=host.user, password=host.password.get_secret_value(),
                     proxy=None, ca_trust_path=None)  # type: ignore[arg-type]
    shells = [admin.open_shell() for _ in range(5)]  # Windows 7: MaxShellsPerUser = 5
    try:
        with pytest.raises(QuotaExceeded) as info:
            probe_host(host, ProbeRequest(), Deadline.after(20))
        assert info.value.transient and type(info.value).status is HostStatus.wsman_fault
    finally:
        for shell in shells:
            admin.close_shell(shell, close_session=False)
    # Our own probes delete their shells: six probes in a row stay under the quota.
    for _ in range(6):
        probe_host(host, ProbeRequest(), Deadline.after(20))


def test_cancel_stops_before_the_next_step(office_inventory: Inventory) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        probe_host(office_inventory.hosts["PC-ok"], ProbeRequest(), Deadline.after(10), cancel)


def test_stderr_head_decodes_clixml() -> None:
    raw = (b'#< CLIXML\r\n<Objs Version="1.1.0.1"><S S="Error">Access denied_x000D__x000A_</S>'
           b'<S S="Error">line two_x000D__x000A_</S></Objs>')
    assert stderr_head(raw) == "Access denied\nline two"
