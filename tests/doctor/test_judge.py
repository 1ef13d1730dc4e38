"""The doctor's judgements, without a network: each rule on its own."""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from fleetcheck.agent.contract import Answer, OsFacts, ProbeResponse, RegKey, RegValue
from fleetcheck.doctor import STEP_ORDER, StepId, StepStatus
from fleetcheck.doctor.judge import (
    POLICY_QUERY_ID,
    auth_scheme_failure,
    clock_skew_step,
    execution_policy_step,
    is_filtered_local_account,
    listener_failure,
    probe_failure,
    steps_after_probe,
    tls_failure,
)
from fleetcheck.doctor.model import Failure, complete, overall_exit_code
from fleetcheck.i18n import T
from fleetcheck.inventory.model import HostSpec
from fleetcheck.sim.wsman import access_denied_fault, fault_envelope, file_not_found_fault
from fleetcheck.transport.errors import AgentFailed, WsmanFault

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
CAPTURES = Path("/work/shared/reference/winrm-captures")


def host(**changes: object) -> HostSpec:
    base: dict[str, object] = {"name": "PC", "address": "127.0.0.1", "port": 5985, "scheme": "http",
                               "user": "TRADE\\fc", "password": SecretStr("pw")}
    base.update(changes)
    return HostSpec.model_validate(base)


def response(values: dict[str, RegValue] | None) -> ProbeResponse:
    answers = [] if values is None else [Answer(id=POLICY_QUERY_ID, status="ok", key=RegKey(values=values))]
    os_facts = OsFacts(version="6.1.7601", build=7601, caption="Windows 7", arch="x86", ps_version="2.0",
                       clr_version="2.0.50727", acp=936, oem_cp=936, hostname="PC")
    return ProbeResponse(agent_version="1", elapsed_ms=5, os=os_facts, answers=answers)


@pytest.mark.parametrize(("user", "filtered"), [
    ("fcadmin", True), (".\\fcadmin", True), ("Administrator", False), (".\\administrator", False),
    ("TRADE\\fcadmin", False), (None, True),
])
def test_which_accounts_uac_remote_restrictions_filter(user: str | None, filtered: bool) -> None:
    assert is_filtered_local_account(user) is filtered


def test_access_denied_is_token_filtering_for_a_local_account_and_authorisation_for_a_domain_one() -> None:
    denied = WsmanFault(T("拒绝", "denied"), code=5)
    assert probe_failure(denied, "fcadmin").step is StepId.remote_uac
    assert probe_failure(denied, "TRADE\\fcadmin").step is StepId.authorisation
    assert probe_failure(WsmanFault(T("x", "x"), code=0x80070002), "TRADE\\a").step is StepId.powershell


def test_only_a_language_mode_error_is_the_language_mode_step() -> None:
    clm = AgentFailed(T("x", "x"), exit_code=1,
                      stderr_head="Cannot invoke method. Method invocation is supported only on core types in this language mode.")
    other = AgentFailed(T("x", "x"), exit_code=1, stderr_head="Access is denied.")
    assert probe_failure(clm, "a").reason == "constrained_language"
    assert probe_failure(other, "a").step is StepId.agent


def test_kerberos_clock_skew_over_five_minutes_fails_and_ntlm_does_not_care() -> None:
    far = clock_skew_step("kerberos", NOW + timedelta(minutes=6), NOW)
    assert isinstance(far, Failure) and far.reason == "clock_skew"
    near = clock_skew_step("kerberos", NOW - timedelta(minutes=4), NOW)
    assert not isinstance(near, Failure) and near.status is StepStatus.passed
    ntlm = clock_skew_step("ntlm", NOW + timedelta(hours=3), NOW)
    assert not isinstance(ntlm, Failure) and ntlm.status is StepStatus.not_applicable
    undated = clock_skew_step("kerberos", None, NOW)
    assert not isinstance(undated, Failure) and undated.status is StepStatus.not_applicable


@pytest.mark.parametrize(("code", "reason"), [(64, "name_mismatch"), (62, "name_mismatch"), (10, "certificate_expired"),
                                              (20, "untrusted_ca"), (19, "untrusted_ca"), (None, "handshake_failed")])
def test_tls_failures_by_openssl_verify_code(code: int | None, reason: str) -> None:
    exc = ssl.SSLCertVerificationError("verify failed") if code is not None else ssl.SSLError("boom")
    if code is not None:
        exc.verify_code = code
    assert tls_failure(exc, "127.0.0.1", None).reason == reason


def test_a_listener_must_answer_401_with_schemes() -> None:
    assert listener_failure(401, ["Negotiate"], 5985, "/wsman") is None
    assert listener_failure(404, [], 5985, "/wsman") is not None
    assert listener_failure(None, [], 5985, "/wsman") is not None
    assert listener_failure(401, [], 5985, "/wsman") is not None


def test_auth_scheme_rules() -> None:
    assert auth_scheme_failure(host(), ["Negotiate"], None) is None
    basic = auth_scheme_failure(host(auth="basic"), ["Negotiate", "Basic"], None)
    assert basic is not None and basic.reason == "basic_over_http"
    offered = auth_scheme_failure(host(auth="basic", scheme="https", port=5986), ["Negotiate"], None)
    assert offered is not None and offered.reason == "scheme_not_offered"
    extra = auth_scheme_failure(host(auth="kerberos"), ["Negotiate"], "kerberos")
    assert extra is not None and extra.reason == "extra_missing"
    nouser = auth_scheme_failure(host(password=None), ["Negotiate"], None)
    assert nouser is not None and nouser.reason == "no_credentials"


@pytest.mark.parametrize(("values", "blocked"), [
    (None, False),
    ({"EnableScripts": RegValue(t="DWORD", v=0)}, True),  # the policy Disabled: Restricted
    ({"EnableScripts": RegValue(t="DWORD", v=1), "ExecutionPolicy": RegValue(t="SZ", v="AllSigned")}, True),
    ({"EnableScripts": RegValue(t="DWORD", v=1), "ExecutionPolicy": RegValue(t="SZ", v="RemoteSigned")}, False),
    ({"ExecutionPolicy": RegValue(t="SZ", v="AllSigned")}, False),  # not Group Policy's shape: no EnableScripts
])
def test_execution_policy_from_group_policy(values: dict[str, RegValue] | None, blocked: bool) -> None:
    assert isinstance(execution_policy_step(response(values)), Failure) is blocked


def test_a_successful_round_trip_passes_every_later_step_and_reports_powershell() -> None:
    steps = steps_after_probe("TRADE\\fc", response(None))
    assert [s.step for s in steps] == list(STEP_ORDER[STEP_ORDER.index(StepId.authentication):])
    by_step = {s.step: s for s in steps}
    assert by_step[StepId.remote_uac].status is StepStatus.not_applicable
    detail = by_step[StepId.powershell].detail
    assert detail is not None and "PowerShell 2.0" in detail.en and "32-bit" in detail.en


def test_json_keys_are_stable_and_english() -> None:
    failure = Failure(StepId.tcp, "connection_refused", T("拒绝", "refused"), T("开启", "enable"))
    diagnosis = complete("PC", "http://127.0.0.1:5985/wsman", [failure.result()])
    doc = diagnosis.to_json()
    assert list(doc) == ["host", "endpoint", "ok", "failed_step", "exit_code", "steps"]
    assert list(doc["steps"][0]) == ["step", "status", "reason", "detail", "cause", "remedy"]
    tcp = next(s for s in doc["steps"] if s["step"] == "tcp")
    assert tcp["cause"] == {"zh": "拒绝", "en": "refused"} and tcp["status"] == "fail" and doc["exit_code"] == 3
    assert [s["step"] for s in doc["steps"]] == [s.value for s in STEP_ORDER]
    assert overall_exit_code([diagnosis, complete("B", "e", [])]) == 3


def _fault_shape(xml: str) -> tuple[str, str, str]:
    import re
    sub = re.search(r"<s:Subcode><s:Value>([^<]+)<", xml)
    code = re.search(r'WSManFault[^>]*Code="(\d+)"', xml)
    reason = re.search(r'<s:Text xml:lang="en-US">([^<]+)<', xml)
    assert sub and code and reason
    return sub.group(1), code.group(1), reason.group(1)


def test_simulated_faults_have_windows_shape() -> None:
    denied = fault_envelope(access_denied_fault(), "uuid:1", "127.0.0.1").decode()
    assert _fault_shape(denied) == ("w:AccessDenied", "5", "Access is denied. ")
    missing = fault_envelope(file_not_found_fault(), "uuid:1", "127.0.0.1").decode()
    capture = CAPTURES / "test_winrs_no_cmd_shell.yml"
    if capture.is_file():
        assert _fault_shape(missing) == _fault_shape(capture.read_text(encoding="utf-8"))
    assert 'provider="Shell cmd plugin"' in missing



def test_a_closed_port_ends_the_walk_at_tcp_without_raising() -> None:
    from fleetcheck.doctor import WalkOptions, diagnose

    diagnosis = diagnose(host(address="127.0.0.1", port=1), WalkOptions(timeout_s=5))
    assert diagnosis.failure is not None and diagnosis.failure.step is StepId.tcp and diagnosis.exit_code == 3
