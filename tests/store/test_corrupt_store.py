"""A damaged SQLite history file (issue 13, finding 10): a clean message, never a traceback.

A real store file (a recorded scan with Chinese titles, audit entries) is
damaged three ways — the text of a row made undecodable UTF-8, a whole b-tree
page overwritten, a column name in the schema page damaged — and every
command that reads it says "cannot open the history database …" and exits 2.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_factory import golden_run  # type: ignore[import-not-found]

from fleetcheck.cli import main
from fleetcheck.store import Store, StoreError
from fleetcheck.store.audit import AuditLog

PAGE = 4096
WHO = "交易员张三"


def make_store(path: Path) -> None:
    with Store.open(str(path)) as store:
        store.record_run(golden_run(), certificates=())
        log = AuditLog(store)
        for i in range(80):
            log.append(WHO, f"PC-{i:03}", "applied", result="ok", details={"check": "sccc/portal-trusted-site"})
    with sqlite3.connect(path) as raw:  # one file, no WAL beside it
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def undecodable_text(data: bytearray) -> None:
    needle = WHO.encode("utf-8")
    at = data.find(needle)
    assert at > 0
    while at > 0:
        data[at] = 0xFF  # no UTF-8 sequence starts with 0xff
        at = data.find(needle, at + 1)


def garbage_page(data: bytearray) -> None:
    # The last page holds audit rows (appended last): overwrite it past its page header.
    last = len(data) // PAGE - 1
    for i in range(last * PAGE + 8, (last + 1) * PAGE, 5):
        data[i] = 0xFF


def damaged_schema(data: bytearray) -> None:
    at = data.find(b"CREATE TABLE audit_log")
    assert at > 0  # the schema table's row (sqlite_master) of audit_log
    column = data.find(b"who", at)
    data[column] = 0xFF


@pytest.mark.parametrize("damage", [undecodable_text, garbage_page, damaged_schema])
def test_a_damaged_store_is_a_clean_error(tmp_path: Path, damage: Callable[[bytearray], None]) -> None:
    path = tmp_path / "history.db"
    make_store(path)
    data = bytearray(path.read_bytes())
    damage(data)
    path.write_bytes(bytes(data))

    with pytest.raises(StoreError) as caught, Store.open(str(path)) as store:
        AuditLog(store).verify()
        store.list_runs()
        store.load_run("latest")
    assert "cannot open the history database" in caught.value.text.en
    assert "无法打开历史数据库" in caught.value.text.zh

    runner = CliRunner()
    for args in (["audit", "verify", "--db", str(path)], ["audit", "show", "--db", str(path)],
                 ["report", "--db", str(path), "--out", str(tmp_path / "r.html")]):
        result = runner.invoke(main, ["--lang", "en", *args])
        if result.exit_code == 0:
            continue  # that command never read the damaged part
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and "cannot open the history database" in result.output, args
