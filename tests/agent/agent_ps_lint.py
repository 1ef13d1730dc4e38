"""A PowerShell 2.0 lint for agent.ps1 and the bootstrap, on tree-sitter's syntax tree.

No PowerShell exists in CI, so the agent is held to PowerShell 2.0 / .NET 3.5
statically: every rule looks at syntax nodes (command names, parameters, type
literals, operators, member names, variables), not at raw text, so a comment or
a string that merely mentions ``ConvertTo-Json`` does not trip it and a
construct spelled with odd casing or an alias does.

Each violation names its rule (e.g. ``ConvertTo-Json``, ``::new``,
``output-leak``) and the line, so a failing test says exactly what to fix.

Example::

    >>> [v.rule for v in lint("$x = 1 | ConvertTo-Json")]
    ['ConvertTo-Json']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser, Tree

LANGUAGE = Language(tree_sitter_powershell.language())

# --------------------------------------------------------------------------- rule tables

# Commands that do not exist in PowerShell 2.0 / Windows 7, or that the agent
# must never use (script text from data, host output, slow/unsafe WMI paths).
FORBIDDEN_COMMANDS: dict[str, str] = {
    "convertto-json": "ConvertTo-Json",
    "convertfrom-json": "ConvertFrom-Json",
    "get-itempropertyvalue": "Get-ItemPropertyValue",
    "invoke-webrequest": "Invoke-WebRequest",
    "iwr": "Invoke-WebRequest",
    "curl": "Invoke-WebRequest",
    "wget": "Invoke-WebRequest",
    "invoke-restmethod": "Invoke-RestMethod",
    "irm": "Invoke-RestMethod",
    "invoke-expression": "Invoke-Expression",
    "iex": "Invoke-Expression",
    "invoke-command": "Invoke-Command",
    "icm": "Invoke-Command",
    "start-job": "Start-Job",
    "write-host": "Write-Host",
    "write-information": "Write-Information",
    "get-filehash": "Get-FileHash",
    "new-temporaryfile": "New-TemporaryFile",
    "unblock-file": "Unblock-File",
    "test-netconnection": "Test-NetConnection",
    "resolve-dnsname": "Resolve-DnsName",
    "get-nettcpconnection": "Get-NetTCPConnection",
    "register-scheduledtask": "Register-ScheduledTask",
    "get-scheduledtask": "Get-ScheduledTask",
    "start-scheduledtask": "Start-ScheduledTask",
    "unregister-scheduledtask": "Unregister-ScheduledTask",
    "new-scheduledtaskaction": "New-ScheduledTaskAction",
    "new-scheduledtaskprincipal": "New-ScheduledTaskPrincipal",
    "expand-archive": "Expand-Archive",
    "compress-archive": "Compress-Archive",
    "get-localuser": "Get-LocalUser",
    "get-localgroupmember": "Get-LocalGroupMember",
    "get-clipboard": "Get-Clipboard",
    "set-clipboard": "Set-Clipboard",
    "format-hex": "Format-Hex",
    "convertfrom-string": "ConvertFrom-String",
    "get-timezone": "Get-TimeZone",
    "get-package": "Get-Package",
    "get-pfxcertificate": "Get-PfxCertificate",  # PS2 prompts for the password
    "powershell": "nested powershell",
    "powershell.exe": "nested powershell",
    "pwsh": "nested powershell",
    "pwsh.exe": "nested powershell",
    "cmd": "cmd.exe",
    "cmd.exe": "cmd.exe",
    "using": "using namespace",
    "class": "class",
    "enum": "enum",
    "workflow": "workflow",
    "configuration": "configuration",
}

_CIM_COMMAND = re.compile(r"^[a-z]+-cim", re.IGNORECASE)

# PowerShell 3+ (or .NET 4+) type accelerators and types.
FORBIDDEN_TYPES: dict[str, str] = {
    "ordered": "[ordered]",
    "pscustomobject": "[pscustomobject]",
    "system.management.automation.pscustomobject": "[pscustomobject]",
    "microsoft.win32.registryview": "RegistryView",
    "registryview": "RegistryView",
    "tuple": "Tuple",
    "system.tuple": "Tuple",
    "lazy": "Lazy",
    "system.lazy": "Lazy",
    "system.threading.tasks.task": "Task",
    "ciminstance": "CimInstance",
    "microsoft.management.infrastructure.ciminstance": "CimInstance",
}

# Members that exist only from .NET 4 / PowerShell 4 on.
FORBIDDEN_MEMBERS: dict[str, str] = {
    "isnullorwhitespace": ".NET 4 member IsNullOrWhiteSpace",
    "enumeratefiles": ".NET 4 member EnumerateFiles",
    "enumeratedirectories": ".NET 4 member EnumerateDirectories",
    "enumeratefilesystementries": ".NET 4 member EnumerateFileSystemEntries",
    "readlines": ".NET 4 member ReadLines",
    "hasflag": ".NET 4 member HasFlag",
    "openbasekey": ".NET 4 member OpenBaseKey",
    "is64bitoperatingsystem": ".NET 4 member Is64BitOperatingSystem",
    "is64bitprocess": ".NET 4 member Is64BitProcess",
    "readtoendasync": ".NET 4.5 member ReadToEndAsync",
    "where": ".Where() method (PowerShell 4)",
    "foreach": ".ForEach() method (PowerShell 4)",
}

# Script text made at run time: forbidden in agent.ps1; the bootstrap has exactly one.
SCRIPT_FROM_TEXT_MEMBERS = {"newscriptblock", "invokescript"}

FORBIDDEN_OPERATORS: dict[str, str] = {
    "-in": "-in",
    "-iin": "-in",
    "-cin": "-in",
    "-notin": "-notin",
    "-inotin": "-notin",
    "-cnotin": "-notin",
    "-shl": "-shl",
    "-shr": "-shr",
}

# Automatic variables PowerShell 2.0 does not have (in a script block).
FORBIDDEN_VARIABLES: dict[str, str] = {
    "$psitem": "$PSItem",
    "$psscriptroot": "$PSScriptRoot",
    "$pscommandpath": "$PSCommandPath",
}

# PowerShell 3+ common parameters.
FORBIDDEN_PARAMETERS: dict[str, str] = {
    "-pipelinevariable": "-PipelineVariable",
    "-pv": "-PipelineVariable",
    "-informationaction": "-InformationAction",
    "-infa": "-InformationAction",
    "-informationvariable": "-InformationVariable",
    "-iv": "-InformationVariable",
}

FILTER_COMMANDS = {"where-object", "where", "?", "foreach-object", "foreach", "%"}
FILTER_SCRIPT_PARAMETERS = {"-filterscript", "-process", "-begin", "-end"}
GET_CONTENT = {"get-content", "gc", "cat", "type"}
GET_CHILDITEM = {"get-childitem", "gci", "ls", "dir"}
# -File, -Directory, -Attributes, -Hidden, -ReadOnly, -System: PS3; -Depth: PS5.
GET_CHILDITEM_PS3 = {
    "-file",
    "-directory",
    "-attributes",
    "-hidden",
    "-readonly",
    "-system",
    "-depth",
}
ACTION_PARAMETERS = {"-erroraction", "-ea", "-warningaction", "-wa"}

# Statement-level calls whose return value would leak into the output stream.
LEAKY_MEMBERS = {
    "add",
    "append",
    "appendline",
    "appendformat",
    "insert",
    "createsubkey",
    "opensubkey",
    "start",
    "removeat",
}
LEAKY_COMMANDS = {"new-item", "mkdir", "md", "new-itemproperty"}

_WRAPPERS = {
    "pipeline_chain",
    "logical_expression",
    "bitwise_expression",
    "comparison_expression",
    "additive_expression",
    "multiplicative_expression",
    "format_expression",
    "range_expression",
    "array_literal_expression",
    "unary_expression",
    "logical_argument_expression",
    "bitwise_argument_expression",
    "comparison_argument_expression",
    "additive_argument_expression",
    "multiplicative_argument_expression",
    "format_argument_expression",
    "range_argument_expression",
    "argument_expression",
}


@dataclass(frozen=True)
class Violation:
    """One finding of the lint: which rule, where, and the offending code."""

    rule: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule}: {self.text}"


# --------------------------------------------------------------------------- tree helpers


def parse(source: str | bytes) -> Tree:
    data = source.encode("utf-8") if isinstance(source, str) else source
    return Parser(LANGUAGE).parse(data)


def walk(node: Node) -> Iterator[Node]:
    """Every node below (and including) ``node``, depth first, without recursion limits."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def unwrap(node: Node) -> Node:
    """Descend through single-child precedence wrappers to the expression that matters."""
    while node.type in _WRAPPERS and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def string_value(node: Node) -> str | None:
    """The value of a constant string literal (no variables inside), else None."""
    node = unwrap(node)
    if node.type != "string_literal":
        return None
    if any(child.type in ("variable", "sub_expression") for child in walk(node)):
        return None
    raw = text(node)
    if raw.startswith(("@'", '@"')):
        return raw[2:-2].strip("\r\n")
    return raw[1:-1]


def command_name(node: Node) -> str | None:
    for child in node.children:
        if child.type == "command_name":
            return text(child)
    return None


def command_arguments(node: Node) -> list[Node]:
    """The command's elements without the separators, in order."""
    for child in node.children:
        if child.type == "command_elements":
            return [c for c in child.children if c.type != "command_argument_sep"]
    return []


def member_name(node: Node) -> str | None:
    for child in node.children:
        if child.type == "member_name":
            return text(child)
    return None


def is_static_access(node: Node) -> bool:
    return any(child.type == "::" for child in node.children)


def syntax_errors(source: str | bytes) -> list[Violation]:
    """ERROR and MISSING nodes: code tree-sitter could not parse."""
    tree = parse(source)
    found = []
    for node in walk(tree.root_node):
        if node.type == "ERROR" or node.is_missing:
            snippet = text(node)[:60].replace("\n", "\\n")
            found.append(
                Violation(
                    "syntax error" if node.type == "ERROR" else "missing token",
                    node.start_point[0] + 1,
                    snippet,
                )
            )
    return found


# --------------------------------------------------------------------------- the lint


def _violation(rule: str, node: Node) -> Violation:
    return Violation(rule, node.start_point[0] + 1, text(node).split("\n")[0][:80])


def _check_command(node: Node) -> Iterator[Violation]:
    name = command_name(node)
    args = command_arguments(node)
    params = [text(a).lower().rstrip(":") for a in args if a.type == "command_parameter"]
    for arg in args:
        if (
            arg.type == "command_parameter"
            and text(arg).lower().rstrip(":") in FORBIDDEN_PARAMETERS
        ):
            yield _violation(FORBIDDEN_PARAMETERS[text(arg).lower().rstrip(":")], arg)
    # -ErrorAction Ignore (PowerShell 3): the value follows the parameter.
    for index, arg in enumerate(args[:-1]):
        if arg.type == "command_parameter" and text(arg).lower().rstrip(":") in ACTION_PARAMETERS:
            value = text(args[index + 1]).strip("'\"").lower()
            if value == "ignore":
                yield _violation("-ErrorAction Ignore", node)
    if name is None:
        return
    low = name.lower()
    if low in FORBIDDEN_COMMANDS:
        yield _violation(FORBIDDEN_COMMANDS[low], node)
    if _CIM_COMMAND.match(low):
        yield _violation("CIM cmdlet", node)
    if low in FILTER_COMMANDS:
        yield from _check_filter_command(node, args)
    if low in GET_CONTENT and any(p.startswith("-ra") for p in params):
        yield _violation("Get-Content -Raw", node)
    if low in GET_CHILDITEM:
        for param in params:
            if param in GET_CHILDITEM_PS3:
                yield _violation(f"Get-ChildItem {param}", node)
    if low == "add-type":
        yield from _check_add_type(node, args, params)


def _check_filter_command(node: Node, args: list[Node]) -> Iterator[Violation]:
    """Where-Object / ForEach-Object only in script block form (PowerShell 2.0)."""
    blocks = 0
    for arg in args:
        if arg.type == "command_parameter":
            if text(arg).lower().rstrip(":") not in FILTER_SCRIPT_PARAMETERS:
                yield _violation("Where-Object/ForEach-Object without a script block", node)
                return
            continue
        if unwrap(arg).type == "script_block_expression":
            blocks += 1
        else:
            yield _violation("Where-Object/ForEach-Object without a script block", node)
            return
    if blocks == 0:
        yield _violation("Where-Object/ForEach-Object without a script block", node)


def _check_add_type(node: Node, args: list[Node], params: list[str]) -> Iterator[Violation]:
    """Only ``Add-Type -AssemblyName <literal>``: compiled code from text is script from text."""
    if "-assemblyname" not in params or any(
        p.startswith(("-typedefinition", "-memberdefinition", "-path", "-literalpath", "-name"))
        for p in params
    ):
        yield _violation("Add-Type with code", node)
        return
    for arg in args:
        if arg.type != "command_parameter" and unwrap(arg).type not in (
            "generic_token",
            "string_literal",
        ):
            yield _violation("Add-Type with code", node)
        if any(child.type == "variable" for child in walk(arg)):
            yield _violation("Add-Type with code", node)


def _check_output_leak(node: Node) -> Iterator[Violation]:
    """A statement whose value nobody takes goes to stdout and corrupts the JSON."""
    if node.type != "pipeline" or node.parent is None or node.parent.type != "statement_list":
        return
    first = node.named_children[0] if node.named_children else None
    if first is None or first.type == "assignment_expression":
        return
    stages = [
        c for c in (first.children if first.type == "pipeline_chain" else [first]) if c.type != "|"
    ]
    if (
        stages
        and stages[-1].type == "command"
        and (command_name(stages[-1]) or "").lower() == "out-null"
    ):
        return
    head = unwrap(first)
    if head.type == "expression_with_unary_operator":
        return  # [void]..., -not ..., etc.: the value is consumed
    if head.type == "invokation_expression" and (member_name(head) or "").lower() in LEAKY_MEMBERS:
        yield _violation("output-leak", node)
    if head.type == "command" and (command_name(head) or "").lower() in LEAKY_COMMANDS:
        yield _violation("output-leak", node)


def _check_node(node: Node, kind: str, script_creates: list[Node]) -> Iterator[Violation]:
    """The violations of one node by its kind; ``[ScriptBlock]::Create`` calls are collected, not judged."""
    if kind == "command":
        yield from _check_command(node)
    elif kind in ("class_statement", "enum_statement"):
        yield _violation(kind.split("_", maxsplit=1)[0], node)
    elif kind in ("workflow", "invokation_foreach_expression"):
        yield _violation("workflow" if kind == "workflow" else ".ForEach() method (PowerShell 4)", node)
    elif kind == "type_literal":
        yield from _check_type_literal(node)
    elif kind in ("invokation_expression", "member_access"):
        yield from _check_member(node, kind, script_creates)
    elif kind == "comparison_operator" or kind.endswith("_operator"):
        op = text(node).lower()
        if op in FORBIDDEN_OPERATORS:
            yield _violation(FORBIDDEN_OPERATORS[op], node)
    elif kind == "pipeline_chain_tail":
        yield _violation("&& / || pipeline chain", node)
    elif kind == "variable":
        yield from _check_variable(node)


def _check_type_literal(node: Node) -> Iterator[Violation]:
    name = "".join(text(c) for c in node.children if c.type == "type_spec").lower().replace(" ", "")
    if name in FORBIDDEN_TYPES:
        yield _violation(FORBIDDEN_TYPES[name], node)


def _check_member(node: Node, kind: str, script_creates: list[Node]) -> Iterator[Violation]:
    member = (member_name(node) or "").lower()
    if member == "new" and is_static_access(node):
        yield _violation("::new", node)
    elif member in FORBIDDEN_MEMBERS and (member not in ("where", "foreach") or kind == "invokation_expression"):
        yield _violation(FORBIDDEN_MEMBERS[member], node)
    if member == "create" and is_static_access(node):
        owner = text(node.children[0]).lower().replace(" ", "")
        if owner in ("[scriptblock]", "[system.management.automation.scriptblock]"):
            script_creates.append(node)
    if member in SCRIPT_FROM_TEXT_MEMBERS and kind == "invokation_expression":
        yield _violation("script from text", node)


def _check_variable(node: Node) -> Iterator[Violation]:
    name = text(node).lower()
    if name in FORBIDDEN_VARIABLES:
        yield _violation(FORBIDDEN_VARIABLES[name], node)
    if name.startswith("$using:"):
        yield _violation("$using:", node)


def _check_win32_product(node: Node, kind: str) -> Iterator[Violation]:
    if node.child_count == 0 and "win32_product" in text(node).lower():
        yield _violation("Win32_Product", node)
    if kind in ("string_literal", "generic_token") and "win32_product" in text(node).lower():
        yield _violation("Win32_Product", node)


def lint(source: str | bytes, *, allowed_script_creates: int = 0) -> list[Violation]:
    """All PowerShell 2.0 / agent-rule violations in ``source``.

    ``allowed_script_creates``: how many ``[ScriptBlock]::Create`` calls are
    legitimate (1 for the bootstrap, 0 for the agent).
    """
    tree = parse(source)
    found: list[Violation] = []
    script_creates: list[Node] = []
    for node in walk(tree.root_node):
        kind = node.type
        if kind == "comment":
            continue
        found.extend(_check_node(node, kind, script_creates))
        found.extend(_check_win32_product(node, kind))
        found.extend(_check_output_leak(node))
    if len(script_creates) > allowed_script_creates:
        for node in script_creates[allowed_script_creates:]:
            found.append(_violation("[ScriptBlock]::Create", node))
    # Deduplicate (a leaf and its string literal can both carry Win32_Product).
    unique: dict[tuple[str, int], Violation] = {}
    for violation in found:
        unique.setdefault((violation.rule, violation.line), violation)
    return sorted(unique.values(), key=lambda v: (v.line, v.rule))


def script_creates(source: str | bytes) -> list[Node]:
    """Every ``[ScriptBlock]::Create(...)`` call in ``source``."""
    tree = parse(source)
    return [
        node
        for node in walk(tree.root_node)
        if node.type == "invokation_expression"
        and (member_name(node) or "").lower() == "create"
        and is_static_access(node)
        and text(node.children[0]).lower().replace(" ", "")
        in ("[scriptblock]", "[system.management.automation.scriptblock]")
    ]
