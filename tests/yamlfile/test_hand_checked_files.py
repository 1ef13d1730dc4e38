"""Files checked by hand, not by a pydantic model (trading calendar, dashboard config, PFX
passwords): the same one loader, every problem at once, each at its own file:line:col."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from fleetcheck.remediate.guard import CalendarError, TradingCalendar
from fleetcheck.renew.passwords import PasswordFileError, load_password_file
from fleetcheck.web.config import ServeConfigError, load_serve_config


def _places(error: CalendarError | ServeConfigError | PasswordFileError) -> list[tuple[int | None, int | None]]:
    return [(i.line, i.col) for i in error.issues]


def test_calendar_reports_every_problem_at_once_each_at_its_place(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(
        "holiday: [2026-01-01]\n"  # a misspelt key
        "timezone: Mars/Olympus\n"
        "sessions:\n"
        "  - ['11:30', '09:15']\n"  # starts after it ends
        "  - ['13:00', '1500']\n"  # not HH:MM
        "extra_trading_days: [2026-02-30x]\n",
        encoding="utf-8",
    )
    with pytest.raises(CalendarError) as caught:
        TradingCalendar.load(path)
    english = caught.value.format("en")
    assert _places(caught.value) == [(1, 1), (2, 11), (4, 5), (5, 15), (6, 22)], english
    assert "unknown key 'holiday'" in english and "did you mean 'holidays'?" in english
    assert "unknown time zone 'Mars/Olympus'" in english
    assert "session 11:30-09:15 starts after it ends" in english
    assert "time '1500' must be HH:MM" in english
    assert "date '2026-02-30x' in extra_trading_days must be YYYY-MM-DD" in english
    assert "是否应为 'holidays'" in caught.value.format("zh")


def test_a_good_calendar_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("sessions: [['09:30', '11:30']]\nholidays: [2026-10-01, '2026-10-02']\n", encoding="utf-8")
    calendar = TradingCalendar.load(path)
    assert calendar.sessions == ((time(9, 30), time(11, 30)),)
    assert calendar.holidays == frozenset({date(2026, 10, 1), date(2026, 10, 2)})
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n", encoding="utf-8")
    assert TradingCalendar.load(empty) == TradingCalendar()


def test_calendar_from_a_mapping_names_the_source_without_a_position() -> None:
    with pytest.raises(CalendarError) as caught:
        TradingCalendar.from_mapping({"holidays": 5}, "policy option")
    [issue] = caught.value.issues
    assert (issue.file, issue.line) == ("policy option", None)
    assert caught.value.format("en") == "policy option: holidays must be a list"


def test_serve_config_places_each_bad_user_and_never_quotes_the_session_secret(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(
        "users:\n  ok: pbkdf2_sha256$600000$c2FsdA$aGFzaA\n  alice: plain-password\n  bob: 12\n"
        "session_secret: Sup3r-Secret-Value\nuserz: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ServeConfigError) as caught:
        load_serve_config(path)
    text = caught.value.format("en") + caught.value.format("zh")
    assert (3, 10) in _places(caught.value) and (4, 8) in _places(caught.value) and (6, 1) in _places(caught.value)
    assert "did you mean 'users'?" in text
    assert "Sup3r-Secret-Value" not in text


def test_a_broken_passwords_file_says_where_but_never_what(tmp_path: Path) -> None:
    path = tmp_path / "renew-passwords.yaml"
    path.write_text('"F00504Y0007#0": "Leaky-Secret-77\n', encoding="utf-8")  # an unclosed quote
    with pytest.raises(PasswordFileError) as caught:
        load_password_file(path)
    [issue] = caught.value.issues
    assert issue.line is not None and issue.source_line is None
    text = caught.value.format("en") + caught.value.format("zh")
    assert "Leaky-Secret-77" not in text and "not valid YAML" in text
    assert caught.value.exit_code == 2
