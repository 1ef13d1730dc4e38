"""The hidden ``--now`` is shared by the guarded commands: fix, renew and rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main


@pytest.mark.parametrize("command", ["fix", "renew", "rollback"])
def test_now_is_hidden_and_validated_on_every_guarded_command(tmp_path: Path, command: str) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n  hosts:\n    PC-1: {ansible_host: 127.0.9.9, ansible_port: 1}\n", encoding="utf-8")
    helped = CliRunner().invoke(main, ["--lang", "en", command, "--help"])
    assert helped.exit_code == 0 and "--now" not in helped.output
    args = [command, "-i", str(inv), "--db", f"sqlite:///{tmp_path / 'h.db'}", "--now", "tomorrow"]
    if command == "rollback":
        args += ["--run", "nosuch"]
    bad = CliRunner().invoke(main, ["--lang", "en", *args])
    assert bad.exit_code == 2 and "--now 'tomorrow' is not an ISO 8601 time" in bad.stderr, bad.output
    zh = CliRunner().invoke(main, args)
    assert zh.exit_code == 2 and "不是 ISO 8601 时间" in zh.stderr


def test_rollback_accepts_now(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n  hosts:\n    PC-1: {ansible_host: 127.0.9.9, ansible_port: 1}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "rollback", "--run", "nosuch", "-i", str(inv),
                                       "--db", f"sqlite:///{tmp_path / 'h.db'}", "--now", "2026-03-04T10:00+08:00"])
    assert result.exit_code == 2 and "no changes recorded for fix run nosuch" in result.stderr, result.output
