"""Shell completion as the README documents it: the scripts Click prints, and what they complete."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
VAR = "_FLEETCHECK_COMPLETE"


def complete(shell: str, words: str, cword: int) -> list[str]:
    result = CliRunner().invoke(main, [], prog_name="fleetcheck",
                                env={VAR: f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


@pytest.mark.parametrize("shell,marker", [("bash", "complete -o nosort -F"), ("zsh", "#compdef fleetcheck"),
                                          ("fish", "complete --no-files --command fleetcheck")])
def test_the_documented_scripts_are_printed(shell: str, marker: str) -> None:
    assert f"{VAR}={shell}_source fleetcheck" in README
    result = CliRunner().invoke(main, [], prog_name="fleetcheck", env={VAR: f"{shell}_source"})
    assert result.exit_code == 0 and marker in result.stdout
    assert f"{VAR}={shell}_complete" in result.stdout  # the script calls fleetcheck back to complete


def test_commands_and_options_complete_hidden_ones_do_not() -> None:
    assert "plain,history" in complete("bash", "fleetcheck hist", 1)
    offered = complete("bash", "fleetcheck history --l", 2)
    assert "plain,--last" in offered and "plain,--limit" not in offered  # the deprecated spelling is hidden
    assert {"plain,--quiet", "plain,--verbose"} <= set(complete("bash", "fleetcheck --", 1))


def test_powershell_is_documented_with_its_click_floor() -> None:
    assert f"$env:{VAR} = 'powershell_source'" in README and "Click 8.5" in README
    from click import shell_completion

    major, minor = (int(p) for p in version("click").split(".")[:2])
    if "powershell" in shell_completion._available_shells:
        result = CliRunner().invoke(main, [], prog_name="fleetcheck", env={VAR: "powershell_source"})
        assert "Register-ArgumentCompleter -Native -CommandName fleetcheck" in result.stdout
    else:
        assert (major, minor) < (8, 5)
