"""agent.ps1 and contract.py cannot drift apart silently.

Read from the syntax tree: the kinds the agent dispatches on, the JSON keys it
writes (string literals used as keys of an assignment), the request fields it
reads (``Get-Field $x 'name'``), the commands it calls and the variables it uses.
"""

from __future__ import annotations

import typing

import agent_ps_lint as ps
import pytest
from pydantic import BaseModel
from tree_sitter import Node

from fleetcheck.agent import agent_script
from fleetcheck.agent import contract as c

AGENT = agent_script().decode("utf-8")
TREE = ps.parse(AGENT)

RESPONSE_MODELS: list[type[BaseModel]] = [
    c.ProbeResponse,
    c.OsFacts,
    c.Profile,
    c.ProcessInfo,
    c.Answer,
    c.PnpDevice,
    c.ActionResult,
    c.RegKey,
    c.RegValue,
    c.FileInfo,
]

# Request fields the agent deliberately does not read, with the reason.
UNREAD_REQUEST_FIELDS = {
    # restore_key recreates exactly the values and subkeys it is given; a tree
    # that was truncated when it was backed up was never deleted (delete_key refuses).
    "truncated": "restore_key",
}

# PowerShell 2.0 cmdlets the agent may call (everything else must be its own function).
PS2_CMDLETS = {"add-type", "get-wmiobject", "new-object", "sort-object", "start-sleep", "out-null"}

# Variables PowerShell provides.
AUTOMATIC_VARIABLES = {
    "$_",
    "$null",
    "$true",
    "$false",
    "$args",
    "$input",
    "$psversiontable",
    "$myinvocation",
    "$lastexitcode",
    "$erroractionpreference",
}


def union_members(annotation: object) -> list[type[BaseModel]]:
    """The model classes of an ``Annotated[Union[...], Field(discriminator=...)]``."""
    union = typing.get_args(annotation)[0]
    return list(typing.get_args(union))


QUERY_MODELS = union_members(c.Query)
ACTION_MODELS = union_members(c.Action)
REQUEST_MODELS: list[type[BaseModel]] = [
    c.ProbeRequest,
    c.RegValue,
    c.RegKey,
    *QUERY_MODELS,
    *ACTION_MODELS,
]


def kind_of(model: type[BaseModel]) -> str:
    default = model.model_fields["kind"].default
    assert isinstance(default, str)
    return default


def fields_of(models: list[type[BaseModel]]) -> set[str]:
    return {name for model in models for name in model.model_fields}


def functions() -> dict[str, Node]:
    found = {}
    for node in ps.walk(TREE.root_node):
        if node.type == "function_statement":
            name = next(ch for ch in node.children if ch.type == "function_name")
            found[ps.text(name)] = node
    return found


FUNCTIONS = functions()


def switch_cases(function: str) -> dict[str, Node]:
    """The string cases of the (single) switch statement in ``function``, with their blocks."""
    switches = [n for n in ps.walk(FUNCTIONS[function]) if n.type == "switch_statement"]
    assert len(switches) == 1, f"{function} should dispatch with exactly one switch"
    cases = {}
    for clause in ps.walk(switches[0]):
        if clause.type != "switch_clause":
            continue
        condition = next(ch for ch in clause.children if ch.type == "switch_clause_condition")
        literal = ps.string_value(condition.children[0]) if condition.children else None
        key = literal if literal is not None else ps.text(condition)
        cases[key] = clause
    return cases


def called_commands(node: Node) -> list[str]:
    return [name for n in ps.walk(node) if n.type == "command" and (name := ps.command_name(n))]


def element_key(node: Node) -> str | None:
    """'name' for ``$x['name']``; None when the index is not a constant string."""
    parts = [ch for ch in node.children if ch.type not in ("[", "]")]
    if len(parts) != 2:
        return None
    return ps.string_value(parts[1])


def written_keys(source: str | None = None) -> set[str]:
    tree = TREE if source is None else ps.parse(source)
    keys = set()
    for node in ps.walk(tree.root_node):
        if node.type == "left_assignment_expression":
            target = ps.unwrap(node.named_children[0])
            if target.type == "element_access" and (key := element_key(target)) is not None:
                keys.add(key)
    return keys


def ancestors(node: Node) -> list[Node]:
    found = []
    while node.parent is not None:
        node = node.parent
        found.append(node)
    return found


def read_fields() -> set[str]:
    """Fields read from the request: ``Get-Field $x 'name'`` and ``Get-ListField $x 'name'``."""
    names = set()
    accessors = {FUNCTIONS["Get-Field"].id, FUNCTIONS["Get-ListField"].id}
    for node in ps.walk(TREE.root_node):
        if node.type == "function_statement" and node.id in accessors:
            continue
        if node.type == "command" and (ps.command_name(node) or "") in (
            "Get-Field",
            "Get-ListField",
        ):
            if any(parent.id in accessors for parent in ancestors(node)):
                continue
            args = ps.command_arguments(node)
            assert len(args) >= 2, ps.text(node)
            value = ps.string_value(args[1])
            assert value is not None, f"field name must be a literal: {ps.text(node)}"
            names.add(value)
    return names


# --------------------------------------------------------------------------- dispatch


def test_every_query_kind_has_a_handler() -> None:
    cases = switch_cases("Invoke-Query")
    assert set(cases) - {"default"} == {kind_of(m) for m in QUERY_MODELS}
    assert "default" in cases, "an unknown kind must answer an error, not vanish"


def test_every_action_kind_has_a_handler() -> None:
    cases = switch_cases("Invoke-Action")
    assert set(cases) - {"default"} == {kind_of(m) for m in ACTION_MODELS}
    assert "default" in cases


@pytest.mark.parametrize("dispatcher", ["Invoke-Query", "Invoke-Action"])
def test_each_case_calls_a_defined_handler(dispatcher: str) -> None:
    for kind, clause in switch_cases(dispatcher).items():
        if kind == "default":
            continue
        calls = called_commands(clause)
        assert len(calls) == 1, f"{kind}: expected one handler call, got {calls}"
        handler = calls[0]
        assert handler in FUNCTIONS, f"{kind} calls {handler}, which agent.ps1 does not define"
        assert (
            handler.lower()
            .replace("-", "")
            .replace("_", "")
            .endswith(kind.replace("_", "") + ("query" if dispatcher == "Invoke-Query" else ""))
        ), f"{kind} dispatches to {handler}"


# --------------------------------------------------------------------------- JSON keys vs contract


def test_agent_writes_every_response_field() -> None:
    missing = fields_of(RESPONSE_MODELS) - written_keys()
    assert not missing, f"contract fields agent.ps1 never writes: {sorted(missing)}"


def test_agent_writes_no_key_outside_the_contract() -> None:
    """extra='forbid' on every model: a stray key would make every response invalid."""
    stray = written_keys() - fields_of(RESPONSE_MODELS)
    assert not stray, f"agent.ps1 writes keys the contract does not know: {sorted(stray)}"


def test_agent_reads_only_request_fields() -> None:
    unknown = read_fields() - fields_of(REQUEST_MODELS)
    assert not unknown, (
        f"agent.ps1 reads request fields the contract does not have: {sorted(unknown)}"
    )


def test_agent_reads_every_request_field() -> None:
    unread = fields_of(REQUEST_MODELS) - read_fields() - set(UNREAD_REQUEST_FIELDS)
    assert not unread, f"request fields agent.ps1 ignores: {sorted(unread)}"


@pytest.mark.parametrize("model", QUERY_MODELS + ACTION_MODELS, ids=kind_of)
def test_each_handler_reads_its_own_fields(model: type[BaseModel]) -> None:
    """Per kind: the handler (and what it calls) reads every field of its model."""
    dispatcher = "Invoke-Query" if model in QUERY_MODELS else "Invoke-Action"
    handler = called_commands(switch_cases(dispatcher)[kind_of(model)])[0]
    reachable = reachable_functions(handler) | {
        dispatcher,
        "New-Answer",
        "New-ActionResult",
        "Get-QuerySids",
        "Hide-Secret",
    }
    seen = set()
    for name in reachable:
        for node in ps.walk(FUNCTIONS[name]):
            if node.type == "command" and ps.command_name(node) in ("Get-Field", "Get-ListField"):
                value = ps.string_value(ps.command_arguments(node)[1])
                if value is not None:
                    seen.add(value)
    expected = set(model.model_fields) - {"kind"}
    if model is c.RestoreKey:
        expected |= {"values", "subkeys", "t", "v"}
    if model is c.SetValue:
        expected |= {"t", "v"}
    assert expected <= seen, f"{kind_of(model)} handler never reads {sorted(expected - seen)}"


def reachable_functions(start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for name in called_commands(FUNCTIONS[todo.pop()]):
            if name in FUNCTIONS and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


# --------------------------------------------------------------------------- names that must resolve


def test_every_command_is_a_defined_function_or_a_ps2_cmdlet() -> None:
    """A typo in a function name would only show on Windows; here it fails the build."""
    unknown = {
        name
        for name in called_commands(TREE.root_node)
        if name not in FUNCTIONS and name.lower() not in PS2_CMDLETS
    }
    assert not unknown, (
        f"commands neither defined in agent.ps1 nor allowed PS2 cmdlets: {sorted(unknown)}"
    )


def test_every_function_is_used() -> None:
    used = set(called_commands(TREE.root_node))
    unused = set(FUNCTIONS) - used
    assert not unused, f"dead functions in agent.ps1: {sorted(unused)}"


def defined_variables(node: Node) -> set[str]:
    names = set()
    for n in ps.walk(node):
        if n.type in {"script_parameter", "foreach_statement"}:
            var = [ch for ch in n.children if ch.type == "variable"]
            names.update(ps.text(v).lower() for v in var)
        elif n.type == "left_assignment_expression":
            target = ps.unwrap(n.named_children[0])
            if target.type == "variable":
                names.add(ps.text(target).lower())
            elif target.type == "cast_expression":
                names.update(ps.text(v).lower() for v in ps.walk(target) if v.type == "variable")
    return names


def used_variables(node: Node) -> dict[str, int]:
    used = {}
    for n in ps.walk(node):
        if n.type == "variable":
            used.setdefault(ps.text(n).lower(), n.start_point[0] + 1)
    return used


def script_level_variables() -> set[str]:
    """Variables set outside functions (settings, the task script) or in the script's param block."""
    body = [ch for ch in TREE.root_node.children if ch.type == "statement_list"]
    names = set()
    for statement in body[0].children if body else []:
        if statement.type != "function_statement":
            names |= defined_variables(statement)
    for block in TREE.root_node.children:
        if block.type == "param_block":
            names |= {ps.text(v).lower() for v in ps.walk(block) if v.type == "variable"}
    return names


def is_scoped(name: str) -> bool:
    return name.startswith(("$env:", "$global:", "$script:"))


def test_every_variable_used_is_set_in_its_function() -> None:
    """PowerShell reads an unset variable as $null without complaint: catch typos statically."""
    script_vars = script_level_variables()
    problems = []
    for name, function in FUNCTIONS.items():
        known = defined_variables(function) | script_vars | AUTOMATIC_VARIABLES
        for var, line in used_variables(function).items():
            if var not in known and not is_scoped(var):
                problems.append(f"{name} line {line}: {var}")
    assert not problems, "variables used but never set: " + ", ".join(problems)


def test_import_task_script_variables_are_defined() -> None:
    from test_agent_ps2_lint import import_task_script

    script = ps.parse(import_task_script())
    known = defined_variables(script.root_node) | AUTOMATIC_VARIABLES
    unknown = [v for v in used_variables(script.root_node) if v not in known and not is_scoped(v)]
    assert not unknown


def test_variable_check_catches_a_typo() -> None:
    """The check above can fail: a misspelt variable inside a function is found."""
    tainted = AGENT.replace(
        "    $answer['devices'] = $devices\n", "    $answer['devices'] = $devcies\n", 1
    )
    assert tainted != AGENT
    tree = ps.parse(tainted)
    function = next(
        n
        for n in ps.walk(tree.root_node)
        if n.type == "function_statement" and "function Invoke-PnpQuery" in ps.text(n)
    )
    assert "$devcies" in used_variables(function)
    assert "$devcies" not in defined_variables(function)


def test_key_check_catches_a_renamed_key() -> None:
    """The key cross-check can fail: a misspelt response key is both stray and missing."""
    tainted = AGENT.replace("$answer['devices'] = $devices", "$answer['device'] = $devices", 1)
    assert tainted != AGENT
    keys = written_keys(tainted)
    assert "device" in keys - fields_of(RESPONSE_MODELS)
    assert "devices" in fields_of(RESPONSE_MODELS) - keys
