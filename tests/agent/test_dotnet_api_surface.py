"""The shipped PowerShell uses only the .NET Framework 2.0/3.5 public API.

Windows 7 trading PCs run PowerShell 2.0 on .NET 3.5 (CLR 2.0): a .NET 4
member such as ``[String]::IsNullOrWhiteSpace`` is an error there, found only
on a customer's PC. Every type, constructor, static member, static-call arity
and typed instance member that agent.ps1, the bootstrap (and any other .ps1 in
the package, and the scripts they write out) name is checked against Mono's
reference assemblies for that framework (Debian's mono-devel, usr/lib/mono/2.0-api;
see dotnet_api.py and ps_dotnet.py). Each rule is proven by injecting a
violation into a copy of the shipped agent.

The assemblies are cached (FLEETCHECK_MONO_API, else ~/.cache/fleetcheck-test/
mono-2.0-api) and fetched with fetch_mono_api.sh when missing; .ci/run fetches
them before pytest. Off CI the tests skip when they cannot be had; in CI they fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import agent_ps_lint as ps
import dotnet_api
import ps_dotnet
import pytest
from dotnet_api import ApiModel, Method

from fleetcheck.agent import agent_script, bootstrap_script

PACKAGE = Path(__file__).resolve().parents[2] / "fleetcheck"
AGENT = agent_script().decode("utf-8")


def require_api(root: Path, fetch: Callable[[Path], str | None]) -> Path:
    """The extracted assemblies at ``root``, fetched if need be; skip (or fail in CI)."""
    if dotnet_api.is_complete(root):
        return root
    reason = fetch(root)
    if reason is None and dotnet_api.is_complete(root):
        return root
    how = (
        f"Mono's .NET 2.0/3.5 reference assemblies (Debian mono-devel) missing from {root} "
        f"and not fetchable: {reason}; run tests/agent/fetch_mono_api.sh"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"required in CI: {how}")
    pytest.skip(how)


@pytest.fixture(scope="session")
def api() -> ApiModel:
    root = require_api(dotnet_api.default_cache(), dotnet_api.fetch)
    return ApiModel.load(root)


def shipped_scripts() -> list[tuple[str, str]]:
    """(name, source) of every .ps1 in the package and every script they write out."""
    found: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.ps1")):
        source = path.read_text(encoding="utf-8-sig")
        name = str(path.relative_to(PACKAGE))
        found.append((name, source))
        for line, embedded in ps_dotnet.embedded_scripts(source):
            found.append((f"{name} (here-string at line {line})", embedded))
    return found


SHIPPED = shipped_scripts()


# --------------------------------------------------------------------------- the shipped code


def test_shipped_scripts_are_all_found() -> None:
    names = [name for name, _ in SHIPPED]
    assert "agent/agent.ps1" in names
    assert "agent/bootstrap.ps1" in names
    # The PFX import task script agent.ps1 writes out is PowerShell too.
    assert any(n.startswith("agent/agent.ps1 (here-string") for n in names), names


@pytest.mark.parametrize("name,source", SHIPPED, ids=[name for name, _ in SHIPPED])
def test_shipped_powershell_uses_only_the_net35_api(api: ApiModel, name: str, source: str) -> None:
    report = ps_dotnet.check(source, api)
    assert report.violations == [], (
        f"{name} uses .NET API that .NET 2.0/3.5 lacks ({report.summary()}):\n"
        + "\n".join(map(str, report.violations))
    )


def test_the_checker_sees_the_shipped_uses(api: ApiModel) -> None:
    """Not vacuous: the uses the scripts make are found and verified, not skipped."""
    boot = ps_dotnet.check(bootstrap_script(), api)
    assert ("System.Convert", "FromBase64String", 1) in boot.static_calls
    assert ("System.Text.UTF8Encoding", 1) in boot.ctors
    assert ("System.Management.Automation.ScriptBlock", "Create", 1) in boot.static_calls
    assert ("System.Text.UTF8Encoding", "GetString", 1) in boot.instance_members
    agent = ps_dotnet.check(AGENT, api)
    assert {"System.Text.StringBuilder", "Microsoft.Win32.RegistryKey"} <= agent.types
    assert len(agent.types) >= 30
    assert len(agent.static_calls) >= 40
    assert len(agent.instance_members) >= 40
    assert any(t == "Microsoft.Win32.RegistryKey" for t, _, _ in agent.instance_members)
    # It loads System.Web.Extensions 3.5 (JavaScriptSerializer) by full name.
    assert any(a.startswith("System.Web.Extensions, Version=3.5.0.0") for a in agent.assemblies)


# --------------------------------------------------------------------------- injections

# Each: (code inserted as a line, the rule that must fire).
INJECTIONS = [
    ("[String]::IsNullOrWhiteSpace($x)", "static-call"),  # .NET 4
    ("$is64 = [Environment]::Is64BitOperatingSystem", "static-member"),  # .NET 4
    ("$p = [System.IO.Path]::Combine('a', 'b', 'c')", "static-call"),  # 3-arg overload: .NET 4
    (
        (
            "$k = [Microsoft.Win32.RegistryKey]::OpenBaseKey("
            "[Microsoft.Win32.RegistryHive]::LocalMachine, 'Registry64')"
        ),
        "static-call",
    ),  # .NET 4 (and RegistryView)
    ("$sb = [System.Text.StringBuilder]::new()", "::new"),  # PowerShell 5
    ("$sb = New-Object System.Text.StringBuilder; $sb.Clear()", "call"),  # Clear: .NET 4
    # More of each rule:
    ("$g = [Guid]::TryParse('x', [ref]$out)", "static-call"),  # .NET 4
    ("$t = [System.Threading.Tasks.Task]", "type"),  # .NET 4
    ("$s = New-Object System.IO.FileStream('a')", "ctor"),  # no 1-argument constructor
    ("$s = New-Object -TypeName System.IO.FileStream -ArgumentList 'a'", "ctor"),
    ("[string]$P = 'a'; $s = New-Object System.IO.FileStream($P)", "ctor"),  # a typed scalar
    ("$z = New-Object System.IO.Compression.ZipArchive($stream)", "type"),  # .NET 4.5
    ("$l = New-Object System.Collections.Generic.List[System.Tuple]", "type"),  # .NET 4 argument
    ("$l = [System.Collections.Generic.List[System.Lazy]]$null", "type"),  # .NET 4 argument
    ("$e = [System.Management.Automation.ActionPreference]::Ignore", "static-member"),  # PS 3
    ("$cp = [Console]::OutputEncoding.NoSuchMember", "member"),  # a static property's type
    # PowerShell 2.0 does not reach members a class implements explicitly (Array's
    # IList.Contains; PowerShell 3 does): https://stackoverflow.com/a/30977897
    ("[string[]]$names = 'a', 'b'; $ok = $names.Contains('a')", "call"),
    ("Add-Type -AssemblyName System.IO.Compression.FileSystem", "assembly"),  # .NET 4.5
    ("Add-Type -AssemblyName 'System.Security', 'System.Net.Http'", "assembly"),  # .NET 4.5
    (
        (
            "[void][System.Reflection.Assembly]::Load('System.Web.Extensions, Version=4.0.0.0, "
            "Culture=neutral, PublicKeyToken=31bf3856ad364e35')"
        ),
        "assembly",
    ),  # the .NET 4 build of a 3.5 assembly
    (
        "$k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE'); $h = $k.Handle",
        "member",
    ),  # RegistryKey.Handle: .NET 4, type from a static property's and a method's return
    ("$v = [Environment]::OSVersion; $v.IsWindows10", "member"),  # typed static return
    ("[System.IO.FileInfo]$fi = 'x'; $n = $fi.NoSuchMember", "member"),  # type constraint
    ("$w = New-Object System.IO.StringWriter; $w.Dispose($true)", "call"),  # protected overload
]


def _inject(code: str) -> tuple[str, int]:
    """A copy of agent.ps1 with ``code`` added as a line of its own; its line number."""
    source = AGENT if AGENT.endswith("\n") else AGENT + "\n"
    return source + code + "\n", source.count("\n") + 1


@pytest.mark.parametrize("code,rule", INJECTIONS, ids=[c for c, _ in INJECTIONS])
def test_each_injection_is_flagged(api: ApiModel, code: str, rule: str) -> None:
    assert ps.syntax_errors(code) == [], "the injected line must itself be valid PowerShell"
    source, line = _inject(code)
    violations = ps_dotnet.check(source, api).violations
    assert [(v.rule, v.line) for v in violations] == [(rule, line)], violations


def test_injection_inside_a_function_uses_that_functions_variables(api: ApiModel) -> None:
    code = (
        "function Test-Injected { $sb = New-Object System.Text.StringBuilder; [void]$sb.Clear() }"
    )
    source, line = _inject(code)
    assert [(v.rule, v.line) for v in ps_dotnet.check(source, api).violations] == [("call", line)]


def test_injection_on_a_typed_parameter(api: ApiModel) -> None:
    code = "function Test-Injected {\n    param([System.IO.FileInfo]$F)\n    $F.Baz\n}"
    source, line = _inject(code)
    found = [(v.rule, v.line) for v in ps_dotnet.check(source, api).violations]
    assert found == [("member", line + 2)]


def test_injection_into_a_script_the_agent_writes_out(api: ApiModel) -> None:
    """A here-string the agent saves as a .ps1 (the PFX import task) is checked too."""
    source, line = _inject("$TaskScript = @'\n$ok = [String]::IsNullOrWhiteSpace($x)\n'@")
    embedded = [text for at, text in ps_dotnet.embedded_scripts(source) if at == line]
    assert len(embedded) == 1
    found = [(v.rule, v.line) for v in ps_dotnet.check(embedded[0], api).violations]
    assert found == [("static-call", 1)]


# What PowerShell 2.0 on .NET 3.5 accepts must not be flagged.
ACCEPTED = [
    "$s = [string]::Format('{0}{1}{2}{3}{4}', 1, 2, 3, 4, 5)",  # params object[]
    "$p = [System.IO.Path]::Combine('a', 'b')",
    "$e = [Enum]::Parse([DayOfWeek], 'Monday')",  # [Type], 'x' is two arguments
    "$sb = New-Object System.Text.StringBuilder; [void]$sb.Append('x').Append(1)",
    "$l = New-Object System.Collections.Generic.List[string]; $l.Add('x')",
    "$hs = New-Object 'System.Collections.Generic.HashSet[string]'",  # System.Core 3.5
    "$h = @{}; $h.AnyKey = 1; [hashtable]$t = @{}; $t.Whatever",  # dictionaries: keys
    "$f = New-Object System.IO.FileInfo('x'); $b = $f.BaseName",  # types.ps1xml member
    "$x = [xml]'<a><b/></a>'; $x.a.b",  # XML: child elements
    "$o = [wmi]'root\\cimv2:Win32_OperatingSystem=@'; $o.Caption",
    "$n = [int]::MaxValue; $d = [datetime]::Now.AddDays(1)",
    "$a = [System.IO.Directory]::GetFiles('c:\\'); $a.Count; $a.Whatever",  # unrolled: untyped
    "$k = New-Object System.Collections.ArrayList; $k.psobject.Properties",
    "$v = [Environment]::Version.ToString(2)",
    "$b = [byte[]](1, 2); $s = New-Object System.Security.Principal.SecurityIdentifier($b)",
    "[string[]]$names = 'a', 'b'; $n = $names.Count + $names.Length",  # Count: types.ps1xml
    "$al = New-Object System.Collections.ArrayList; $ok = $al.Contains('a')",  # public on the class
    "Add-Type -AssemblyName 'System.Web.Extensions', 'System.Security'",
    "$a = [System.Reflection.Assembly]::LoadWithPartialName('System.Windows.Forms')",
]


@pytest.mark.parametrize("code", ACCEPTED)
def test_net35_code_is_accepted(api: ApiModel, code: str) -> None:
    assert ps.syntax_errors(code) == []
    source, _ = _inject(code)
    assert ps_dotnet.check(source, api).violations == []


# --------------------------------------------------------------------------- the model


def test_overload_arity_counts_optional_and_params_arrays() -> None:
    fixed = Method("M", True, 2, 2, False, None)
    assert fixed.accepts(2) and not fixed.accepts(1) and not fixed.accepts(3)
    optional = Method("M", True, 3, 1, False, None)
    assert [optional.accepts(n) for n in range(5)] == [False, True, True, True, False]
    variadic = Method("M", True, 2, 2, True, None)
    assert [variadic.accepts(n) for n in range(5)] == [False, True, True, True, True]


def test_metadata_reads_what_net35_has_and_lacks(api: ApiModel) -> None:
    assert "mscorlib" in api.assemblies and "System.Core" in api.assemblies
    formats = api.methods("System.String", "Format", static=True)
    assert any(m.variadic for m in formats)
    assert {m.params for m in api.methods("System.IO.Path", "Combine", static=True)} == {2}
    assert api.methods("System.String", "IsNullOrWhiteSpace", static=True) == []
    assert api.methods("System.String", "IsNullOrEmpty", static=True)
    (os_version,) = api.values("System.Environment", "OSVersion", static=True)
    assert os_version.type == "System.OperatingSystem"
    assert api.get("System.Collections.Generic.HashSet`1") is not None  # System.Core 3.5
    assert api.get("System.Tuple`2") is None  # .NET 4
    assert api.is_a("System.Text.UTF8Encoding", "System.Text.Encoding")
    assert api.methods("System.Text.StringBuilder", "Clear", static=False) == []
    assert api.versions["system.core"] == "3.5.0.0"
    assert api.versions["mscorlib"] == "2.0.0.0"


def test_accelerators_name_real_types(api: ApiModel) -> None:
    checker = ps_dotnet.Checker(api)
    for short, full in ps_dotnet.ACCELERATORS.items():
        assert api.get(full) is not None or full in ps_dotnet.PS_TYPES, (short, full)
        assert checker.resolve(short) == full
    assert checker.resolve("Environment") == "System.Environment"  # System. is implied
    assert checker.resolve("string[]") == "System.String[]"


def test_missing_assemblies_skip_off_ci_and_fail_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fetch(root: Path) -> str | None:
        return "no network here"

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no network here"):
        require_api(tmp_path / "none", no_fetch)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        require_api(tmp_path / "none", no_fetch)
