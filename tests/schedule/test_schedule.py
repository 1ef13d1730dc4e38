"""Schedule definitions: each parses for its scheduler, and quoting survives spaces, Chinese and shell characters."""

from __future__ import annotations

import configparser
import fcntl
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, time, timezone
from pathlib import Path, PureWindowsPath

import pytest

from fleetcheck import schedule as sched

NASTY_ARGS = [
    "scan",
    "-i",
    "清单 深圳 营业部.yaml",
    "--note",
    "it's 100% \"done\"; rm -rf / `id` $HOME & | < > ( ) ^ \\ end\\",
    "--tab",
    "a\tb",
]
WINDOWS_ARGS = ["scan", "-i", "清单 深圳 营业部.yaml", "--out", "C:\\报告 目录\\", "--x", "a&b|c<d>e^f(g)"]
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
NOW = datetime(2026, 12, 1, 21, 0, tzinfo=timezone.utc)  # Tuesday 21:00 UTC = Wednesday 05:00 Shanghai
IN_OFFICE = sched.Machine(zone=sched.parse_zone("Asia/Shanghai"), now=NOW)  # a controller in the office's zone


def _spec(tmp: Path, command: list[str], days: str = "mon-fri") -> sched.ScheduleSpec:
    return sched.ScheduleSpec(
        name="fc-daily",
        at=sched.parse_at("07:30"),
        days=sched.parse_days(days),
        workdir=tmp,
        log=tmp / "日志 fc.log",
        lock=tmp / ".fc daily.lock",
        command=command,
    )


@pytest.fixture
def echo_program(tmp_path: Path) -> Path:
    """A stand-in for fleetcheck that records its arguments and working directory."""
    folder = tmp_path / "程序 目录"
    folder.mkdir()
    program = folder / "fleetcheck"
    program.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd()}), flush=True)\n",
        encoding="utf-8",
    )
    program.chmod(0o755)
    return program


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("mon,wed,fri", (0, 2, 4)),
        ("daily", (0, 1, 2, 3, 4, 5, 6)),
        ("Sat,SUN", (5, 6)),
        ("fri-mon", (0, 4, 5, 6)),
        ("monday-wednesday,sat", (0, 1, 2, 5)),
    ],
)
def test_parse_days(text: str, days: tuple[int, ...]) -> None:
    assert sched.parse_days(text) == days


@pytest.mark.parametrize("text", ["weekdays", "mon-fry", "mo", "", "mon,,fri"])
def test_bad_days_are_refused_with_a_bilingual_message(text: str) -> None:
    with pytest.raises(sched.ScheduleError) as info:
        sched.parse_days(text)
    assert "--days" in info.value.text.zh and "mon-fri" in info.value.text.en


@pytest.mark.parametrize(("text", "at"), [("07:30", time(7, 30)), ("7:05", time(7, 5)), ("23:59", time(23, 59))])
def test_parse_at(text: str, at: time) -> None:
    assert sched.parse_at(text) == at


@pytest.mark.parametrize("text", ["24:00", "7.30", "07:60", "0730", "07:30pm"])
def test_bad_at_is_refused(text: str) -> None:
    with pytest.raises(sched.ScheduleError) as info:
        sched.parse_at(text)
    assert "HH:MM" in info.value.text.zh


def test_line_breaks_and_bad_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(sched.ScheduleError):
        _spec(tmp_path, ["/bin/fleetcheck", "scan\nrm -rf /"])
    with pytest.raises(sched.ScheduleError):
        sched.ScheduleSpec("../evil", time(7), (0,), tmp_path, tmp_path / "l", tmp_path / "k", ["x"])


# --------------------------------------------------------------------------- cron

_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(,(\d+(-\d+)?))*$")


def _parse_cron(line: str) -> tuple[list[str], str]:
    """Five time fields and the command, checked against cron's ranges."""
    fields = line.split(None, 5)
    assert len(fields) == 6
    limits = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
    for value, (low, high) in zip(fields[:5], limits, strict=True):
        assert _CRON_FIELD.match(value), value
        for number in re.findall(r"\d+", value):
            assert low <= int(number) <= high
    return fields[:5], fields[5]


def _cron_to_shell(command: str) -> str:
    """What cron hands to /bin/sh: '\\%' becomes '%', a bare '%' would end the command."""
    out, i = [], 0
    while i < len(command):
        if command[i] == "\\" and command[i + 1 : i + 2] == "%":
            out.append("%")
            i += 2
            continue
        assert command[i] != "%", "an unescaped % would be turned into a newline by cron"
        out.append(command[i])
        i += 1
    return "".join(out)


@pytest.mark.parametrize(("days", "field"), [("mon-fri", "1-5"), ("mon,wed,fri", "1,3,5"), ("daily", "*"),
                                             ("sat,sun", "0,6"), ("mon-wed,sun", "0-3")])
def test_cron_line_fields(tmp_path: Path, days: str, field: str) -> None:
    line = sched.render_cron(_spec(tmp_path, ["/opt/fc/bin/fleetcheck", "scan"], days), IN_OFFICE).line
    fields, command = _parse_cron(line)
    assert fields == ["30", "7", "*", "*", field]
    assert command.endswith("# fleetcheck-schedule:fc-daily")


@pytest.mark.skipif(shutil.which("flock") is None, reason="util-linux flock not installed")
def test_cron_command_runs_with_exact_arguments_in_workdir_and_logs(tmp_path: Path, echo_program: Path) -> None:
    spec = _spec(tmp_path, [str(echo_program), *NASTY_ARGS])
    _, command = _parse_cron(sched.render_cron(spec, IN_OFFICE, flock=sched.find_flock()).line)
    subprocess.run(["/bin/sh", "-c", _cron_to_shell(command)], check=True, timeout=60, cwd="/")
    record = json.loads(spec.log.read_text(encoding="utf-8"))
    assert record == {"argv": NASTY_ARGS, "cwd": str(tmp_path)}


@pytest.mark.skipif(shutil.which("flock") is None, reason="util-linux flock not installed")
def test_cron_run_is_skipped_while_the_previous_one_holds_the_lock(tmp_path: Path, echo_program: Path) -> None:
    spec = _spec(tmp_path, [str(echo_program), "scan"])
    _, command = _parse_cron(sched.render_cron(spec, IN_OFFICE, flock=sched.find_flock()).line)
    with open(spec.lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.run(["/bin/sh", "-c", _cron_to_shell(command)], timeout=60, check=False)
    assert proc.returncode == 1
    assert not spec.log.exists() or spec.log.read_text(encoding="utf-8") == ""


def test_merge_crontab_replaces_only_fleetchecks_line() -> None:
    existing = "MAILTO=ops@example.com\n0 1 * * * /usr/bin/backup\n30 7 * * 1-5 old # fleetcheck-schedule:fc-daily\n"
    once = sched.merge_crontab(existing, "30 8 * * * new # fleetcheck-schedule:fc-daily", "fc-daily")
    twice = sched.merge_crontab(once, "30 8 * * * new # fleetcheck-schedule:fc-daily", "fc-daily")
    assert once == twice == "MAILTO=ops@example.com\n0 1 * * * /usr/bin/backup\n30 8 * * * new # fleetcheck-schedule:fc-daily\n"
    other = sched.merge_crontab(once, "0 9 * * * x # fleetcheck-schedule:weekly", "weekly")
    assert other.count("fleetcheck-schedule:") == 2


# --------------------------------------------------------------------------- systemd


def _systemd_split(line: str) -> list[str]:
    """ExecStart= word splitting as systemd does it: quotes, C escapes, then %% and $$."""
    words, i = [], 0
    escapes = {"\\": "\\", '"': '"', "'": "'", "t": "\t", "n": "\n", "s": " "}
    while i < len(line):
        if line[i].isspace():
            i += 1
            continue
        word, quote = [], None
        while i < len(line) and (quote or not line[i].isspace()):
            c = line[i]
            if c == "\\":
                word.append(escapes[line[i + 1]])
                i += 2
                continue
            if c in "\"'" and (quote is None or quote == c):
                quote = None if quote else c
                i += 1
                continue
            word.append(c)
            i += 1
        assert quote is None, "unterminated quote"
        words.append("".join(word).replace("%%", "%").replace("$$", "$"))
    return words


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def test_systemd_units_parse_and_carry_the_schedule(tmp_path: Path, echo_program: Path) -> None:
    spec = _spec(tmp_path, [str(echo_program), *NASTY_ARGS])
    units = sched.render_systemd(spec, flock="/usr/bin/flock")
    service, timer = _ini(units.service), _ini(units.timer)
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["WorkingDirectory"] == str(tmp_path)
    assert service["Service"]["StandardOutput"] == f"append:{spec.log}"
    assert service["Service"]["StandardError"] == f"append:{spec.log}"
    assert _systemd_split(service["Service"]["ExecStart"]) == [
        "/usr/bin/flock", "-n", str(spec.lock), str(echo_program), *NASTY_ARGS]
    assert timer["Timer"]["OnCalendar"] == "Mon..Fri *-*-* 07:30:00 Asia/Shanghai"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "fc-daily.service"
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.parametrize(("days", "calendar"), [("mon,wed,fri", "Mon,Wed,Fri *-*-* 07:30:00 Asia/Shanghai"),
                                                ("daily", "*-*-* 07:30:00 Asia/Shanghai"),
                                                ("mon-wed,sat,sun", "Mon..Wed,Sat,Sun *-*-* 07:30:00 Asia/Shanghai")])
def test_on_calendar(tmp_path: Path, days: str, calendar: str) -> None:
    timer = sched.render_systemd(_spec(tmp_path, ["/x"], days)).timer
    assert f"OnCalendar={calendar}\n" in timer
    analyze = shutil.which("systemd-analyze")
    if analyze:
        proc = subprocess.run([analyze, "calendar", calendar], capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path, echo_program: Path) -> None:
    spec = _spec(tmp_path, [str(echo_program), *NASTY_ARGS])
    units = sched.render_systemd(spec, flock=sched.find_flock())
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    (unit_dir / units.service_file).write_text(units.service, encoding="utf-8")
    (unit_dir / units.timer_file).write_text(units.timer, encoding="utf-8")
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit_dir / units.service_file), str(unit_dir / units.timer_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    relevant = [ln for ln in proc.stderr.splitlines() if "fc-daily" in ln]
    assert proc.returncode == 0 and not relevant, proc.stderr


# --------------------------------------------------------------------------- Windows


def _argv_w(cmdline: str) -> list[str]:
    """CommandLineToArgvW / MSVC runtime argument splitting."""
    args, i, n = [], 0, len(cmdline)
    while i < n:
        while i < n and cmdline[i] in " \t":
            i += 1
        if i >= n:
            break
        arg, quoted = [], False
        while i < n:
            c = cmdline[i]
            if c == "\\":
                j = i
                while j < n and cmdline[j] == "\\":
                    j += 1
                count = j - i
                if j < n and cmdline[j] == '"':
                    arg.append("\\" * (count // 2))
                    if count % 2:
                        arg.append('"')
                        j += 1
                    i = j
                else:
                    arg.append("\\" * count)
                    i = j
                continue
            if c == '"':
                if quoted and cmdline[i + 1 : i + 2] == '"':
                    arg.append('"')
                    i += 2
                    continue
                quoted = not quoted
                i += 1
                continue
            if c in " \t" and not quoted:
                break
            arg.append(c)
            i += 1
        args.append("".join(arg))
    return args


def _outside_quotes(cmdline: str) -> str:
    """The characters cmd.exe sees outside double quotes (where & | < > ^ would act)."""
    out, quoted = [], False
    for c in cmdline:
        if c == '"':
            quoted = not quoted
        elif not quoted:
            out.append(c)
    return "".join(out)


def _task(tmp_path: Path, days: str = "mon,wed,fri") -> tuple[sched.ScheduleSpec, ET.Element]:
    home = PureWindowsPath("C:\\fleetcheck 工作")
    spec = sched.ScheduleSpec(
        name="fc-daily", at=time(7, 30), days=sched.parse_days(days), workdir=home,
        log=home / "日志.log", lock=home / ".lock",
        command=["C:\\Program Files\\fleetcheck\\Scripts\\fleetcheck.exe", *WINDOWS_ARGS],
    )
    task = sched.render_windows(spec, now=NOW)
    xml_file = tmp_path / "fc-daily.xml"
    xml_file.write_text(task.xml, encoding="utf-16")  # what show --xml-out writes
    return spec, ET.fromstring(xml_file.read_bytes())


def test_task_xml_is_well_formed_with_weekly_trigger_and_ignore_new(tmp_path: Path) -> None:
    _, root = _task(tmp_path)
    trigger = root.find("t:Triggers/t:CalendarTrigger", NS)
    assert trigger is not None
    # The next Mon/Wed/Fri run after NOW, with the office's offset.
    assert trigger.findtext("t:StartBoundary", namespaces=NS) == "2026-12-02T07:30:00+08:00"
    days = trigger.find("t:ScheduleByWeek/t:DaysOfWeek", NS)
    assert [child.tag.split("}")[1] for child in days] == ["Monday", "Wednesday", "Friday"]  # type: ignore[union-attr]
    assert trigger.findtext("t:ScheduleByWeek/t:WeeksInterval", namespaces=NS) == "1"
    assert root.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert root.findtext("t:Settings/t:StartWhenAvailable", namespaces=NS) == "true"
    assert root.findtext("t:Actions/t:Exec/t:WorkingDirectory", namespaces=NS) == "C:\\fleetcheck 工作"


def test_task_command_line_round_trips_through_cmd_and_argv_rules(tmp_path: Path) -> None:
    spec, root = _task(tmp_path)
    command = root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS)
    arguments = root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS)
    assert command is not None and command.lower().endswith("cmd.exe") and arguments is not None
    prefix = '/d /s /c "'
    assert arguments.startswith(prefix) and arguments.endswith('"')
    inner = arguments[len(prefix) : -1]  # cmd /s strips exactly the outer quotes
    program_and_args, _, log = inner.partition(" >> ")
    assert _argv_w(program_and_args) == list(spec.command)
    assert log.endswith(" 2>&1") and _argv_w(log[: -len(" 2>&1")]) == [str(spec.log)]
    # only the redirection is visible to cmd.exe; every & | < > ^ ( ) of the arguments sits inside quotes
    assert _outside_quotes(inner).replace(" ", "") == ">>2>&1"


def test_schtasks_command_line(tmp_path: Path) -> None:
    spec, _ = _task(tmp_path)
    task = sched.render_windows(spec, now=NOW, xml_file="C:\\任务\\fc-daily.xml")
    assert task.create_command == (
        'schtasks /Create /TN "fleetcheck\\fc-daily" /XML "C:\\任务\\fc-daily.xml" /RU "%USERDOMAIN%\\%USERNAME%" /RP'
    )


@pytest.mark.parametrize("bad", ["50%", "wow!", 'say "hi"'])
def test_windows_refuses_characters_cmd_would_expand(bad: str) -> None:
    with pytest.raises(sched.ScheduleError) as info:
        sched.windows_quote(bad)
    assert "cmd.exe" in info.value.text.zh


def test_windows_quote_doubles_trailing_backslashes() -> None:
    assert _argv_w(sched.windows_quote("C:\\报告 目录\\")) == ["C:\\报告 目录\\"]
    assert _argv_w(sched.windows_quote("a\\\\b")) == ["a\\\\b"]
