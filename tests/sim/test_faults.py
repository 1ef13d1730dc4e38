"""Every injected fault, as the unmodified pywinrm client sees it."""

from __future__ import annotations

import pytest
import requests
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError

from fleetcheck.agent import AgentOutputError, build_payload, command_line, parse_output
from fleetcheck.agent.contract import ProbeRequest

from .conftest import protocol, run_agent

pytestmark = pytest.mark.sim


def _office(make_office, faults, **group):
    spec = {"name": "g", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-01"}, "faults": faults}
    spec.update(group)
    return make_office([spec])


def test_refuse_means_nothing_listens(make_office):
    office = _office(make_office, {"refuse": True})
    assert not office.hosts["PC-01"].listening
    with pytest.raises(requests.exceptions.ConnectionError):
        protocol(office, "PC-01").open_shell()


def test_hang_accepts_and_never_answers(make_office):
    office = _office(make_office, {"hang": True})
    with pytest.raises(requests.exceptions.ReadTimeout):
        protocol(office, "PC-01", op_timeout=1).open_shell()


def test_wsman_500_is_a_wsman_fault(make_office):
    office = _office(make_office, {"wsman_500": True})
    with pytest.raises(WSManFaultError) as excinfo:
        protocol(office, "PC-01").open_shell()
    assert excinfo.value.code == 500
    assert excinfo.value.fault_subcode == "w:InternalError"
    assert excinfo.value.wsman_fault_code == 2150859193


def test_unauthorized_rejects_good_credentials(make_office):
    office = _office(make_office, {"unauthorized": True})
    with pytest.raises(InvalidCredentialsError):
        protocol(office, "PC-01").open_shell()


def test_agent_exit_code_and_stderr(make_office):
    office = _office(make_office, {"agent_exit": 3})
    out, err, rc, _ = run_agent(protocol(office, "PC-01"))
    assert rc == 3 and out == b""
    assert "拒绝访问" in err.decode("utf-8")


@pytest.mark.parametrize(("fault", "start"), [("garbage", b"Windows PowerShell"), ("truncated", b'{"')])
def test_unparseable_output(make_office, fault, start):
    office = _office(make_office, {fault: True})
    out, _, rc, _ = run_agent(protocol(office, "PC-01"))
    assert rc == 0 and out.startswith(start)
    with pytest.raises(AgentOutputError) as excinfo:
        parse_output(out)
    assert "not JSON" in excinfo.value.reason


def test_gbk_on_utf8_output_has_chinese_and_is_not_utf8(make_office):
    office = _office(make_office, {"gbk_on_utf8": True})
    out, _, _rc, _ = run_agent(protocol(office, "PC-01"), codepage=65001)
    with pytest.raises(AgentOutputError) as excinfo:
        parse_output(out)
    assert "not UTF-8" in excinfo.value.reason
    text = out.decode("gbk")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_huge_output_arrives_in_many_envelopes(make_office):
    office = _office(make_office, {"huge": True})
    out, _, rc, receives = run_agent(protocol(office, "PC-01"))
    assert rc == 0 and len(out) >= 5 * 1024 * 1024
    # pywinrm's MaxEnvelopeSize is 153600 bytes, so ~5 MiB needs dozens of Receives.
    assert receives >= 5 * 1024 * 1024 // 153600
    assert parse_output(out).os.hostname == "PC-01"


def test_reset_mid_receive(make_office):
    office = _office(make_office, {"reset_mid_receive": True})
    p = protocol(office, "PC-01")
    shell = p.open_shell(codepage=65001)
    exe, args = command_line()
    cid = p.run_command(shell, exe, args)
    p.send_command_input(shell, cid, build_payload(ProbeRequest()), end=True)
    with pytest.raises(requests.exceptions.RequestException):
        for _ in range(20):
            p.get_command_output_raw(shell, cid)


def test_slow_agent_answers_timed_out_until_done(make_office):
    office = _office(make_office, {"slow_agent_s": 2.5})
    p = protocol(office, "PC-01", op_timeout=1)
    shell = p.open_shell(codepage=65001)
    exe, args = command_line()
    cid = p.run_command(shell, exe, args)
    p.send_command_input(shell, cid, build_payload(ProbeRequest()), end=True)
    with pytest.raises(WinRMOperationTimeoutError):
        p.get_command_output_raw(shell, cid)
    out, _, rc = p.get_command_output(shell, cid)  # pywinrm polls through the TimedOut faults
    assert rc == 0 and parse_output(out).os.hostname == "PC-01"
    p.close_shell(shell)


def test_agent_ms_is_charged_per_process(make_office):
    office = _office(make_office, {"agent_ms": 3000})
    p = protocol(office, "PC-01", op_timeout=1)
    shell = p.open_shell(codepage=65001)
    cid = p.run_command(shell, "ipconfig")
    with pytest.raises(WinRMOperationTimeoutError):
        p.get_command_output_raw(shell, cid)
    assert office.server.endpoints[0].service.processes_started == 1
    p.close_shell(shell)


def test_latency_applies_to_every_exchange(make_office):
    office = _office(make_office, {"latency_ms": 1})
    out, _, rc, _ = run_agent(protocol(office, "PC-01"))
    assert rc == 0 and parse_output(out)
    # A latency longer than the client's read timeout makes the very first exchange time out.
    slow = _office(make_office, {"latency_ms": 2500})
    with pytest.raises(requests.exceptions.ReadTimeout):
        protocol(slow, "PC-01", op_timeout=1, read_timeout_sec=2).open_shell()
