"""The plain ``fleetcheck demo`` says where its inventory and database are and what to try next.

Every suggested command names the demo's own database (``--db``), so the
history, the dashboard and ``fix`` all look at one store; the suggested
``certs`` and ``history`` commands, run as printed, answer from the run the demo
just recorded.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.commands.demo import next_steps

pytestmark = pytest.mark.sim


def _suggested(stdout: str) -> list[list[str]]:
    """The suggested command lines (comments dropped), split as a shell would."""
    return [shlex.split(line.split("    #")[0]) for line in stdout.splitlines() if line.startswith("  fleetcheck ")]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_plain_demo_prints_its_files_and_next_commands_on_its_own_database(tmp_path: Path, lang: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEETCHECK_DB", str(tmp_path / "the-real-history.db"))  # must not be suggested
    first = worker_address("127.0.139.1" if lang == "zh" else "127.0.143.1")
    result = CliRunner().invoke(main, ["--lang", lang, "demo", "--out", "演示 out", "--first-address", first])
    assert result.exit_code in (1, 3), result.output  # the demo office has broken and unreachable PCs
    out = result.stdout
    db, inventory = Path("演示 out") / "fleetcheck.db", Path("演示 out") / "inventory.yaml"
    assert (tmp_path / db).is_file() and (tmp_path / inventory).is_file()
    assert ("历史库" if lang == "zh" else "database") in out and str(db) in out and str(inventory) in out
    commands = _suggested(out)
    assert 3 <= len(commands) <= 5, out
    for argv in commands:
        assert argv[argv.index("--db") + 1] == str(db), argv  # one database throughout
        if "-i" in argv:
            assert argv[argv.index("-i") + 1] == str(inventory), argv
    assert {argv[1] for argv in commands} >= {"certs", "history", "fix", "serve"}
    for argv in commands:
        if argv[1] in ("certs", "history"):
            ran = CliRunner().invoke(main, ["--lang", lang, *argv[1:]])
            assert ran.exit_code == 0, ran.output
            assert "SZ-" in ran.stdout or "%" in ran.stdout, ran.stdout


def test_next_steps_with_keep_running_and_a_given_database() -> None:
    text = next_steps(Path("d"), Path("d/office.yaml"), "sqlite:////srv/demo history.db", keep_running=True)
    for shown in (text.zh, text.en):
        assert "--keep-running" not in shown  # the office is already up
        assert "--db 'sqlite:////srv/demo history.db'" in shown and "-i d/office.yaml" in shown
    assert text.zh.startswith("演示写出了") and text.en.startswith("The demo wrote")
