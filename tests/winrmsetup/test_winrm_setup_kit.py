"""`fleetcheck winrm-setup` (issue 16 part 2): the controller is validated and written as data only,
the scripts are PowerShell 2.0 / .NET 3.5 safe, undo restores what enable changed, the Group Policy
document names each setting's policy, registry value and source."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))

import agent_ps_lint as ps
import dotnet_api
import ps_dotnet

from fleetcheck.cli import main
from fleetcheck.winrmsetup import (
    KIT_FILES,
    SetupError,
    SetupOptions,
    controller_address,
    ps_literal,
    render_enable,
    render_kit,
    thumbprint,
)

THUMB = "0123456789abcdef0123456789ABCDEF01234567"
HOSTILE = [
    "1.2.3.4'; Remove-Item C:\\ -Recurse; '", "$(calc)", "`calc`", "pc;calc", "a b", "host\n", "", " ",
    "*", "any", "LocalSubnet", "10.0.0.0/8", "10.0.0.1-10.0.0.9", "10.0.0.1,10.0.0.2", "0.0.0.0", "::",
    "224.0.0.1", "255.255.255.255", "1.2.3", "999.1.1.1", "-x.example", "x-.example", "a..b", "x" * 64,
    "a." * 127 + "b", "１.２.３.４", "pc\u2019x", "fe80::1%12", "ctl.10", "ctl\"x",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_controllers_are_refused(text: str) -> None:
    with pytest.raises(SetupError) as caught:
        controller_address(text)
    assert "controller address" in str(caught.value) and "控制机地址" in caught.value.format("zh")
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("text,expected", [
    ("10.1.2.3", "10.1.2.3"), ("2001:DB8::10", "2001:db8::10"), ("fleet-ctl.trade.local", "fleet-ctl.trade.local"),
    ("CTL01", "CTL01"), ("ctl.trade.local.", "ctl.trade.local"),
])
def test_valid_controllers(text: str, expected: str) -> None:
    assert controller_address(text) == expected


def _data_block(script: str) -> dict[str, str]:
    """The quoted literals of the data block, read from the syntax tree (not by text search)."""
    found: dict[str, str] = {}
    for node in ps.walk(ps.parse(script).root_node):
        if node.type == "assignment_expression":
            name = ps.text(node).split("=", 1)[0].strip()
            if name in ("$Controller", "$Transport", "$CertThumbprint"):
                literals = [n for n in ps.walk(node) if n.type == "string_literal"]
                kinds = {n.type for n in ps.walk(node)}
                assert "expandable_string_literal" not in kinds, "data must be a verbatim literal"
                value = ps.string_value(literals[0])
                assert value is not None
                found[name] = value
    return found


def test_the_controller_is_one_verbatim_literal_at_the_top() -> None:
    script = render_enable(SetupOptions.parse("fleet-ctl.trade.local", https=True, cert_thumbprint=THUMB))
    assert _data_block(script) == {"$Controller": "fleet-ctl.trade.local", "$Transport": "HTTPS",
                                   "$CertThumbprint": THUMB.upper()}
    assert script.count("fleet-ctl.trade.local") == 1
    assert script.index("$Controller = ") < script.index("function ")


def test_a_quote_can_never_end_the_literal() -> None:
    """The second wall: even an unvalidated value with quotes stays inside its literal."""
    hostile = "x'; Remove-Item C:\\; 'y\u2019z"
    text = "$Controller = '" + ps_literal(hostile) + "'\n"
    literal = next(n for n in ps.walk(ps.parse(text).root_node) if n.type == "string_literal")
    assert ps.string_value(literal) is not None
    assert ps.syntax_errors(text) == []
    commands = [n for n in ps.walk(ps.parse(text).root_node) if n.type == "command"]
    assert commands == []  # nothing in it became a command


@pytest.mark.parametrize("https", [False, True])
def test_scripts_pass_the_ps2_lint(https: bool) -> None:
    kit = render_kit(SetupOptions.parse("10.1.2.3", https=https))
    for name in ("enable-winrm.ps1", "undo-winrm.ps1"):
        source = kit[name].decode("utf-8-sig")
        assert kit[name].startswith(b"\xef\xbb\xbf")
        assert ps.syntax_errors(source) == [], name
        assert ps.lint(source) == [], f"{name}: " + "; ".join(map(str, ps.lint(source)))


def test_scripts_use_only_the_net35_api() -> None:
    root = dotnet_api.default_cache()
    if not dotnet_api.is_complete(root):
        pytest.skip(f"Mono's .NET 2.0/3.5 reference assemblies missing from {root} (tests/agent/fetch_mono_api.sh)")
    api = dotnet_api.ApiModel.load(root)
    kit = render_kit(SetupOptions.parse("10.1.2.3", https=True))
    for name in ("enable-winrm.ps1", "undo-winrm.ps1"):
        report = ps_dotnet.check(kit[name].decode("utf-8-sig"), api)
        assert report.violations == [], f"{name}: " + "\n".join(map(str, report.violations))


def test_the_api_check_sees_a_net4_member_in_the_enable_script() -> None:
    root = dotnet_api.default_cache()
    if not dotnet_api.is_complete(root):
        pytest.skip(f"Mono's .NET 2.0/3.5 reference assemblies missing from {root}")
    enable = render_kit(SetupOptions.parse("10.1.2.3"))["enable-winrm.ps1"].decode("utf-8-sig")
    broken = enable.replace("$RuleName = ", "$x = [string]::IsNullOrWhiteSpace('a')\n$RuleName = ", 1)
    report = ps_dotnet.check(broken, dotnet_api.ApiModel.load(root))
    assert [v.text for v in report.violations if "IsNullOrWhiteSpace" in str(v)]


def test_undo_reads_back_every_prior_value_enable_records() -> None:
    kit = render_kit(SetupOptions.parse("10.1.2.3"))
    enable, undo = kit["enable-winrm.ps1"].decode("utf-8-sig"), kit["undo-winrm.ps1"].decode("utf-8-sig")
    recorded = set(re.findall(r"\$lines\.Add\('(\w+)=", enable))
    restored = set(re.findall(r"\$prior\['(\w+)'\]", undo))
    assert recorded == {"ServiceStartMode", "ServiceState", "FirewallRuleExisted", "ListenerExisted", "Transport",
                        "AllowUnencrypted", "Basic"}
    assert restored == recorded
    # Each thing enable changes has its restore in undo.
    for changed, restore in [
        (r"Set-Service -Name WinRM -StartupType Automatic", r"Set-Service -Name WinRM -StartupType $mode"),
        (r"Set-Item -Path 'WSMan:\localhost\Service\Auth\Basic' -Value $false",
         r"Set-Item -Path 'WSMan:\localhost\Service\Auth\Basic' -Value ($prior['Basic'] -eq 'true')"),
        (r"Set-Item -Path 'WSMan:\localhost\Service\AllowUnencrypted' -Value $false",
         r"Set-Item -Path 'WSMan:\localhost\Service\AllowUnencrypted' -Value ($prior['AllowUnencrypted'] -eq 'true')"),
        ("advfirewall firewall add rule", "advfirewall firewall delete rule"),
        (r"New-Item -Path 'WSMan:\localhost\Listener'", "Remove-Item -Path ('WSMan:\\localhost\\Listener\\'"),
    ]:
        assert changed in enable and restore in undo, (changed, restore)


def test_enable_never_opens_wider_than_the_controller() -> None:
    enable = render_kit(SetupOptions.parse("10.1.2.3"))["enable-winrm.ps1"].decode("utf-8-sig")
    code = "\n".join(line for line in enable.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"(Set-Item|New-Item|winrm\.cmd)[^\n]*TrustedHosts", code, re.IGNORECASE)
    assert "('remoteip=' + $remote)" in code
    assert "Enable-PSRemoting" not in code and "quickconfig" not in code.lower()
    assert "-Value $true" not in code


def test_thumbprints() -> None:
    assert thumbprint("01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67") == "0123456789ABCDEF0123456789ABCDEF01234567"
    for bad in ("xyz", THUMB[:-1], THUMB + "0", THUMB[:-1] + "'"):
        with pytest.raises(SetupError):
            thumbprint(bad)
    with pytest.raises(SetupError, match="needs --https"):
        SetupOptions.parse("10.1.2.3", cert_thumbprint=THUMB)


def test_group_policy_names_each_setting_with_registry_value_and_source() -> None:
    doc = render_kit(SetupOptions.parse("10.1.2.3", https=True))["group-policy.md"].decode("utf-8")
    for expected in ("AllowAutoConfig = REG_DWORD 1", "AllowBasic = REG_DWORD 0", "AllowUnencryptedTraffic = REG_DWORD 0",
                     "DisableRunAs = REG_DWORD 1", r"HKLM\Software\Policies\Microsoft\Windows\WinRM\Service",
                     "Allow remote server management through WinRM", "允许通过 WinRM 进行远程服务器管理",
                     "Allow Basic authentication", "允许基本身份验证", "Allow unencrypted traffic", "允许未加密通信",
                     "remoteip=10.1.2.3", "TCP 5986", "learn.microsoft.com", "Start = REG_DWORD 2"):
        assert expected in doc, expected
    assert doc.count("来源 / Source: https://learn.microsoft.com/") >= 8


def test_command_writes_the_kit_and_refuses_hostile_input(tmp_path: Path) -> None:
    out = tmp_path / "kit"
    result = CliRunner().invoke(main, ["--lang", "en", "winrm-setup", "--controller", "10.1.2.3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(KIT_FILES)
    assert "only 10.1.2.3 may connect, TCP 5985" in result.output
    wrapper = (out / "enable-winrm.cmd").read_bytes()
    assert b'-File "%~dp0enable-winrm.ps1"' in wrapper and b"net session" in wrapper
    bad = CliRunner().invoke(main, ["winrm-setup", "--controller", "10.1.2.3'; calc", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "控制机地址" in bad.output
    assert not (tmp_path / "x").exists()
