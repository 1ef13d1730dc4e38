"""The shared options (fleetcheck.commands.options): declared once, the same everywhere they appear."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.commands.options import DB_HELP, format_option
from fleetcheck.runner import DEFAULT_FORKS, DEFAULT_TIMEOUT_S


def _commands(command: click.Command, path: str = "fleetcheck") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")


def _option(command: click.Command, name: str) -> click.Option | None:
    return next((p for p in command.params if isinstance(p, click.Option) and p.name == name), None)


def test_every_db_option_is_the_shared_one() -> None:
    found = {path: opt for path, cmd in _commands(main) if (opt := _option(cmd, "db_url")) is not None}
    assert len(found) >= 9  # scan, report, history, diff, certs, fix, rollback, audit…, renew, serve, demo
    for path, opt in found.items():
        assert opt.opts == ["--db"], path
        if path == "fleetcheck demo":  # the demo keeps out of the real history
            assert opt.envvar is None
            continue
        assert opt.envvar == "FLEETCHECK_DB" and opt.help == DB_HELP, path


def test_forks_and_timeout_keep_each_command_s_range() -> None:
    scan, renew, selftest = main.commands["scan"], main.commands["renew"], main.commands["selftest"]
    forks = _option(scan, "forks")
    assert forks is not None and forks.default == DEFAULT_FORKS
    assert isinstance(forks.type, click.IntRange) and (forks.type.min, forks.type.max) == (1, 1000)
    renew_forks = _option(renew, "forks")
    assert renew_forks is not None and renew_forks.default == 10
    assert isinstance(renew_forks.type, click.IntRange) and renew_forks.type.max == 200
    timeout = _option(scan, "timeout_s")
    assert timeout is not None and timeout.default == DEFAULT_TIMEOUT_S
    own = _option(selftest, "timeout_s")
    assert own is not None and own.default == 120
    assert isinstance(own.type, click.FloatRange) and own.type.max == 600


def test_inventory_is_required_except_where_it_is_optional() -> None:
    required = {path for path, cmd in _commands(main) if (o := _option(cmd, "inventory_path")) and o.required}
    optional = {path for path, cmd in _commands(main) if (o := _option(cmd, "inventory_path")) and not o.required}
    assert {"fleetcheck scan", "fleetcheck fix", "fleetcheck renew", "fleetcheck selftest"} <= required
    assert optional == {"fleetcheck serve", "fleetcheck policy lint", "fleetcheck collect import"}


def test_format_option_refuses_a_default_outside_its_choices() -> None:
    with pytest.raises(ValueError, match="not one of"):
        format_option(["table", "json"], "html")


def test_fleetcheck_db_is_read_through_the_shared_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "history.db"
    monkeypatch.setenv("FLEETCHECK_DB", str(db))
    result = CliRunner().invoke(main, ["--lang", "en", "history"])
    assert result.exit_code == 0, result.output
    assert f"no runs recorded in sqlite:///{db}" in result.output
