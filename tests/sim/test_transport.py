"""pywinrm, unmodified, against the simulator: auth, message encryption, HTTPS, code pages, quotas."""

from __future__ import annotations

import pytest
import requests
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError, WSManFaultError

from fleetcheck.agent import parse_output
from fleetcheck.agent.contract import ProbeResponse

from .conftest import protocol, run_agent

pytestmark = pytest.mark.sim


def test_ntlm_over_http_runs_the_agent_with_encrypted_bodies(make_office):
    office = make_office(
        [{"name": "w10", "image": "win10-compliant", "count": 1, "vars": {"hostname": "SZ-PC-01"}}],
        record_wire=True,
    )
    out, err, rc, _ = run_agent(protocol(office, "SZ-PC-01"))
    assert rc == 0, err
    response = parse_output(out)
    assert isinstance(response, ProbeResponse)
    assert response.os.hostname == "SZ-PC-01"
    wire = b"".join(office.server.endpoints[0].wire or [])
    # The handshake and every SOAP body went over plain HTTP, but no SOAP text is readable.
    assert b"multipart/encrypted" in wire and b"Authorization: Negotiate" in wire
    assert b"http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd" not in wire
    assert b"powershell.exe" not in wire and b"Envelope" not in wire


def test_basic_over_https_validates_the_simulator_ca(make_office):
    office = make_office([{
        "name": "bj", "image": "win10-compliant", "count": 1, "scheme": "https", "transport": "basic",
        "credentials": {"user": "fcadmin", "password": "Basic-Pw1"}, "vars": {"hostname": "BJ-PC-01"},
    }])
    p = protocol(office, "BJ-PC-01", user="fcadmin", password="Basic-Pw1", transport="basic")
    out, err, rc, _ = run_agent(p)
    assert rc == 0, err
    assert parse_output(out).os.hostname == "BJ-PC-01"
    # Without the CA the client refuses the certificate.
    bad = protocol(office, "BJ-PC-01", user="fcadmin", password="Basic-Pw1", transport="basic", ca_trust_path=None)
    bad.transport.ca_trust_path = "legacy_requests"
    with pytest.raises(requests.exceptions.SSLError):
        bad.open_shell()


def test_ntlm_over_https_with_channel_binding(make_office):
    office = make_office([{"name": "sh", "image": "win11-compliant", "count": 1, "scheme": "https",
                           "vars": {"hostname": "SH-PC-01"}}])
    out, err, rc, _ = run_agent(protocol(office, "SH-PC-01"))
    assert rc == 0, err
    assert parse_output(out).os.version.startswith("10.0.22631")


def test_wrong_password_and_refused_plaintext(make_office):
    office = make_office([{"name": "w10", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-01"}}])
    with pytest.raises(InvalidCredentialsError):
        protocol(office, "PC-01", password="wrong").open_shell()
    # AllowUnencrypted=false: NTLM without message encryption on HTTP is refused.
    with pytest.raises(InvalidCredentialsError):
        protocol(office, "PC-01", message_encryption="never").open_shell()
    # Basic is never accepted on HTTP.
    with pytest.raises(InvalidCredentialsError):
        protocol(office, "PC-01", transport="basic").open_shell()


@pytest.mark.parametrize(
    ("codepage", "expected"),
    [(65001, "深圳.exe".encode()), (936, "深圳.exe".encode("gbk")), (437, b"??.exe")],
)
def test_code_pages(make_office, codepage, expected):
    office = make_office([{"name": "w10", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-01"}}])
    p = protocol(office, "PC-01")
    shell = p.open_shell(codepage=codepage)
    cid = p.run_command(shell, "深圳.exe")
    _out, err, rc = p.get_command_output(shell, cid)
    p.close_shell(shell)
    assert rc == 1
    assert err.startswith(b"'" + expected + b"' is not recognized")


def test_windows7_quotas(make_office):
    office = make_office([
        {"name": "w7", "image": "win7-compliant", "count": 1, "vars": {"hostname": "W7-01"}},
        {"name": "w10", "image": "win10-compliant", "count": 1, "vars": {"hostname": "W10-01"}},
    ])
    p = protocol(office, "W7-01")
    shells = [p.open_shell() for _ in range(5)]
    with pytest.raises(WSManFaultError) as excinfo:
        p.open_shell()
    assert excinfo.value.wsman_fault_code == 2150859173
    assert excinfo.value.fault_subcode == "w:QuotaLimit"
    p.close_shell(shells.pop(), close_session=False)
    shells.append(p.open_shell())  # a closed shell frees its slot
    cid = p.run_command(shells[0], "cmd.exe", ["/c", "echo"])
    with pytest.raises(WinRMTransportError) as too_big:
        p.send_command_input(shells[0], cid, b"A" * 160 * 1024)
    assert too_big.value.code == 413
    for shell in shells:
        p.close_shell(shell, close_session=False)
    # Windows 10 (MaxEnvelopeSizekb 500) takes the same request.
    p10 = protocol(office, "W10-01")
    shell = p10.open_shell()
    cid = p10.run_command(shell, "cmd.exe", ["/c", "echo"])
    p10.send_command_input(shell, cid, b"A" * 160 * 1024, end=True)
    p10.close_shell(shell)


def test_unknown_ids_give_the_real_faults(make_office):
    office = make_office([{"name": "w10", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-01"}}])
    p = protocol(office, "PC-01")
    shell = p.open_shell()
    with pytest.raises(WSManFaultError) as bad_cmd:
        p.get_command_output_raw(shell, "87E77BEB-6761-4C48-9D70-A00266B8459A")
    assert bad_cmd.value.wsman_fault_code == 2150858843
    assert bad_cmd.value.fault_subcode == "w:InvalidSelectors"
    p.close_shell(shell, close_session=False)
    with pytest.raises(WSManFaultError) as bad_shell:
        p.run_command(shell, "ipconfig")
    assert bad_shell.value.wsman_fault_code == 2150858843
    p.transport.close_session()
