"""The command registry (fleetcheck.cli.COMMANDS): one module per command, loud when one is missing."""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fleetcheck import cli
from fleetcheck.cli import COMMANDS, load_command, main

# What `fleetcheck --help` listed before the registry (issue 17: the same commands, plus new ones).
EXPECTED = ["audit", "certs", "demo", "diff", "evaluate", "fix", "history", "inventory", "policy", "renew",
            "report", "rollback", "scan", "schedule", "selftest", "serve", "sim"]


def _listed_commands(help_text: str) -> list[str]:
    lines = help_text.splitlines()
    start = lines.index("Commands:") + 1
    return [line.split()[0] for line in lines[start:] if line.startswith("  ") and line.strip()
            and not line.startswith("   ")]


def test_help_lists_exactly_the_registered_commands_and_every_one_it_listed_before() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = _listed_commands(result.output)
    assert listed == sorted(COMMANDS) == sorted(main.commands)
    assert set(EXPECTED) <= set(listed)  # new commands may join; none of these may go


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_lives_in_the_module_named_after_it(name: str) -> None:
    module_name, attribute = COMMANDS[name]
    assert module_name == f"fleetcheck.commands.{name.replace('-', '_')}"  # winrm-setup: winrm_setup.py
    command = getattr(importlib.import_module(module_name), attribute)
    assert isinstance(command, click.Command) and command.name == name
    assert main.commands[name] is command


def test_a_missing_module_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMANDS", {**COMMANDS, "ghost": ("fleetcheck.commands.ghost", "ghost")})
    with pytest.raises(ImportError, match=r"fleetcheck\.commands\.ghost"):
        load_command("ghost")


def test_a_module_without_the_command_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMANDS", {**COMMANDS, "ghost": ("fleetcheck.commands.options", "ghost")})
    with pytest.raises(ImportError, match="defines no click command 'ghost'"):
        load_command("ghost")


def test_a_command_registered_under_another_name_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMANDS", {**COMMANDS, "ghost": ("fleetcheck.commands.scan", "scan")})
    with pytest.raises(ImportError, match="is the command 'scan', registered as 'ghost'"):
        load_command("ghost")


def test_every_command_module_is_registered() -> None:
    """A new fleetcheck/commands/<name>.py defining a click command must be in the registry."""
    folder = Path(cli.__file__).parent / "commands"
    helpers = {"__init__", "common", "options", "tables", "usage"}
    modules = {p.stem for p in folder.glob("*.py")} - helpers
    assert modules == {name.replace("-", "_") for name in COMMANDS}
