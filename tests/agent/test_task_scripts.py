"""The fixed scripts agent.ps1 hands to scheduled tasks (import, reboot) are PowerShell 2.0-safe,
verbatim (no request value can expand into them) and set every variable they use.

They run as ``powershell.exe -EncodedCommand``: a command, not a script file,
so a Group Policy execution policy does not stop them (about_Execution_Policies).
"""

from __future__ import annotations

import agent_ps_lint as ps
import pytest
from test_agent_contract_drift import (
    AUTOMATIC_VARIABLES,
    defined_variables,
    is_scoped,
    used_variables,
)

from fleetcheck.agent import agent_script

AGENT = agent_script().decode("utf-8")
SCRIPTS = ("$ImportTaskScript", "$RebootTaskScript")


def task_script(name: str) -> tuple[str, set[str]]:
    tree = ps.parse(AGENT)
    nodes = [n for n in ps.walk(tree.root_node) if n.type == "assignment_expression" and ps.text(n).startswith(name + " ")]
    assert len(nodes) == 1, f"{name} must be assigned exactly once"
    literal = [n for n in ps.walk(nodes[0]) if n.type == "string_literal"]
    value = ps.string_value(literal[0]) if literal else None
    assert value is not None, f"{name} must be a string literal"
    return value, {n.type for n in ps.walk(nodes[0])}


@pytest.mark.parametrize("name", SCRIPTS)
def test_task_script_is_verbatim_and_ps2_safe(name: str) -> None:
    script, kinds = task_script(name)
    assert "verbatim_here_string_characters" in kinds and "expandable_here_string_literal" not in kinds
    assert ps.syntax_errors(script) == []
    assert ps.lint(script) == []
    tree = ps.parse(script)
    known = defined_variables(tree.root_node) | AUTOMATIC_VARIABLES
    unknown = [v for v in used_variables(tree.root_node) if v not in known and not is_scoped(v)]
    assert not unknown, f"{name} uses unset variables: {unknown}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_task_script_checks_its_folder_before_reading_it(name: str) -> None:
    script, _kinds = task_script(name)
    first_read = min(i for i in (script.find("ReadAll"), script.find(".Import(")) if i >= 0)
    assert "[Environment]::CurrentDirectory" in script
    assert script.find("-cmatch '^fleetcheck-") < first_read or script.find("-cnotmatch '^fleetcheck-") < first_read


def test_the_lint_sees_inside_a_task_script() -> None:
    """The checks above can fail: a PS3 construct in the reboot script is named."""
    script, _kinds = task_script("$RebootTaskScript")
    broken = script.replace("$wanted = @{}", "$wanted = [ordered]@{}", 1)
    assert broken != script and ps.lint(broken)
