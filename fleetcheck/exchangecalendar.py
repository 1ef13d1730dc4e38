"""The Shanghai and Shenzhen stock exchanges' closed weekdays, for the years that are known.

SSE and SZSE publish each December the next year's closures ("关于 N 年部分节假日
休市安排的通知"). They close on every weekday of the State Council's public
holidays, and never open on a weekend — the make-up working days (调休上班) of a
holiday are weekends the exchanges stay closed (SSE notices: "另外，…为周末休市").
Rarely they close on a further weekday: 2024-02-09 (除夕, Spring Festival Eve, not
a public holiday that year).

The data below are the weekday public holidays of ``chinesecalendar`` 1.11.0
(the State Council notices, 2016-2026) plus :data:`EXCHANGE_ONLY_CLOSURES`;
``exchange-calendars`` 4.13's XSHG calendar gives the same closed weekdays for
2016-2026 (checked when this table was made). tests/remediate/test_exchange_calendar.py
compares the table with ``chinesecalendar`` whenever it is installed. A year
not in :data:`CLOSED_WEEKDAYS` is not known: the guard then counts every weekday as a
trading day and says so (:func:`coverage_warning`). Add the next year's
closures here each December from the exchanges' notice, or in the admin's
calendar file (``holidays:``) until a release does.
"""

from __future__ import annotations

from datetime import date

from fleetcheck.i18n import T, Text

__all__ = ["CLOSED_WEEKDAYS", "EXCHANGE_ONLY_CLOSURES", "closed_weekdays", "coverage_warning", "covers"]

#: Closed weekdays per year, as "MM-DD" (public holidays plus exchange-only closures).
_CLOSED: dict[int, tuple[str, ...]] = {
    2016: ("01-01", "02-08", "02-09", "02-10", "02-11", "02-12", "04-04", "05-02", "06-09", "06-10", "09-15", "09-16", "10-03", "10-04", "10-05", "10-06", "10-07"),
    2017: ("01-02", "01-27", "01-30", "01-31", "02-01", "02-02", "04-03", "04-04", "05-01", "05-29", "05-30", "10-02", "10-03", "10-04", "10-05", "10-06"),
    2018: ("01-01", "02-15", "02-16", "02-19", "02-20", "02-21", "04-05", "04-06", "04-30", "05-01", "06-18", "09-24", "10-01", "10-02", "10-03", "10-04", "10-05", "12-31"),
    2019: ("01-01", "02-04", "02-05", "02-06", "02-07", "02-08", "04-05", "05-01", "05-02", "05-03", "06-07", "09-13", "10-01", "10-02", "10-03", "10-04", "10-07"),
    2020: ("01-01", "01-24", "01-27", "01-28", "01-29", "01-30", "01-31", "04-06", "05-01", "05-04", "05-05", "06-25", "06-26", "10-01", "10-02", "10-05", "10-06", "10-07", "10-08"),
    2021: ("01-01", "02-11", "02-12", "02-15", "02-16", "02-17", "04-05", "05-03", "05-04", "05-05", "06-14", "09-20", "09-21", "10-01", "10-04", "10-05", "10-06", "10-07"),
    2022: ("01-03", "01-31", "02-01", "02-02", "02-03", "02-04", "04-04", "04-05", "05-02", "05-03", "05-04", "06-03", "09-12", "10-03", "10-04", "10-05", "10-06", "10-07"),
    2023: ("01-02", "01-23", "01-24", "01-25", "01-26", "01-27", "04-05", "05-01", "05-02", "05-03", "06-22", "06-23", "09-29", "10-02", "10-03", "10-04", "10-05", "10-06"),
    2024: ("01-01", "02-12", "02-13", "02-14", "02-15", "02-16", "04-04", "04-05", "05-01", "05-02", "05-03", "06-10", "09-16", "09-17", "10-01", "10-02", "10-03", "10-04", "10-07"),
    2025: ("01-01", "01-28", "01-29", "01-30", "01-31", "02-03", "02-04", "04-04", "05-01", "05-02", "05-05", "06-02", "10-01", "10-02", "10-03", "10-06", "10-07", "10-08"),
    2026: ("01-01", "01-02", "02-16", "02-17", "02-18", "02-19", "02-20", "02-23", "04-06", "05-01", "05-04", "05-05", "06-19", "09-25", "10-01", "10-02", "10-05", "10-06", "10-07"),
}
_CLOSED[2024] = tuple(sorted((*_CLOSED[2024], "02-09")))

#: Weekdays the exchanges closed although they were not public holidays.
EXCHANGE_ONLY_CLOSURES: frozenset[date] = frozenset({date(2024, 2, 9)})

#: Year -> the weekdays SSE and SZSE were (or will be) closed.
CLOSED_WEEKDAYS: dict[int, frozenset[date]] = {
    year: frozenset(date(year, int(day[:2]), int(day[3:])) for day in days) for year, days in _CLOSED.items()
}


def covers(year: int) -> bool:
    """True when the exchanges' closures of ``year`` are in the table."""
    return year in CLOSED_WEEKDAYS


def closed_weekdays() -> frozenset[date]:
    """Every known closed weekday, all years together."""
    return frozenset().union(*CLOSED_WEEKDAYS.values())


def coverage_warning(year: int) -> Text | None:
    """What to tell the admin when ``year``'s exchange holidays are not known (None when they are)."""
    if covers(year):
        return None
    known = f"{min(CLOSED_WEEKDAYS)}-{max(CLOSED_WEEKDAYS)}"
    return T(
        f"交易所 {year} 年的休市日未知（内置 {known} 年）：交易时段按周一至周五计算，节假日不会被识别。"
        "请在交易日历文件的 holidays: 中加入该年的休市日（见沪深交易所每年 12 月发布的休市安排通知）。",
        f"the exchanges' closures for {year} are not known (built in: {known}): sessions are counted on "
        "every weekday and holidays are not recognised. Add that year's closed days under holidays: in "
        "the trading calendar file (from the SSE/SZSE notice published each December).",
    )
