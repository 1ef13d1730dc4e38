"""Guard (trading calendar, trading clients, --force) and the hash-chained audit log."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from fleetcheck.agent.contract import OsFacts, ProbeResponse, ProcessInfo
from fleetcheck.remediate.guard import CalendarError, Guard, TradingCalendar
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord, scrub

SHANGHAI_WED_1000 = datetime(2026, 3, 4, 2, 0, tzinfo=timezone.utc)
SHANGHAI_WED_1600 = datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc)


def facts(*processes: str) -> ProbeResponse:
    os_facts = OsFacts(version="10.0.19045", build=19045, caption="Windows 10", arch="x64", ps_version="5.1",
                       clr_version="4.0", acp=936, oem_cp=936, hostname="PC")
    return ProbeResponse(agent_version="t", elapsed_ms=1, os=os_facts,
                         processes=[ProcessInfo(name=p, pid=i + 100) for i, p in enumerate(processes)])


@pytest.mark.parametrize(
    ("when", "allowed"),
    [
        (SHANGHAI_WED_1000, False),
        (SHANGHAI_WED_1600, True),
        (datetime(2026, 3, 4, 1, 14, tzinfo=timezone.utc), True),  # 09:14
        (datetime(2026, 3, 4, 1, 15, tzinfo=timezone.utc), False),  # 09:15 opens
        (datetime(2026, 3, 4, 3, 30, tzinfo=timezone.utc), True),  # 11:30 lunch
        (datetime(2026, 3, 4, 5, 0, tzinfo=timezone.utc), False),  # 13:00
        (datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc), True),  # 15:00 closed
        (datetime(2026, 3, 7, 2, 0, tzinfo=timezone.utc), True),  # Saturday 10:00
    ],
)
def test_trading_hours(when: datetime, allowed: bool) -> None:
    decision = Guard(TradingCalendar(), clock=lambda: when).check(facts("explorer.exe"))
    assert decision.allowed is allowed
    if not allowed:
        assert "trading session" in decision.reasons[0].en and "交易时段" in decision.reasons[0].zh


def test_holiday_and_make_up_day_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "cal.yaml"
    path.write_text("holidays: [2026-03-04]\nextra_trading_days: [2026-03-07]\n", encoding="utf-8")
    cal = TradingCalendar.load(path)
    assert cal.holidays == frozenset({date(2026, 3, 4)})
    assert Guard(cal, clock=lambda: SHANGHAI_WED_1000).check(facts()).allowed
    saturday = datetime(2026, 3, 7, 2, 0, tzinfo=timezone.utc)
    assert not Guard(cal, clock=lambda: saturday).check(facts()).allowed


def test_bad_calendar_names_file(tmp_path: Path) -> None:
    path = tmp_path / "cal.yaml"
    path.write_text("holidays: [tomorrow]\n", encoding="utf-8")
    with pytest.raises(CalendarError) as exc:
        TradingCalendar.load(path)
    assert str(path) in exc.value.text.en and "YYYY-MM-DD" in exc.value.text.en


def test_trading_client_refuses_and_force_records() -> None:
    guard = Guard(TradingCalendar(), trading_processes=["TdxW.exe"], clock=lambda: SHANGHAI_WED_1600)
    decision = guard.check(facts("explorer.exe", "tdxw.EXE"))
    assert not decision.allowed and "tdxw.EXE" in decision.reasons[0].en
    forced = decision.override()
    assert forced.allowed and forced.forced and forced.reasons == decision.reasons
    assert guard.check(facts("explorer.exe")).allowed
    assert not guard.check(None).allowed  # no process list: unknown is not "not trading"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'a.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _tamper(url: str, *statements: str) -> None:
    """Edit the database behind fleetcheck's back, as an intruder with DB access would."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def test_audit_chain_detects_edit_and_removal(db_url: str) -> None:
    with Store.open(db_url) as store:
        log = AuditLog(store)
        for i in range(4):
            log.append("ops\\alice", f"PC-{i}", "applied", action={"kind": "set_value", "name": "1803"},
                       before={"value": {"t": "DWORD", "v": 3}}, after={"value": {"t": "DWORD", "v": 0}},
                       result="ok", run_id="r1", action_id=f"a{i}")
        assert log.verify() == []
        entries = log.entries()
        assert [e.seq for e in entries] == [1, 2, 3, 4]
        assert entries[1].prev_hash == entries[0].hash
    _tamper(db_url, "UPDATE audit_log SET result = 'error' WHERE seq = 2")
    with Store.open(db_url) as store:
        problems = AuditLog(store).verify()
        assert [p.seq for p in problems] == [2] and "#2" in problems[0].text.en
    _tamper(db_url, "UPDATE audit_log SET result = 'ok' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 3")
    with Store.open(db_url) as store:
        problems = AuditLog(store).verify()
        assert {p.seq for p in problems} == {4} and "#3" in problems[0].text.en
    _tamper(db_url, "DELETE FROM audit_log WHERE seq = 4")
    with Store.open(db_url) as store:
        problems = AuditLog(store).verify()
        assert any("head" in p.text.en for p in problems)


def test_secrets_never_stored(tmp_path: Path) -> None:
    action = {"kind": "import_pfx", "sid": "S-1-5-21-1", "pfx": "U0VDUkVU", "password": "Pfx-Secret-1"}
    assert "Pfx-Secret-1" not in str(scrub(action))
    db = tmp_path / "s.db"
    with Store.open(str(db)) as store:
        AuditLog(store).append("alice", "PC", "applied", action=action, result="ok")
        ChangeLog(store).record(ChangeRecord(action_id="x", run_id="r", position=0, host="PC", check_id=None,
                                             kind="import_pfx", action=action, before=None, after=None,
                                             status="applied", who="alice"))
        assert ChangeLog(store).get("x").action["password"] == "***"  # type: ignore[union-attr]
    assert b"Pfx-Secret-1" not in db.read_bytes() and b"U0VDUkVU" not in db.read_bytes()
