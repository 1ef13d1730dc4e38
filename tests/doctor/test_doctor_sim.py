"""Acceptance (issue 16, 1): `fleetcheck doctor` against simulated PCs on loopback names a different
failing step for each way a PC can be out of reach, and a healthy PC passes every step."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from ruamel.yaml import YAML

from fleetcheck.agent.contract import ProbeResponse
from fleetcheck.cli import main
from fleetcheck.doctor import StepId, StepStatus, WalkOptions, diagnose
from fleetcheck.inventory.model import HostSpec
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office

PASSWORD = "Demo-2026!"
DOMAIN_USER = "TRADE\\fcadmin"
LOCAL_USER = "fcadmin"

# One office for the module, on its own loopback block (127.7.x.1: no other test uses 127.7/16).
FIRST_ADDRESS = f"127.7.{os.getpid() % 250 + 1}.1"

# group name -> (extra group settings, expected failing step, expected reason)
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "refused": ({"faults": {"refuse": True}}, "tcp", "connection_refused"),
    "tlsname": ({"scheme": "https", "faults": {"tls_name_mismatch": True}}, "tls", "name_mismatch"),
    "wrongpw": ({"inventory_password": "not-the-password"}, "authentication", "credentials_rejected"),
    "notadmin": ({"faults": {"access_denied": True}}, "authorisation", "access_denied"),
    "tokenfilter": ({"faults": {"token_filtering": True},
                     "credentials": {"user": LOCAL_USER, "password": PASSWORD}}, "remote_uac", "token_filtered"),
    "quota": ({"faults": {"shells_in_use": 30}}, "shell", "quota_exceeded"),
    "nops": ({"faults": {"powershell_missing": True}}, "powershell", "powershell_missing"),
    "clm": ({"faults": {"constrained_language": True}}, "language_mode", "constrained_language"),
    "gpo": ({"image": "GPO"}, "execution_policy", "group_policy_blocks_scripts"),
}


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOffice, Path]]:
    root = tmp_path_factory.mktemp("doctor")
    gpo_image = root / "gpo.yaml"
    gpo_image.write_text("extends: win10-compliant\nexecution_policy_gpo: AllSigned\n", encoding="utf-8")
    groups: list[dict[str, Any]] = [
        {"name": "healthy", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-HEALTHY"}},
        {"name": "healthy_https", "image": "win10-compliant", "count": 1, "scheme": "https",
         "vars": {"hostname": "PC-HEALTHY-TLS"}},
        # The token-filtering PC's own account set-up, without the fault: a local account passes.
        {"name": "local_ok", "image": "win10-compliant", "count": 1,
         "credentials": {"user": LOCAL_USER, "password": PASSWORD}, "vars": {"hostname": "PC-LOCAL-OK"}},
    ]
    for name, (extra, _step, _reason) in CASES.items():
        group = {"name": name, "image": "win10-compliant", "count": 1, "vars": {"hostname": f"PC-{name.upper()}"}}
        group.update(extra)
        if group["image"] == "GPO":
            group["image"] = str(gpo_image)
        groups.append(group)
    spec = OfficeSpec.model_validate({
        "name": "doctor", "defaults": {"credentials": {"user": DOMAIN_USER, "password": PASSWORD},
                                       "faults": {"latency_ms": 0, "agent_ms": 0}},
        "groups": groups,
    })
    running = start_office(spec, root / "state", first_address=FIRST_ADDRESS)
    path = running.write_inventory(root / "inventory.yml")
    try:
        yield running, path
    finally:
        running.stop()


def doctor(inventory: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--lang", "en", "doctor", "-i", str(inventory), *args])
    return result.exit_code, result.stdout + result.stderr


def doctor_json(inventory: Path, host: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["--lang", "en", "doctor", "-i", str(inventory), host, "--format", "json"])
    code = result.exit_code
    document = json.loads(result.stdout)
    assert document["exit_code"] == code
    (only,) = document["hosts"]
    return code, only


@pytest.mark.parametrize("name", list(CASES))
def test_each_fault_stops_at_its_own_step(office: tuple[RunningOffice, Path], name: str) -> None:
    _running, inventory = office
    _extra, step, reason = CASES[name]
    code, host = doctor_json(inventory, f"PC-{name.upper()}")
    assert host["failed_step"] == step, host
    failed = [s for s in host["steps"] if s["status"] == "fail"]
    assert [(s["step"], s["reason"]) for s in failed] == [(step, reason)]
    assert failed[0]["cause"] and failed[0]["remedy"]
    statuses = [s["status"] for s in host["steps"]]
    at = statuses.index("fail")
    assert all(s in ("pass", "not_applicable") for s in statuses[:at])
    assert all(s == "not_run" for s in statuses[at + 1:])
    assert code == (3 if step in ("resolve", "tcp", "listener") else 1)


def test_basic_over_http_is_refused_by_our_own_rule(office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    """The PC answers (HTTP, Negotiate only); the inventory asks for Basic over HTTP.

    The walk stops at the authentication scheme, after the listener passed,
    without sending the password — through the library and through the
    command (the inventory keeps such a host, with a positioned warning).
    """
    running, _inventory = office
    planned = running.hosts["PC-HEALTHY"]
    host = HostSpec(name="PC-BASIC", address=planned.address, port=planned.port, scheme="http", auth="basic",
                    user=DOMAIN_USER, password=SecretStr(PASSWORD))
    diagnosis = diagnose(host, WalkOptions(timeout_s=30))
    failure = diagnosis.failure
    assert failure is not None and (failure.step, failure.reason) == (StepId.auth_scheme, "basic_over_http")
    assert [s.status for s in diagnosis.steps[:4]] == [StepStatus.passed, StepStatus.passed,
                                                       StepStatus.not_applicable, StepStatus.passed]
    assert diagnosis.exit_code == 1
    inventory = YAML().load(_inventory.read_text(encoding="utf-8"))
    inventory["all"]["children"]["healthy"]["hosts"]["PC-HEALTHY"]["ansible_winrm_transport"] = "basic"
    path = tmp_path / "basic.yml"
    with path.open("w", encoding="utf-8") as handle:
        YAML().dump(inventory, handle)
    code, output = doctor(path, "PC-HEALTHY")
    assert code == 1 and "PC-HEALTHY: Basic authentication over plain HTTP" in output  # the warning
    code, only = doctor_json(path, "PC-HEALTHY")
    assert code == 1 and (only["failed_step"], only["steps"][4]["reason"]) == ("auth_scheme", "basic_over_http")
    assert [s["status"] for s in only["steps"][:4]] == ["pass", "pass", "not_applicable", "pass"]


def test_every_case_names_a_different_step() -> None:
    steps = [step for _extra, step, _reason in CASES.values()] + ["auth_scheme"]
    assert len(set(steps)) == len(steps) == 10


@pytest.mark.parametrize("host", ["PC-HEALTHY", "PC-HEALTHY-TLS", "PC-LOCAL-OK"])
def test_a_healthy_pc_passes_every_step(office: tuple[RunningOffice, Path], host: str) -> None:
    _running, inventory = office
    code, result = doctor_json(inventory, host)
    assert code == 0 and result["ok"] and result["failed_step"] is None
    statuses = {s["step"]: s["status"] for s in result["steps"]}
    assert set(statuses.values()) <= {"pass", "not_applicable"}
    assert statuses["agent"] == statuses["execution_policy"] == statuses["authentication"] == "pass"
    # Not applicable in the simulator, which speaks NTLM: only Kerberos needs synchronised clocks.
    assert statuses["clock_skew"] == "not_applicable"
    assert statuses["tls"] == ("pass" if host == "PC-HEALTHY-TLS" else "not_applicable")
    assert statuses["remote_uac"] == ("pass" if host == "PC-LOCAL-OK" else "not_applicable")


def test_text_output_in_chinese_marks_each_step(office: tuple[RunningOffice, Path]) -> None:
    _running, inventory = office
    result = CliRunner().invoke(main, ["--lang", "zh", "doctor", "-i", str(inventory), "PC-NOTADMIN"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PC-NOTADMIN (")
    assert any(line.startswith("  ✓ TCP 连接到端口") for line in lines)
    assert any(line.startswith("  ✗ 授权（管理员）") and "不是这台 PC 的管理员" in line for line in lines)
    assert any("处理：" in line and "Administrators" in line for line in lines)
    assert any(line.startswith("  — 代理往返与应答: 未运行") for line in lines)


def test_limit_walks_several_hosts_and_unreachable_wins(office: tuple[RunningOffice, Path]) -> None:
    _running, inventory = office
    code, output = doctor(inventory, "--limit", "healthy:refused:clm")
    assert code == 3
    assert output.count("every step passed") == 1
    assert "fails at the step \"TCP connection to the port\"" in output
    assert "fails at the step \"PowerShell language mode\"" in output


def test_hosts_or_limit_not_both(office: tuple[RunningOffice, Path]) -> None:
    _running, inventory = office
    code, output = doctor(inventory, "PC-HEALTHY", "--limit", "healthy")
    assert code == 2 and "one of the two" in output


def test_an_unexpected_error_is_this_hosts_result_named_by_type_only(office: tuple[RunningOffice, Path]) -> None:
    running, _inventory = office
    planned = running.hosts["PC-HEALTHY"]

    def broken_probe(*_args: object) -> ProbeResponse:
        raise RuntimeError("secret-looking text pw=hunter2")

    host = HostSpec(name="PC-HEALTHY", address=planned.address, port=planned.port, scheme="http",
                    user=DOMAIN_USER, password=SecretStr(PASSWORD))
    failure = diagnose(host, WalkOptions(timeout_s=30, probe=broken_probe)).failure
    assert failure is not None and (failure.step, failure.reason) == (StepId.agent, "unexpected_error")
    assert failure.cause is not None and "hunter2" not in failure.cause.en and "RuntimeError" in failure.cause.en


def test_a_scheme_the_listener_does_not_offer(office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    """Basic over https is allowed by the inventory, but this PC's WinRM offers Negotiate only (Basic=false)."""
    _running, inventory_path = office
    inventory = YAML().load(inventory_path.read_text(encoding="utf-8"))
    inventory["all"]["children"]["healthy_https"]["hosts"]["PC-HEALTHY-TLS"]["ansible_winrm_transport"] = "basic"
    path = tmp_path / "basic-https.yml"
    with path.open("w", encoding="utf-8") as handle:
        YAML().dump(inventory, handle)
    code, host = doctor_json(path, "PC-HEALTHY-TLS")
    assert code == 1 and host["failed_step"] == "auth_scheme"
    failed = next(s for s in host["steps"] if s["status"] == "fail")
    assert failed["reason"] == "scheme_not_offered" and "it offers: Negotiate" in failed["cause"]["en"]
