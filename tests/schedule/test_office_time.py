"""Issue 14, acceptance 4: on a UTC machine the definitions ``schedule show --at 07:30`` writes fire at 07:30 Shanghai.

Each definition is PARSED here and its next runs computed by this file's own small
evaluators (cron fields, systemd ``OnCalendar``, the Task XML's weekly trigger),
none of which shares code with fleetcheck.schedule. The expected instants are
written out by hand.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path, PurePath
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from fleetcheck import schedule as sched
from fleetcheck.cli import main

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
MAX_DAYS = 60  # every evaluator below looks at most this many days ahead

# now (UTC) -> the next five runs of "07:30 Mon-Fri Shanghai", by hand.
CASES = {
    # Tuesday 21:00 UTC = Wednesday 05:00 Shanghai: the same Shanghai morning is next.
    "2026-12-01T21:00:00+00:00": ["2026-12-02", "2026-12-03", "2026-12-04", "2026-12-07", "2026-12-08"],
    # Friday 00:00 UTC = Friday 08:00 Shanghai, after 07:30: Monday is next (Sunday 23:30 UTC).
    "2026-12-04T00:00:00+00:00": ["2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11"],
}


def _expected(days: list[str]) -> list[datetime]:
    return [datetime.combine(date.fromisoformat(d), time(7, 30), tzinfo=SHANGHAI) for d in days]


# --------------------------------------------------------------------------- independent evaluators


def _cron_set(field: str, low: int, high: int) -> set[int]:
    """One cron field (``*``, ``a-b``, ``a,b``, ``*/n``) as the set of values it matches."""
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (int(x) for x in base.split("-"))
        else:
            first = last = int(base)
        values.update(range(first, last + 1, step))
    return values


def cron_next(line: str, zone: tzinfo, after: datetime, count: int) -> list[datetime]:
    """Next runs of a crontab entry on a cron daemon whose local zone is ``zone`` (vixie cron: no CRON_TZ)."""
    minute, hour, dom, month, dow = line.split()[:5]
    minutes, hours = _cron_set(minute, 0, 59), _cron_set(hour, 0, 23)
    assert dom == "*" and month == "*"
    weekdays = {d % 7 for d in _cron_set(dow, 0, 7)}  # cron: 0 and 7 are Sunday
    out: list[datetime] = []
    day = after.astimezone(zone).date()
    for _ in range(MAX_DAYS):
        cron_dow = (day.weekday() + 1) % 7
        if cron_dow in weekdays:
            for h in sorted(hours):
                for m in sorted(minutes):
                    when = datetime.combine(day, time(h, m), tzinfo=zone)
                    if when > after and len(out) < count:
                        out.append(when)
        day += timedelta(days=1)
    return out


_SYSTEMD_DAY = {"Mon": 0, "Tue": 1, "Wed": 2, "Thu": 3, "Fri": 4, "Sat": 5, "Sun": 6}


def systemd_next(expression: str, machine: tzinfo, after: datetime, count: int) -> list[datetime]:
    """Next elapses of ``[weekdays] *-*-* HH:MM:SS [zone]``; without a zone, the machine's."""
    words = expression.split()
    zone: tzinfo = machine
    if re.fullmatch(r"[A-Za-z_]+/[A-Za-z_/+-]+|UTC", words[-1]):
        zone = ZoneInfo(words.pop())
    clock = time.fromisoformat(words.pop())
    assert words.pop() == "*-*-*"
    weekdays = set(range(7))
    if words:
        weekdays = set()
        for part in words.pop().split(","):
            first, _, last = part.partition("..")
            weekdays.update(range(_SYSTEMD_DAY[first], _SYSTEMD_DAY[last or first] + 1))
    assert not words
    out: list[datetime] = []
    day = after.astimezone(zone).date()
    for _ in range(MAX_DAYS):
        when = datetime.combine(day, clock, tzinfo=zone)
        if day.weekday() in weekdays and when > after and len(out) < count:
            out.append(when)
        day += timedelta(days=1)
    return out


_TASK_DAY = {"Monday": 0, "Tuesday": 1, "Wednesday": 2, "Thursday": 3, "Friday": 4, "Saturday": 5, "Sunday": 6}


def task_next(xml: bytes, after: datetime, count: int) -> list[datetime]:
    """Next runs of the weekly CalendarTrigger: an offset in StartBoundary fixes the frame (Microsoft Learn)."""
    root = ET.fromstring(xml)
    trigger = root.find("t:Triggers/t:CalendarTrigger", NS)
    assert trigger is not None
    boundary = datetime.fromisoformat(trigger.findtext("t:StartBoundary", namespaces=NS) or "")
    assert boundary.tzinfo is not None, "a boundary without offset would follow the machine's zone"
    assert trigger.findtext("t:ScheduleByWeek/t:WeeksInterval", namespaces=NS) == "1"
    days_element = trigger.find("t:ScheduleByWeek/t:DaysOfWeek", NS)
    assert days_element is not None
    weekdays = {_TASK_DAY[child.tag.split("}")[1]] for child in days_element}
    out: list[datetime] = []
    day = max(boundary, after.astimezone(boundary.tzinfo)).date()
    for _ in range(MAX_DAYS):
        when = datetime.combine(day, boundary.timetz())
        if day.weekday() in weekdays and when >= boundary and when > after and len(out) < count:
            out.append(when)
        day += timedelta(days=1)
    return out


# --------------------------------------------------------------------------- acceptance 4


def _show(tmp_path: Path, now: str, *extra: str) -> tuple[str, bytes]:
    xml_file = tmp_path / "task.xml"
    result = CliRunner().invoke(main, [
        "schedule", "show", "--at", "07:30", "--days", "mon-fri", "--workdir", str(tmp_path),
        "--machine-tz", "UTC", "--now", now, "--xml-out", str(xml_file), *extra,
        "--", "scan", "-i", "inventory.yaml",
    ])
    assert result.exit_code == 0, result.output
    return result.output, xml_file.read_bytes()


def _active_cron_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.endswith("# fleetcheck-schedule:fleetcheck-scan")]
    active = [ln for ln in lines if not ln.startswith("#")]
    assert len(active) == 1, lines
    return active[0]


@pytest.mark.parametrize("now", sorted(CASES))
def test_definitions_fire_at_office_time_on_a_utc_machine(tmp_path: Path, now: str) -> None:
    output, xml = _show(tmp_path, now)
    after = datetime.fromisoformat(now)
    expected = _expected(CASES[now])

    cron = cron_next(_active_cron_line(output), UTC, after, 5)
    on_calendar = next(ln for ln in output.splitlines() if ln.startswith("OnCalendar=")).split("=", 1)[1]
    systemd = systemd_next(on_calendar, UTC, after, 5)
    task = task_next(xml, after, 5)

    assert cron == expected
    assert systemd == expected
    assert task == expected
    assert all(run.astimezone(UTC).time() == time(23, 30) for run in cron)  # the day before, on the UTC clock


def test_the_old_zone_less_definitions_would_have_fired_at_1530_shanghai() -> None:
    # Guards the evaluators: the line issue 14 reported is read as 07:30 UTC = 15:30 Shanghai.
    after = datetime.fromisoformat("2026-12-01T21:00:00+00:00")
    old = cron_next("30 7 * * 1-5 true", UTC, after, 1)[0]
    assert old.astimezone(SHANGHAI).time() == time(15, 30)
    assert systemd_next("Mon..Fri *-*-* 07:30:00", UTC, after, 1)[0].astimezone(SHANGHAI).time() == time(15, 30)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_agrees_on_the_next_elapses(tmp_path: Path) -> None:
    now = "2026-12-04T00:00:00+00:00"
    output, _ = _show(tmp_path, now)
    on_calendar = next(ln for ln in output.splitlines() if ln.startswith("OnCalendar=")).split("=", 1)[1]
    base = int(datetime.fromisoformat(now).timestamp())
    proc = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=3", f"--base-time=@{base}", on_calendar],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "TZ": "UTC"},
    )
    assert proc.returncode == 0, proc.stderr
    stamps = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", proc.stdout)
    assert stamps == ["2026-12-06 23:30:00", "2026-12-07 23:30:00", "2026-12-08 23:30:00"]


def test_show_names_the_zones_and_the_next_three_runs(tmp_path: Path) -> None:
    output, _ = _show(tmp_path, "2026-12-04T00:00:00+00:00")
    assert "办公室时间（Asia/Shanghai）" in output and "本机调度器的时区：UTC" in output
    runs = [ln for ln in output.splitlines() if ln.startswith("#   2026-")]
    assert runs == [
        "#   2026-12-07 周一 07:30 Asia/Shanghai（本机 2026-12-06 周日 23:30 UTC）",
        "#   2026-12-08 周二 07:30 Asia/Shanghai（本机 2026-12-07 周一 23:30 UTC）",
        "#   2026-12-09 周三 07:30 Asia/Shanghai（本机 2026-12-08 周二 23:30 UTC）",
    ]
    english = CliRunner().invoke(main, ["--lang", "en", "schedule", "show", "--at", "07:30", "--target", "systemd",
                                        "--machine-tz", "Asia/Shanghai", "--now", "2026-12-04T00:00:00Z",
                                        "--", "scan"])
    assert english.exit_code == 0, english.output
    assert "#   2026-12-07 Mon 07:30 Asia/Shanghai\n" in english.output  # same zone: no local equivalent
    assert "this machine" not in english.output.split("next three runs")[1].split("\n\n")[0]


# --------------------------------------------------------------------------- the cron conversion and its warning


def _spec(days: str = "mon-fri", zone: str = "Asia/Shanghai") -> sched.ScheduleSpec:
    return sched.ScheduleSpec(name="fc", at=time(7, 30), days=sched.parse_days(days), workdir=PurePath("/w"),
                              log=PurePath("/w/fc.log"), lock=PurePath("/w/.fc.lock"), command=["/v/bin/fleetcheck", "scan"],
                              zone=ZoneInfo(zone))


def test_cron_conversion_warns_and_offers_the_cron_tz_form() -> None:
    machine = sched.Machine(zone=UTC, now=datetime(2026, 12, 1, 21, 0, tzinfo=UTC))
    definition = sched.render_cron(_spec(), machine, flock="/usr/bin/flock")
    assert definition.converted and definition.line.startswith("30 23 * * 0-4 ")
    assert definition.warning is not None
    assert "23:30 UTC" in definition.warning.zh and "重新生成" in definition.warning.zh
    assert "regenerate" in definition.warning.en and "CRON_TZ" in definition.warning.en
    assert "12 months" in definition.warning.en  # UTC and Shanghai keep their offsets
    assert definition.cron_tz_lines[0] == "CRON_TZ=Asia/Shanghai"
    assert definition.cron_tz_lines[1].startswith("30 7 * * 1-5 ")


def test_same_zone_means_no_conversion_and_no_warning() -> None:
    for zone in ("Asia/Shanghai", "Asia/Chongqing"):  # an alias with the same rules agrees too
        machine = sched.Machine(zone=ZoneInfo(zone), now=datetime(2026, 12, 1, 21, 0, tzinfo=UTC))
        definition = sched.render_cron(_spec(), machine, flock="/usr/bin/flock")
        assert not definition.converted and definition.warning is None
        assert definition.line.startswith("30 7 * * 1-5 ")


def test_cron_conversion_names_the_day_a_dst_change_breaks_it() -> None:
    # London: GMT until 2026-03-29 01:00 UTC, then BST. 07:30 Shanghai = 23:30 GMT (the day before) = 00:30 BST.
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    london = ZoneInfo("Europe/London")
    definition = sched.render_cron(_spec(), sched.Machine(zone=london, now=now), flock="/usr/bin/flock")
    assert definition.line.startswith("30 23 * * 0-4 ")
    assert definition.warning is not None and "2026-03-30" in definition.warning.en
    fires = cron_next(definition.line, london, now, 10)
    good = [run for run in fires if run.date() < date(2026, 3, 29)]
    assert good and all(run.astimezone(SHANGHAI).time() == time(7, 30) for run in good)
    after_change = [run for run in fires if run.date() >= date(2026, 3, 29)]
    assert after_change and all(run.astimezone(SHANGHAI).time() != time(7, 30) for run in after_change)


def test_install_cron_on_a_utc_machine_installs_the_converted_line_and_warns(
    tmp_path: Path, fake_crontab: tuple[Path, Path]
) -> None:
    program, table = fake_crontab
    result = CliRunner().invoke(main, ["--lang", "en", "schedule", "install", "--cron", "-y", "--crontab", str(program),
                                       "--machine-tz", "UTC", "--now", "2026-12-01T21:00:00Z", "--at", "07:30",
                                       "--workdir", str(tmp_path), "--", "scan"])
    assert result.exit_code == 0, result.output
    installed = table.read_text(encoding="utf-8")
    assert installed.startswith("30 23 * * 0-4 cd ") and "CRON_TZ" not in installed
    assert "differs from the office zone Asia/Shanghai" in result.output


# --------------------------------------------------------------------------- zones


def test_windows_boundary_warns_when_the_office_zone_has_dst() -> None:
    task = sched.render_windows(_spec(zone="Europe/Berlin"), now=datetime(2026, 3, 20, tzinfo=UTC))
    assert "<StartBoundary>2026-03-20T07:30:00+01:00</StartBoundary>" in task.xml
    assert task.warning is not None and "2026-03-30" in task.warning.en and "+02:00" in task.warning.en
    assert sched.render_windows(_spec(), now=datetime(2026, 3, 20, tzinfo=UTC)).warning is None


def test_office_zone_from_option_or_trading_calendar(tmp_path: Path) -> None:
    calendar = tmp_path / "calendar.yaml"
    calendar.write_text("timezone: Asia/Tokyo\n", encoding="utf-8")
    base = ["schedule", "show", "--at", "07:30", "--target", "systemd", "--now", "2026-12-01T21:00:00Z"]
    from_calendar = CliRunner().invoke(main, [*base, "--calendar", str(calendar), "--", "scan"])
    assert from_calendar.exit_code == 0, from_calendar.output
    assert "OnCalendar=Mon..Fri *-*-* 07:30:00 Asia/Tokyo\n" in from_calendar.output
    explicit = CliRunner().invoke(main, [*base, "--calendar", str(calendar), "--office-tz", "Europe/Paris", "--", "scan"])
    assert "OnCalendar=Mon..Fri *-*-* 07:30:00 Europe/Paris\n" in explicit.output
    bad = CliRunner().invoke(main, [*base, "--office-tz", "Mars/Olympus", "--", "scan"])
    assert bad.exit_code == 2 and "Mars/Olympus" in bad.output and "IANA" in bad.output
    assert "Traceback" not in bad.output


@pytest.mark.parametrize("text", ["", "../etc/passwd", "/etc/localtime", "Asia"])
def test_parse_zone_refuses_what_is_not_a_zone(text: str) -> None:
    with pytest.raises(sched.ScheduleError):
        sched.parse_zone(text)


def test_machine_zone_follows_the_localtime_link(tmp_path: Path) -> None:
    link = tmp_path / "localtime"
    target = Path("/usr/share/zoneinfo/Asia/Shanghai")
    if not target.exists():
        pytest.skip("no system zoneinfo tree")
    link.symlink_to(target)
    zone = sched.machine_zone(link)
    assert isinstance(zone, ZoneInfo) and zone.key == "Asia/Shanghai"
    copied = tmp_path / "copy" / "localtime"
    copied.parent.mkdir()
    copied.write_bytes(target.read_bytes())  # a copied file: read as is, no /etc/timezone beside it
    moment = datetime(2026, 7, 1, tzinfo=UTC)
    copy_zone = sched.machine_zone(copied)
    assert copy_zone.utcoffset(moment) == timedelta(hours=8)
    assert sched.zone_label(copy_zone, moment) == "CST"  # no IANA name to show: its abbreviation
