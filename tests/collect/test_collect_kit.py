"""The collection kit (issue 16 part 3, acceptance 2): collect.ps1 is PowerShell 2.0 / .NET 3.5 safe,
carries exactly the agent and request a WinRM sweep sends, and its answers import."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))

import agent_ps_lint as ps
import dotnet_api
import ps_dotnet

from fleetcheck.agent import POWERSHELL, agent_wire, build_payload, command_line
from fleetcheck.cli import main
from fleetcheck.collect import kit_payload, read_answer, render_script
from fleetcheck.collect.kit import base64_literal
from fleetcheck.evaluate import compile_request
from fleetcheck.policy.loader import load_policy_files
from fleetcheck.sim.host import SimulatedHost

REQUEST = compile_request(load_policy_files(()))
SCRIPT = render_script(REQUEST)
TEMPLATE = (Path(__file__).resolve().parents[2] / "fleetcheck" / "collect" / "collect.ps1").read_text(encoding="utf-8-sig")


def test_kit_script_parses_and_passes_the_ps2_lint() -> None:
    source = SCRIPT.decode("utf-8-sig")
    assert ps.syntax_errors(source) == []
    assert ps.lint(source) == [], "\n".join(map(str, ps.lint(source)))
    assert ps.lint(TEMPLATE) == []


def test_the_lint_would_see_a_ps3_construct_in_the_kit() -> None:
    broken = SCRIPT.decode("utf-8-sig").replace("$ErrorActionPreference = 'Stop'",
                                                "$ErrorActionPreference = 'Stop'\n$x = 1 | ConvertTo-Json", 1)
    assert [v.rule for v in ps.lint(broken)] == ["ConvertTo-Json"]


def test_kit_script_uses_only_the_net35_api() -> None:
    root = dotnet_api.default_cache()
    if not dotnet_api.is_complete(root):
        pytest.skip(f"Mono's .NET 2.0/3.5 reference assemblies missing from {root} (tests/agent/fetch_mono_api.sh)")
    report = ps_dotnet.check(SCRIPT.decode("utf-8-sig"), dotnet_api.ApiModel.load(root))
    assert report.violations == [], "\n".join(map(str, report.violations))


def test_kit_carries_the_winrm_command_line_and_payload_byte_for_byte() -> None:
    payload = kit_payload(SCRIPT)
    assert payload.arguments == command_line()[1]
    assert payload.stdin == build_payload(REQUEST)
    assert SCRIPT.startswith(b"\xef\xbb\xbf")  # PowerShell 2.0 reads a BOM-less script as ANSI
    assert agent_wire() in base64.b64decode(payload.stdin.split(b"\n")[0])


def test_only_base64_is_ever_written_into_the_script() -> None:
    assert base64_literal("QUJD+/9=") == "QUJD+/9="
    for hostile in ("'; Remove-Item C:\\ -Recurse; '", "a'b", "$(calc)", "x\ny", "QUJD\r"):
        with pytest.raises(ValueError, match="base64"):
            base64_literal(hostile)


def test_kit_answer_from_the_simulated_pc_is_accepted(tmp_path: Path) -> None:
    payload = kit_payload(SCRIPT)
    host = SimulatedHost.from_image("win7-compliant", {"hostname": "SZ-W7-09"}, None)
    result = host.run(POWERSHELL, payload.arguments, payload.stdin)
    assert result.exit_code == 0, result.stderr
    answer = tmp_path / "SZ-W7-09-20261201T083000Z.json"
    answer.write_text(result.stdout, encoding="ascii")
    read = read_answer(answer)
    assert read.response.os.hostname == "SZ-W7-09"
    assert read.collected.isoformat() == "2026-12-01T08:30:00+00:00"


def test_a_changed_agent_in_the_kit_is_refused_by_the_simulator() -> None:
    """The simulator accepts only the shipped agent: the kit test above proves it carries that one."""
    payload = kit_payload(SCRIPT)
    agent_line, request_line = payload.stdin.split(b"\n")[:2]
    changed = base64.b64encode(base64.b64decode(agent_line) + b"# x\n") + b"\n" + request_line + b"\n"
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC"}, None)
    assert host.run(POWERSHELL, payload.arguments, changed).exit_code == 2


def test_collect_script_command_writes_the_kit(tmp_path: Path) -> None:
    out = tmp_path / "kit"
    result = CliRunner().invoke(main, ["--lang", "en", "collect", "script", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "collection kit written" in result.output
    assert (out / "collect.ps1").read_bytes() == SCRIPT
    wrapper = (out / "collect.cmd").read_bytes()
    assert b"\r\n" in wrapper and b"\n" not in wrapper.replace(b"\r\n", b"")
    assert b'-ExecutionPolicy Bypass -File "%~dp0collect.ps1"' in wrapper
    assert b"Sysnative" in wrapper  # 64-bit PowerShell from a 32-bit launcher, as WinRM runs it
    zh = CliRunner().invoke(main, ["collect", "script", "--out", str(out)])
    assert zh.exit_code == 0 and "已写出采集工具" in zh.output
