"""``audit show`` (issue 19): the table follows ``--lang`` — results, reasons and states rendered, not raw JSON.

Entries are written through the store's public API as fleetcheck writes them
(results in English, a refusal's reasons bilingual in ``details``), plus one
carrying a bilingual ``details.result_text``. ``--format json`` stays the
stored record, whatever the language.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.i18n import T
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog

AT = datetime(2026, 3, 4, 8, 30, tzinfo=timezone.utc)  # 16:30 in Shanghai
SESSION = T("交易时段内（09:15–11:30）", "inside a trading session (09:15-11:30)")
CLIENT = T("交易软件正在运行：TdxW.exe", "a trading client is running: TdxW.exe")


def _store(tmp_path: Path) -> str:
    db = str(tmp_path / "audit.db")
    with Store.open(db) as store:
        log = AuditLog(store)
        log.append("ops", "PC-01", "refused", result=f"{SESSION.en}; {CLIENT.en}", run_id="r1", at=AT,
                   details={"check": "p/zone-flags", "reasons": [SESSION.model_dump(), CLIENT.model_dump()]})
        log.append("ops", "PC-01", "applied", result="ok", run_id="r1", action_id="a1", at=AT,
                   before={"value": {"t": "DWORD", "v": 3}}, after={"value": {"t": "DWORD", "v": 0}},
                   details={"check": "p/zone-flags", "changed": True})
        log.append("ops", "PC-01", "applied", result="ok", run_id="r1", action_id="a2", at=AT,
                   before={"value": None, "created_key": "HKLM\\SOFTWARE\\Policies\\X"},
                   after={"value": {"t": "SZ", "v": "C:\\sites.xml"}}, details={"check": "p/site-list"})
        log.append("ops", "PC-01", "failed", result="verification failed: the finding still fails", run_id="r1",
                   at=AT, details={"check": "p/zone-flags", "actions": ["a1"]})
        log.append("ops", "PC-02", "rollback_failed", result="the key is gone", run_id="r1", at=AT,
                   details={"result_text": {"zh": "键已不存在", "en": "the key is gone"}})
        log.append("ops", "PC-02", "failed", result="installer not found: C:\\x.exe", run_id="r1", at=AT)
    return db


def _show(db: str, lang: str, *extra: str) -> str:
    result = CliRunner().invoke(main, ["--lang", lang, "audit", "show", "--db", db, *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_audit_show_in_chinese_renders_reasons_results_and_states(tmp_path: Path) -> None:
    db = _store(tmp_path)
    out = _show(db, "zh")
    lines = out.splitlines()
    assert lines[0].startswith("#1 2026-03-04 16:30:00 (Asia/Shanghai) ops PC-01 refused - p/zone-flags ")
    assert lines[0].endswith("交易时段内（09:15–11:30）；交易软件正在运行：TdxW.exe")
    assert "#2 2026-03-04 16:30:00 (Asia/Shanghai) ops PC-01 applied a1 p/zone-flags 成功" in lines
    assert "     3 (DWORD) → 0 (DWORD)" in lines
    assert "     不存在 （键 HKLM\\SOFTWARE\\Policies\\X 由修复创建） → C:\\sites.xml (SZ)" in lines
    assert any(line.endswith("验证失败：the finding still fails") for line in lines)
    assert any(line.endswith("rollback_failed - 键已不存在") for line in lines)
    assert any(line.endswith("installer not found: C:\\x.exe") for line in lines)  # the agent's own words
    assert '{"t"' not in out and '"value"' not in out and "inside a trading session" not in out


def test_audit_show_in_english(tmp_path: Path) -> None:
    out = _show(_store(tmp_path), "en")
    assert "inside a trading session (09:15-11:30); a trading client is running: TdxW.exe" in out
    assert "     absent (key HKLM\\SOFTWARE\\Policies\\X created by the fix) → C:\\sites.xml (SZ)" in out.splitlines()
    assert "verification failed: the finding still fails" in out and "交易" not in out


def test_audit_show_json_is_the_stored_record_in_any_language(tmp_path: Path) -> None:
    db = _store(tmp_path)
    zh, en = json.loads(_show(db, "zh", "--format", "json")), json.loads(_show(db, "en", "--format", "json"))
    assert zh == en
    assert zh[1]["before"] == {"value": {"t": "DWORD", "v": 3}} and zh[0]["result"].startswith("inside a trading")
