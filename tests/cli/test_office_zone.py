"""The office zone is configurable (issue 14 "one clock"): --office-tz, FLEETCHECK_OFFICE_TZ, or the
inventory's office_timezone; every time and date shown follows it; a bad name is a clear exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.findings import RunResult
from fleetcheck.officetime import office_day, office_minute, office_zone, set_office_zone
from fleetcheck.store import Store

STARTED = datetime(2026, 12, 11, 20, 0, tzinfo=timezone.utc)  # 12th 04:00 Shanghai, 11th 20:00 London


@pytest.fixture(autouse=True)
def default_zone() -> Iterator[None]:
    set_office_zone(None)
    yield
    set_office_zone(None)  # a zone set by a command in this process must not leak into later tests


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with Store.open(url) as store:
        store.record_run(RunResult(run_id="r1", started=STARTED, finished=STARTED), certificates=())
    return url


def test_default_is_shanghai_and_the_functions_follow_the_set_zone() -> None:
    assert office_zone().key == "Asia/Shanghai"
    assert office_minute(STARTED) == "2026-12-12 04:00 Asia/Shanghai"
    set_office_zone("Europe/London")
    assert office_minute(STARTED) == "2026-12-11 20:00 Europe/London"
    assert office_day(STARTED) == "2026-12-11"


def test_office_tz_option_and_environment(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = CliRunner().invoke(main, ["--lang", "en", "--office-tz", "Europe/London", "history", "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "2026-12-11 20:00 Europe/London" in shown.stdout
    monkeypatch.setenv("FLEETCHECK_OFFICE_TZ", "Asia/Tokyo")
    env = CliRunner().invoke(main, ["--lang", "en", "history", "--db", db])
    assert "2026-12-12 05:00 Asia/Tokyo" in env.stdout
    monkeypatch.delenv("FLEETCHECK_OFFICE_TZ")
    plain = CliRunner().invoke(main, ["--lang", "en", "history", "--db", db])
    assert "2026-12-12 04:00 Asia/Shanghai" in plain.stdout  # nothing left over from the runs before


@pytest.mark.parametrize("args", [["--office-tz", "Mars/Olympus"], []])
def test_a_bad_zone_is_a_usage_error(args: list[str], db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not args:
        monkeypatch.setenv("FLEETCHECK_OFFICE_TZ", "Mars/Olympus")
    result = CliRunner().invoke(main, ["--lang", "en", *args, "history", "--db", db])
    assert result.exit_code == 2
    assert "'Mars/Olympus' is not an IANA time zone" in result.output
    assert "Traceback" not in result.output


def test_the_inventory_names_the_office_zone(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("all:\n  vars:\n    office_timezone: Asia/Hong_Kong\n  hosts:\n    PC-1: {}\n",
                         encoding="utf-8")
    from fleetcheck.commands.common import load_targets

    load_targets(inventory, None)
    assert office_zone().key == "Asia/Hong_Kong"
    inventory.write_text("all:\n  vars:\n    office_timezone: Nowhere/Else\n  hosts:\n    PC-1: {}\n",
                         encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "inventory", "list", str(inventory)])
    listed = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(inventory), "--limit", "PC-1"])
    assert listed.exit_code == 2 and "office_timezone 'Nowhere/Else' is not an IANA time zone" in listed.output
    assert result.exit_code == 0  # listing shows the variable; only commands that show times use it
