"""Broken inputs across the CLI: a clear message naming the file and what to do, exit 2, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def run(args: list[str], lang: str = "en") -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--lang", lang, *args])
    # A SystemExit is the CLI speaking; any other exception would be a traceback for the user.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output + result.stderr


def test_binary_file_given_to_inventory_import(tmp_path: Path) -> None:
    sheet = tmp_path / "hosts.xlsx.png"
    sheet.write_bytes(PNG)
    code, text = run(["inventory", "import", str(sheet)])
    assert code == 2 and str(sheet) in text and "Save the sheet as CSV" in text
    code, text = run(["inventory", "import", str(sheet)], lang="zh")
    assert code == 2 and "另存为 CSV" in text


def test_control_characters_in_a_host_name_are_a_bad_row(tmp_path: Path) -> None:
    sheet = tmp_path / "hosts.csv"
    sheet.write_text("hostname,ip\nPC\x071,127.0.0.1\nPC2,127.0.0.2\n", encoding="utf-8")
    code, text = run(["inventory", "import", str(sheet)])
    assert code == 2 and f"{sheet}:2:" in text and "control characters" in text


@pytest.mark.parametrize(("content", "expected"), [
    ("groups: [\n", ":2:1: YAML syntax error"),
    # A python tag is never constructed: the document is just not a mapping.
    ("!!python/object/apply:os.system ['echo hi']\n", ":1:1: expected a mapping"),
    ("- just a list\n", ":1:1: expected a mapping"),
])
def test_broken_office_file(tmp_path: Path, content: str, expected: str) -> None:
    office = tmp_path / "office.yaml"
    office.write_text(content, encoding="utf-8")
    code, text = run(["sim", "serve", "--office", str(office), "--inventory-out", str(tmp_path / "inv.yaml"),
                      "--state-dir", str(tmp_path / "state")])
    assert code == 2 and f"{office}{expected}" in text
    assert not (tmp_path / "inv.yaml").exists()
    code, text = run(["sim", "serve", "--office", str(office), "--inventory-out", str(tmp_path / "inv.yaml"),
                      "--state-dir", str(tmp_path / "state")], lang="zh")
    assert code == 2 and "办公室文件有误" in text


def test_serve_on_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, text = run(["serve", "--bind", f"127.0.0.1:{port}", "--db", str(tmp_path / "h.db")])
        assert code == 2 and "cannot listen" in text and "login token" not in text
        code, text = run(["serve", "--bind", f"127.0.0.1:{port}", "--db", str(tmp_path / "h.db")], lang="zh")
        assert code == 2 and "无法监听" in text


@pytest.mark.parametrize("bind", ["8765", "127.0.0.1:x", "127.0.0.1:70000"])
def test_serve_bad_bind_is_bilingual(tmp_path: Path, bind: str) -> None:
    code, text = run(["serve", "--bind", bind, "--db", str(tmp_path / "h.db")], lang="zh")
    assert code == 2 and "端口" in text


def test_history_with_a_database_whose_driver_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg2", None)
    code, text = run(["history", "--db", "postgresql+psycopg2://u:s3cret@127.0.0.1:1/x"])
    assert code == 2 and "driver" in text and "s3cret" not in text
