"""The exchanges' closed weekdays: the shipped table against the State Council's holidays."""

from __future__ import annotations

from datetime import date

import pytest

from fleetcheck import exchangecalendar as xcal


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
