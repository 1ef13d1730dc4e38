"""The exchanges' closed weekdays: the shipped table against the State Council's holidays."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck import exchangecalendar as xcal
from fleetcheck.cli import main
from fleetcheck.remediate.guard import CalendarError, Guard, TradingCalendar


def test_national_day_and_spring_festival_2026_are_closed_the_day_before_is_open() -> None:
    closed = xcal.closed_weekdays()
    assert date(2026, 10, 1) in closed and date(2026, 2, 17) in closed
    assert date(2026, 9, 30) not in closed
    assert date(2024, 2, 9) in closed  # Spring Festival Eve 2024: the exchanges closed, a normal workday


def test_only_weekdays_are_listed() -> None:
    assert all(day.weekday() < 5 for day in xcal.closed_weekdays())


def test_the_table_is_the_state_councils_weekday_holidays_plus_the_exchange_only_closures() -> None:
    constants = pytest.importorskip("chinese_calendar.constants", reason="pip install chinesecalendar")
    for year in xcal.CLOSED_WEEKDAYS:
        public = {d for d in constants.holidays if d.year == year and d.weekday() < 5}
        only = {d for d in xcal.EXCHANGE_ONLY_CLOSURES if d.year == year}
        assert xcal.CLOSED_WEEKDAYS[year] == public | only, year


def test_a_year_not_in_the_table_warns_in_both_languages() -> None:
    assert xcal.coverage_warning(2026) is None
    warning = xcal.coverage_warning(2099)
    assert warning is not None
    assert "2099" in warning.zh and "holidays:" in warning.en


def test_new_years_day_is_closed_whenever_it_is_a_weekday() -> None:
    for year, days in xcal.CLOSED_WEEKDAYS.items():
        if date(year, 1, 1).weekday() < 5:
            assert date(year, 1, 1) in days, year


# --------------------------------------------------------------------- the guard uses it

SHANGHAI_10AM_UTC_HOUR = 2  # 10:00 Asia/Shanghai is 02:00 UTC


def _at(day: date, hour_utc: int = SHANGHAI_10AM_UTC_HOUR) -> datetime:
    return datetime(day.year, day.month, day.day, hour_utc, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("day", "session"), [
    (date(2026, 10, 1), False),  # National Day
    (date(2026, 2, 17), False),  # Spring Festival
    (date(2026, 9, 30), True),   # the working day before National Day
    (date(2026, 10, 10), False),  # Saturday make-up working day: the exchanges stay closed
    (date(2026, 2, 28), False),  # Saturday make-up working day
    (date(2024, 2, 9), False),   # Spring Festival Eve 2024, an exchange-only closure
])
def test_the_guard_knows_the_exchange_holidays(day: date, session: bool) -> None:
    calendar = TradingCalendar()
    assert calendar.in_session(_at(day)) is session
    decision = Guard(calendar, clock=lambda: _at(day)).check(None)
    assert any("交易时段内" in r.zh for r in decision.reasons) is session


def test_a_year_the_table_does_not_cover_warns_and_counts_weekdays() -> None:
    calendar = TradingCalendar()
    new_years_day_2099 = date(2099, 1, 1)  # a Thursday
    assert calendar.in_session(_at(new_years_day_2099))
    warning = calendar.coverage_warning(_at(new_years_day_2099))
    assert warning is not None and "2099" in warning.en
    assert calendar.coverage_warning(_at(date(2026, 3, 4))) is None


def test_the_admins_file_adds_closures_and_can_open_a_day(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("holidays: [2099-01-02]\nextra_trading_days: [2026-10-01]\n", encoding="utf-8")
    calendar = TradingCalendar.load(path)
    assert not calendar.in_session(_at(date(2099, 1, 2)))
    assert calendar.in_session(_at(date(2026, 10, 1)))
    assert calendar.coverage_warning(_at(date(2099, 1, 5))) is None  # the file lists 2099's closures


def test_builtin_holidays_can_be_switched_off_and_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("builtin_holidays: false\n", encoding="utf-8")
    assert TradingCalendar.load(path).in_session(_at(date(2026, 10, 1)))
    path.write_text("builtin_holidays: 'no'\n", encoding="utf-8")
    with pytest.raises(CalendarError) as caught:
        TradingCalendar.load(path)
    assert f"{path}:1:" in caught.value.format("en") and "true or false" in caught.value.format("en")


@pytest.mark.parametrize(("when", "warned"), [("2099-03-04T20:00+08:00", True), ("2026-03-04T20:00+08:00", False)])
def test_fix_warns_when_the_year_is_not_covered(tmp_path: Path, when: str, warned: bool) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n  hosts:\n    PC-1: {ansible_host: 127.0.9.9, ansible_port: 1}\n", encoding="utf-8")
    args = ["fix", "-i", str(inv), "--db", f"sqlite:///{tmp_path / 'h.db'}", "--now", when, "--timeout", "5"]
    en = CliRunner().invoke(main, ["--lang", "en", *args])
    assert ("the exchanges' closures for 2099 are not known" in en.stderr) is warned, en.stderr
    zh = CliRunner().invoke(main, args)
    assert ("交易所 2099 年的休市日未知" in zh.stderr) is warned, zh.stderr
