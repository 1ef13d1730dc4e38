"""agent.ps1 and the bootstrap parse, and stay inside PowerShell 2.0 / .NET 3.5.

No PowerShell exists here, so these static checks are what stands between a
PS3-only construct and a Windows 7 trading PC that answers with an error.
"""

from __future__ import annotations

import re

import agent_ps_lint as ps
import pytest

from fleetcheck.agent import agent_script, bootstrap_script, command_line, encoded_bootstrap

AGENT = agent_script().decode("utf-8")
BOOTSTRAP = bootstrap_script()

# Where injected code goes: after the settings block, at script level.
ANCHOR = "$MaxTreeDepth = 20\n"


def import_task_script() -> str:
    """The fixed script the import_pfx scheduled task runs (a here-string in agent.ps1)."""
    tree = ps.parse(AGENT)
    for node in ps.walk(tree.root_node):
        if node.type == "assignment_expression" and ps.text(node).startswith("$ImportTaskScript"):
            literal = [n for n in ps.walk(node) if n.type == "string_literal"]
            assert literal, "the task script must be a string literal"
            value = ps.string_value(literal[0])
            assert value is not None
            return value
    raise AssertionError("$ImportTaskScript not found in agent.ps1")


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("name,source", [("agent.ps1", AGENT), ("bootstrap.ps1", BOOTSTRAP)])
def test_scripts_parse_without_errors(name: str, source: str) -> None:
    errors = ps.syntax_errors(source)
    assert errors == [], f"{name} does not parse: " + "; ".join(map(str, errors))


def test_import_task_script_parses_and_is_verbatim() -> None:
    """The task script is fixed text: a single-quoted here-string, so no request value can expand into it."""
    tree = ps.parse(AGENT)
    nodes = [
        n
        for n in ps.walk(tree.root_node)
        if n.type == "assignment_expression" and ps.text(n).startswith("$ImportTaskScript")
    ]
    assert len(nodes) == 1
    kinds = {n.type for n in ps.walk(nodes[0])}
    assert "verbatim_here_string_characters" in kinds
    assert "expandable_here_string_literal" not in kinds
    script = import_task_script()
    assert ps.syntax_errors(script) == []
    assert ps.lint(script) == []
    assert "X509Certificate2Collection" in script


def test_syntax_error_is_reported() -> None:
    broken = AGENT.replace(ANCHOR, ANCHOR + "$y = $x ?? 1\nfunction Broken {\n    param($A\n}\n", 1)
    assert ps.syntax_errors(broken), (
        "a PS7 operator and an unclosed param block must not parse cleanly"
    )


# --------------------------------------------------------------------------- the lint


def test_agent_is_clean() -> None:
    violations = ps.lint(AGENT)
    assert violations == [], "agent.ps1 violates PowerShell 2.0 rules:\n" + "\n".join(
        map(str, violations)
    )


def test_bootstrap_is_clean_with_its_one_scriptblock_create() -> None:
    violations = ps.lint(BOOTSTRAP, allowed_script_creates=1)
    assert violations == [], "\n".join(map(str, violations))


INJECTIONS = [
    ("$text = $response | ConvertTo-Json\n", "ConvertTo-Json"),
    ("$req = ConvertFrom-Json $RequestJson\n", "ConvertFrom-Json"),
    ("$v = Get-ItemPropertyValue -Path HKLM:\\X -Name Y\n", "Get-ItemPropertyValue"),
    ("$os = Get-CimInstance Win32_OperatingSystem\n", "CIM cmdlet"),
    ("$r = Invoke-CimMethod -ClassName Win32_Process -MethodName Create\n", "CIM cmdlet"),
    ("$h = [ordered]@{ a = 1 }\n", "[ordered]"),
    ("$o = [PSCustomObject]@{ a = 1 }\n", "[pscustomobject]"),
    ("$sb = [System.Text.StringBuilder]::new()\n", "::new"),
    ("if ($a -in $b) {\n    $c = 1\n}\n", "-in"),
    ("if ($a -NotIn $b) {\n    $c = 1\n}\n", "-notin"),
    ("$n = 1 -shl 3\n", "-shl"),
    ("$all = @(1, 2) | ForEach-Object { $PSItem }\n", "$PSItem"),
    (
        "$x = Get-Process | Where-Object Name -eq 'explorer'\n",
        "Where-Object/ForEach-Object without a script block",
    ),
    (
        "$x = Get-Process | ? Name -eq 'explorer'\n",
        "Where-Object/ForEach-Object without a script block",
    ),
    (
        "$x = Get-Process | ForEach-Object Name\n",
        "Where-Object/ForEach-Object without a script block",
    ),
    ("$x = Get-Process | % ProcessName\n", "Where-Object/ForEach-Object without a script block"),
    (
        "$x = Get-Process | Where-Object -Property Name -EQ 'a'\n",
        "Where-Object/ForEach-Object without a script block",
    ),
    ("$t = Get-Content -Raw C:\\x.txt\n", "Get-Content -Raw"),
    ("$t = gc C:\\x.txt -Ra\n", "Get-Content -Raw"),
    ("$f = Get-ChildItem C:\\ -File\n", "Get-ChildItem -file"),
    ("class Foo {\n    [int]$A\n}\n", "class"),
    ("enum Color {\n    Red\n}\n", "enum"),
    ("using namespace System.Text\n", "using namespace"),
    ("$x = Get-Item C:\\x -ErrorAction Ignore\n", "-ErrorAction Ignore"),
    ("$x = Get-Item C:\\x -ea:Ignore\n", "-ErrorAction Ignore"),
    ("$r = Invoke-WebRequest http://127.0.0.1/\n", "Invoke-WebRequest"),
    ("$r = Invoke-RestMethod http://127.0.0.1/\n", "Invoke-RestMethod"),
    ("$p = Get-WmiObject -Class Win32_Product\n", "Win32_Product"),
    ("$p = Get-WmiObject -Query 'SELECT * FROM win32_product'\n", "Win32_Product"),
    ("Invoke-Expression $RequestJson\n", "Invoke-Expression"),
    ("$r = iex $RequestJson\n", "Invoke-Expression"),
    ("$b = [ScriptBlock]::Create($RequestJson)\n", "[ScriptBlock]::Create"),
    ("$b = $ExecutionContext.InvokeCommand.NewScriptBlock($RequestJson)\n", "script from text"),
    ("Add-Type -TypeDefinition $code\n", "Add-Type with code"),
    ("Add-Type -AssemblyName $name\n", "Add-Type with code"),
    ("Write-Host 'hello'\n", "Write-Host"),
    ("$e = [string]::IsNullOrWhiteSpace($x)\n", ".NET 4 member IsNullOrWhiteSpace"),
    (
        "$k = [Microsoft.Win32.RegistryKey]::OpenBaseKey('LocalMachine', 'Registry64')\n",
        ".NET 4 member OpenBaseKey",
    ),
    ("$r = (1, 2).Where({ $_ -gt 1 })\n", ".Where() method (PowerShell 4)"),
    ("$x = 1 && 2\n", "&& / || pipeline chain"),
    ("$p = $PSScriptRoot\n", "$PSScriptRoot"),
    ("$r = Test-NetConnection 127.0.0.1 -Port 80\n", "Test-NetConnection"),
    ("$r = Get-Process -PipelineVariable p\n", "-PipelineVariable"),
    ("$list.Add(1)\n", "output-leak"),
    ("$builder.Append('x')\n", "output-leak"),
    ("[Microsoft.Win32.Registry]::LocalMachine.CreateSubKey('SOFTWARE\\x')\n", "output-leak"),
    ("New-Item -ItemType Directory C:\\x\n", "output-leak"),
    ("$out = cmd.exe /c $RequestJson\n", "cmd.exe"),
]


@pytest.mark.parametrize(
    "snippet,rule", INJECTIONS, ids=[rule + ":" + s.split("\n")[0][:30] for s, rule in INJECTIONS]
)
def test_lint_names_each_injected_construct(snippet: str, rule: str) -> None:
    assert ANCHOR in AGENT
    tainted = AGENT.replace(ANCHOR, ANCHOR + snippet, 1)
    assert ps.syntax_errors(tainted) == [] or rule in ("class", "enum"), (
        "injected snippet should parse"
    )
    rules = {v.rule for v in ps.lint(tainted)}
    assert rule in rules, f"lint missed {rule!r} in {snippet!r}; found {sorted(rules)}"


def test_acceptance_convertto_json_makes_the_agent_fail() -> None:
    tainted = AGENT.replace(ANCHOR, ANCHOR + "$json = $x | ConvertTo-Json -Depth 5\n", 1)
    violations = ps.lint(tainted)
    assert [v.rule for v in violations] == ["ConvertTo-Json"]
    assert violations[0].line == AGENT[: AGENT.index(ANCHOR)].count("\n") + 2


@pytest.mark.parametrize(
    "snippet",
    [
        "# ConvertTo-Json and [ordered] and Win32_Product, only mentioned in a comment\n",
        "$fine = @(1, 2) | Where-Object { $_ -gt 1 } | ForEach-Object -Process { $_ }\n",
        "[void]$list.Add(1)\n",
        "$null = $list.Add(1)\n",
        "$list.Add(1) | Out-Null\n",
        "$c = Get-Content C:\\x.txt -Encoding Byte -ReadCount 0\n",
        "$n = New-Object System.Text.StringBuilder\n",
        "$x = Get-Item C:\\x -ErrorAction SilentlyContinue\n",
    ],
)
def test_lint_accepts_ps2_equivalents(snippet: str) -> None:
    """The rules are about constructs, not words: PS2-safe code stays clean."""
    tainted = AGENT.replace(ANCHOR, ANCHOR + snippet, 1)
    assert ps.lint(tainted) == []


# --------------------------------------------------------------------------- script text from data


def test_agent_never_builds_script_text() -> None:
    """No Invoke-Expression / ScriptBlock::Create / NewScriptBlock / Add-Type code in the agent."""
    assert ps.script_creates(AGENT) == []
    tree = ps.parse(AGENT)
    for node in ps.walk(tree.root_node):
        if node.type == "command":
            name = (ps.command_name(node) or "").lower()
            assert name not in ("invoke-expression", "iex", "invoke-command", "icm"), ps.text(node)
            if name == "add-type":
                assert re.fullmatch(
                    r"Add-Type -AssemblyName System\.Web\.Extensions -ErrorAction Stop",
                    ps.text(node).strip(),
                )


def test_bootstrap_creates_exactly_one_scriptblock_from_the_agent_text() -> None:
    creates = ps.script_creates(BOOTSTRAP)
    assert len(creates) == 1
    argument = next(n for n in ps.walk(creates[0]) if n.type == "argument_expression_list")
    assert ps.text(argument).strip() == "$agent", (
        "the bootstrap compiles the agent text and nothing else"
    )


def test_bootstrap_passes_the_request_as_data() -> None:
    """The request string is an argument of the agent script block, never concatenated into code."""
    tree = ps.parse(BOOTSTRAP)
    invocations = [
        n for n in ps.walk(tree.root_node) if n.type == "command" and ps.text(n).startswith("&")
    ]
    assert len(invocations) == 1
    args = [ps.text(a) for a in ps.command_arguments(invocations[0])]
    assert args == ["$request"]


# --------------------------------------------------------------------------- wire-level properties


def test_agent_is_ascii_only() -> None:
    """PowerShell 2.0 reads a BOM-less script as ANSI when run by hand; ASCII is the same in every code page."""
    raw = agent_script()
    bad = [
        (i, b) for i, b in enumerate(raw) if b > 0x7E or (b < 0x20 and b not in (0x09, 0x0A, 0x0D))
    ]
    assert bad == [], f"non-ASCII byte at offsets {bad[:5]}"


def test_command_line_is_well_under_cmd_limit() -> None:
    executable, arguments = command_line()
    length = len(" ".join([executable, *arguments]))
    assert length < 8191 // 2, f"command line is {length} characters; cmd.exe's limit is 8191"
    assert arguments[-1] == encoded_bootstrap()


def test_agent_writes_stdout_only_through_raw_bytes() -> None:
    """One writer of stdout (Write-Response); everything else is discarded by `$null = Invoke-Agent`."""
    tree = ps.parse(AGENT)
    writers = [
        n
        for n in ps.walk(tree.root_node)
        if n.type == "invokation_expression"
        and (ps.member_name(n) or "").lower() == "openstandardoutput"
    ]
    assert len(writers) == 1
    assert not re.search(r"\[Console\]::(Out\b|Write)", AGENT, re.IGNORECASE)
    assert "$null = Invoke-Agent $RequestJson" in AGENT


def test_json_escaping_is_case_sensitive_and_total() -> None:
    """The fast path must use -cnotmatch (case-insensitive matching lets U+212A through as 'k')
    and the slow path must escape every code unit outside 0x20..0x7E."""
    tree = ps.parse(AGENT)
    function = next(
        n
        for n in ps.walk(tree.root_node)
        if n.type == "function_statement" and "Add-JsonString" in ps.text(n)[:40]
    )
    body = ps.text(function)
    assert "-cnotmatch '[^\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]'" in body
    assert "$code -lt 32 -or $code -gt 126" in body
    assert "$code.ToString('x4')" in body
    # The class really is "printable ASCII except quote and backslash".
    allowed = {c for c in range(0x20, 0x7F)} - {0x22, 0x5C}
    pattern = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")
    assert {c for c in range(0x10000) if not pattern.search(chr(c))} == allowed


def test_validators_anchor_with_backslash_z() -> None:
    """In .NET, '$' also matches before a trailing newline: request values are checked with \\z."""
    for needle in ("'^[0-9A-Fa-f]{4}\\z'", "'^[0-9A-Fa-f]{40}\\z'", "'^S-1-[0-9]+(-[0-9]+)+\\z'"):
        assert needle in AGENT
    assert not re.search(r"-c?(not)?match '[^']*\$'", AGENT), "a validation regex ends in $"
