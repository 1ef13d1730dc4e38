"""agent.ps1's cancel_reboot and the reboot token: names validated strictly before use, data never code.

Read from the agent's syntax tree (no PowerShell here). The simulator's
messages are the agent's own words, so Python sees on the simulator what it
sees on Windows.
"""

from __future__ import annotations

import agent_ps_lint as ps
from tree_sitter import Node

from fleetcheck.agent import agent_script
from fleetcheck.sim.executor import MSG_REBOOT_NOT_FOUND, MSG_REBOOT_RAN

AGENT = agent_script().decode("utf-8")
TREE = ps.parse(AGENT)


def function(name: str) -> Node:
    for node in ps.walk(TREE.root_node):
        if node.type == "function_statement":
            found = next(ch for ch in node.children if ch.type == "function_name")
            if ps.text(found) == name:
                return node
    raise AssertionError(f"agent.ps1 has no function {name}")


def first_at(body: str, needle: str) -> int:
    at = body.find(needle)
    assert at >= 0, needle
    return at


def test_cancel_reboot_validates_the_task_name_before_it_touches_anything() -> None:
    body = ps.text(function("Invoke-CancelReboot"))
    check = first_at(body, "-cnotmatch '^\\\\fleetcheck-reboot-[0-9a-f]{32}\\z'")
    assert check < first_at(body, "Invoke-NativeProcess")
    assert check < first_at(body, "[System.IO.Directory]::Delete")
    assert check < first_at(body, "ExpandEnvironmentVariables")
    # schtasks gets the name as one argument of the native-process helper, never through a shell.
    assert "@('/Delete', '/TN', $taskName, '/F')" in body
    assert "Invoke-Expression" not in body and "cmd.exe" not in body


def test_schedule_reboot_validates_the_token_before_naming_anything_with_it() -> None:
    body = ps.text(function("Invoke-ScheduleReboot"))
    check = first_at(body, "$token -cnotmatch '^[0-9a-f]{32}\\z'")
    assert check < first_at(body, "'fleetcheck-reboot-' + $token")
    assert "$Result['task'] = $taskName" in body


def test_the_agent_dispatches_cancel_reboot() -> None:
    assert "Invoke-CancelReboot $Action $result" in ps.text(function("Invoke-Action"))


def test_the_simulator_speaks_the_agents_words() -> None:
    body = ps.text(function("Invoke-CancelReboot"))
    assert f"'{MSG_REBOOT_RAN.split('{')[0]}' + $line" in body
    assert f"'{MSG_REBOOT_NOT_FOUND}'" in body
