"""Scheduled sweeps on the operating system's own scheduler: cron, systemd timers, Windows Task Scheduler.

fleetcheck has no daemon of its own. This module renders ready-to-install
definitions (pure: no I/O) and installs them for the current user (the
``install_*`` functions, whose paths and commands are injectable so tests never
touch the real crontab or systemd directory).

Decisions, written down because nobody will answer questions:

- The program that runs is the ``fleetcheck`` console script beside the running
  interpreter (``<venv>/bin/fleetcheck``, ``Scripts\\fleetcheck.exe`` on
  Windows), which carries its own absolute interpreter path. When that script
  does not exist, ``<sys.executable> -c "from fleetcheck.cli import main; main()"``
  is used. ``--executable`` overrides both.
- Runs never overlap: cron and systemd wrap the command in ``flock -n LOCK``
  (a second run exits at once while the first holds the lock); Windows uses the
  task's ``MultipleInstancesPolicy`` = ``IgnoreNew``.
- Output (stdout and stderr) is appended to one log file.
- Every argument is quoted for the target's own rules: POSIX sh (``shlex``) plus
  cron's ``%`` escape, systemd's unit-file rules (``"…"`` with C escapes, ``%%``
  and ``$$``), and Windows' ``CommandLineToArgvW`` rules inside ``cmd /d /s /c``.
  Arguments with a line break are refused everywhere; for Windows also ``"``,
  ``%`` and ``!`` (cmd.exe would expand or split them even inside quotes, and
  ``"`` cannot appear in a Windows file name anyway).
- systemd's ``Persistent=true`` and Windows' ``StartWhenAvailable`` make a run
  missed while the machine was off happen at the next boot; cron cannot do this.

Office time (issue 14). ``--at`` is a time in the OFFICE's zone, whatever the
zone of the machine that runs the scheduler:

- The office zone is ``ScheduleSpec.zone``: ``--office-tz`` when given, else the
  ``timezone`` of the trading calendar file (``--calendar``, the same file as
  ``fix --calendar``), else :func:`fleetcheck.officetime.office_zone`
  (Asia/Shanghai) — the one office clock every report shows.
- The machine's zone (:class:`Machine`, injectable) is the zone the scheduler
  daemon uses: :func:`machine_zone` reads ``/etc/localtime`` (cron and systemd
  read it at start; the ``TZ`` of your shell does not change when they fire).
- systemd: ``OnCalendar=Mon..Fri *-*-* 07:30:00 Asia/Shanghai`` — a time zone
  after the time is supported since systemd 235 (systemd.time(7), "Calendar
  Events"). No conversion, no warning.
- cron: Debian's and Ubuntu's cron (vixie/ISC cron) schedules in the daemon's
  local time and honours neither ``CRON_TZ`` nor ``TZ``; cronie (RHEL, Fedora,
  Arch) honours ``CRON_TZ`` but applies it to every later line of the crontab,
  shifting the user's other jobs. Decision: the ACTIVE line is always in the
  machine's zone — the office time itself when the two zones agree for the next
  12 months, else converted (hour, minute and weekdays; 07:30 Shanghai Mon–Fri is
  23:30 UTC Sun–Thu) with a warning that a DST or zone change needs the
  definition regenerated (the first date the conversion stops holding is named).
  The ``CRON_TZ=`` form is printed beside it, commented out, for a cron that
  honours it; it is never written into the crontab.
- Windows: ``StartBoundary`` carries the office offset
  (``2026-12-02T07:30:00+08:00``): "when an offset is specified, the time and
  offset are always used regardless of the time zone and daylight saving
  settings on the local computer" (Microsoft Learn, ITrigger::put_StartBoundary,
  Remarks). The weekly ``DaysOfWeek`` are the office's days, read in the
  boundary's frame (not verified on a Windows machine whose date differs from
  the office's at that time). An office zone with DST gets a warning: the fixed
  offset is right only until its next change.
- :func:`next_runs` gives the next run instants in office time (``schedule show``
  prints three, with the machine's local equivalent when the zones differ).

Example:
    >>> spec = ScheduleSpec(name="daily", at=parse_at("07:30"), days=parse_days("mon-fri"),
    ...     workdir=Path("/srv/fc"), log=Path("/srv/fc/fc.log"),
    ...     lock=Path("/srv/fc/.fc.lock"), command=["/venv/bin/fleetcheck", "scan"])
    >>> here = Machine(zone=ZoneInfo("Asia/Shanghai"), now=datetime(2026, 12, 1, tzinfo=timezone.utc))
    >>> render_cron(spec, here, flock="/usr/bin/flock").line.split()[:5]
    ['30', '7', '*', '*', '1-5']
    >>> utc = Machine(zone=timezone.utc, now=datetime(2026, 12, 1, tzinfo=timezone.utc))
    >>> render_cron(spec, utc, flock="/usr/bin/flock").line.split()[:5]
    ['30', '23', '*', '*', '0-4']
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path, PurePath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T, Text
from fleetcheck.officetime import office_zone

__all__ = [
    "CRON_MARKER_PREFIX",
    "DAY_NAMES",
    "CronDefinition",
    "Machine",
    "ScheduleError",
    "ScheduleSpec",
    "SystemdUnits",
    "WindowsTask",
    "default_command",
    "install_cron",
    "install_systemd",
    "machine_zone",
    "merge_crontab",
    "next_runs",
    "parse_at",
    "parse_days",
    "parse_zone",
    "render_cron",
    "render_systemd",
    "render_windows",
    "systemd_quote",
    "windows_quote",
    "zone_label",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SYSTEMD_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TASK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The comment that marks fleetcheck's own crontab line: "# fleetcheck-schedule:NAME".
CRON_MARKER_PREFIX = "# fleetcheck-schedule:"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_AT_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ScheduleError(FleetcheckError):
    """A schedule option or argument cannot be turned into a safe definition; ``text`` is bilingual."""


def parse_at(value: str) -> time:
    """Parse ``HH:MM`` (24-hour clock).

    >>> parse_at("07:30")
    datetime.time(7, 30)
    """
    match = _AT_RE.match(value.strip())
    if not match:
        raise ScheduleError(
            T(
                f"--at 的值 {value!r} 无效：请写成 24 小时制 HH:MM，例如 07:30。",
                f"--at value {value!r} is not valid: use a 24-hour HH:MM time, e.g. 07:30.",
            )
        )
    return time(int(match.group(1)), int(match.group(2)))


def parse_days(value: str) -> tuple[int, ...]:
    """Parse ``daily``, ``mon-fri``, ``mon,wed,fri`` or mixes like ``mon-wed,sat`` into weekday numbers (Monday = 0).

    A range may wrap around the week (``fri-mon``).

    >>> parse_days("mon-fri")
    (0, 1, 2, 3, 4)
    >>> parse_days("sat,sun")
    (5, 6)
    """
    text = value.strip().lower()
    if text in ("daily", "everyday", "*"):
        return tuple(range(7))
    days: set[int] = set()
    for part in (piece.strip() for piece in text.split(",")):
        if "-" in part:
            first, _, last = part.partition("-")
            start, end = _day_number(first, value), _day_number(last, value)
            span = (end - start) % 7
            days.update((start + i) % 7 for i in range(span + 1))
        else:
            days.add(_day_number(part, value))
    return tuple(sorted(days))


def _day_number(name: str, whole: str) -> int:
    key = name.strip()[:3]
    if len(name.strip()) < 3 or key not in DAY_NAMES or not name.strip().startswith(key):
        raise ScheduleError(
            T(
                f"--days 的值 {whole!r} 无效：请用 daily、mon-fri 或 mon,wed,fri 这样的写法"
                f"（星期用 {', '.join(DAY_NAMES)}）。",
                f"--days value {whole!r} is not valid: use daily, mon-fri or mon,wed,fri"
                f" (days are {', '.join(DAY_NAMES)}).",
            )
        )
    return DAY_NAMES.index(key)


@dataclass(frozen=True)
class ScheduleSpec:
    """What to run, when, where, with which lock and log. Paths are absolute.

    ``command`` is the full argument vector: the fleetcheck program (one or more
    items, see :func:`default_command`) followed by the fleetcheck arguments.
    ``at`` and ``days`` are read in ``zone``, the office's zone.
    """

    name: str
    at: time
    days: tuple[int, ...]
    workdir: PurePath
    log: PurePath
    lock: PurePath
    command: Sequence[str]
    zone: ZoneInfo = field(default_factory=office_zone)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ScheduleError(
                T(
                    f"任务名 {self.name!r} 无效：只能用字母、数字、'_'、'.'、'-'（不超过 64 个字符）。",
                    f"Schedule name {self.name!r} is not valid: use letters, digits, '_', '.', '-'"
                    " (at most 64 characters).",
                )
            )
        if not self.days:
            raise ScheduleError(T("至少需要一天（--days）。", "At least one day is needed (--days)."))
        if not self.command:
            raise ScheduleError(T("没有要运行的命令。", "There is no command to run."))
        for arg in [*self.command, str(self.workdir), str(self.log), str(self.lock)]:
            if any(ch in arg for ch in "\r\n\x00"):
                raise ScheduleError(
                    T(
                        f"参数 {arg!r} 含有换行或 NUL 字符，任何调度器都无法安全表示，请去掉。",
                        f"Argument {arg!r} contains a line break or NUL, which no scheduler can"
                        " represent safely; remove it.",
                    )
                )


def default_command(executable: str | None = None) -> list[str]:
    """The argument vector that starts fleetcheck from a scheduler (absolute paths).

    ``executable`` (``--executable``) wins; else the ``fleetcheck`` script beside
    ``sys.executable``; else ``python -c`` importing the CLI.
    """
    if executable:
        return [executable]
    bindir = Path(sys.executable).parent
    for candidate in (bindir / "fleetcheck", bindir / "fleetcheck.exe"):
        if candidate.is_file():
            return [str(candidate.absolute())]
    return [str(Path(sys.executable).absolute()), "-c", "from fleetcheck.cli import main; main()"]


# --------------------------------------------------------------------------- office time

#: How far ahead a conversion between two zones is checked (runs of the next 12 months).
_HORIZON_DAYS = 366


def parse_zone(value: str, option: str = "--office-tz") -> ZoneInfo:
    """An IANA time zone name (``Asia/Shanghai``, ``UTC``) as a ZoneInfo.

    >>> parse_zone("Asia/Shanghai").key
    'Asia/Shanghai'
    """
    text = value.strip()
    try:
        if not text or text.startswith(("/", ".")) or ".." in text:
            raise ValueError(text)
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            T(
                f"{option} 的值 {value!r} 不是已知的 IANA 时区（例如 Asia/Shanghai、UTC）。",
                f"{option} value {value!r} is not a known IANA time zone (e.g. Asia/Shanghai, UTC).",
            )
        ) from None


def zone_label(zone: tzinfo, when: datetime) -> str:
    """The name to show for ``zone``: its IANA key, else its abbreviation at ``when``.

    >>> zone_label(ZoneInfo("Asia/Shanghai"), datetime(2026, 1, 1, tzinfo=timezone.utc))
    'Asia/Shanghai'
    >>> zone_label(timezone.utc, datetime(2026, 1, 1, tzinfo=timezone.utc))
    'UTC'
    """
    if isinstance(zone, ZoneInfo) and zone.key:
        return zone.key
    return when.astimezone(zone).tzname() or "UTC"


def machine_zone(localtime: Path = Path("/etc/localtime")) -> tzinfo:
    """The zone this machine's scheduler daemons use (reads the system's zone file).

    ``/etc/localtime`` (a link into the zoneinfo tree names the zone; a copied
    file is read as is), else ``/etc/timezone``, else the fixed offset the
    platform reports now (Windows). ``TZ`` is not read: cron and systemd are
    started with the system's zone, not your shell's.
    """
    target = os.path.realpath(localtime)
    marker = f"{os.sep}zoneinfo{os.sep}"
    if marker in target:
        try:
            return ZoneInfo(target.split(marker, 1)[1])
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    try:
        return ZoneInfo(localtime.with_name("timezone").read_text(encoding="utf-8").strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    try:
        with localtime.open("rb") as handle:
            return ZoneInfo.from_file(handle)  # no key: shown by its abbreviation (CST, UTC)
    except (ValueError, OSError):
        pass
    return datetime.now().astimezone().tzinfo or timezone.utc


@dataclass(frozen=True)
class Machine:
    """Where a definition runs: the scheduler's zone and the current instant (aware). Both injectable."""

    zone: tzinfo
    now: datetime

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            object.__setattr__(self, "now", self.now.replace(tzinfo=timezone.utc))


def _office_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    # Normalised through UTC: a wall time skipped by a DST change becomes the instant after the gap.
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc).astimezone(zone)


def next_runs(spec: ScheduleSpec, after: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` run instants strictly after ``after``, in the office's zone.

    >>> spec = ScheduleSpec(name="d", at=time(7, 30), days=(0, 1, 2, 3, 4), workdir=PurePath("/w"),
    ...     log=PurePath("/w/l"), lock=PurePath("/w/k"), command=["fc"])
    >>> [r.isoformat() for r in next_runs(spec, datetime(2026, 12, 4, 0, 0, tzinfo=timezone.utc), 2)]
    ['2026-12-07T07:30:00+08:00', '2026-12-08T07:30:00+08:00']
    """
    aware = after if after.tzinfo else after.replace(tzinfo=timezone.utc)
    start = aware.astimezone(spec.zone).date()
    runs: list[datetime] = []
    for offset in range(count * 7 + 8):  # count runs lie within count weeks and a day
        day = start + timedelta(days=offset)
        if day.weekday() not in spec.days:
            continue
        when = _office_instant(day, spec.at, spec.zone)
        if when > aware:
            runs.append(when)
            if len(runs) == count:
                break
    return runs


def _horizon_runs(spec: ScheduleSpec, after: datetime) -> list[datetime]:
    """The runs of the next 12 months (the window a conversion is checked over)."""
    return next_runs(spec, after, len(spec.days) * (_HORIZON_DAYS // 7 + 1))


def _local_fields(run: datetime, zone: tzinfo) -> tuple[int, int, int]:
    """(hour, minute, day shift) of ``run`` on a clock in ``zone`` (shift: machine date minus office date)."""
    local = run.astimezone(zone)
    return local.hour, local.minute, (local.date() - run.date()).days


def _offset_change(runs: list[datetime]) -> datetime | None:
    """The first run whose UTC offset differs from the first run's (the office zone's DST), or None."""
    first = runs[0].utcoffset()
    return next((run for run in runs if run.utcoffset() != first), None)


def _day_ranges(days: tuple[int, ...]) -> list[list[int]]:
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def _days_text(days: tuple[int, ...]) -> str:
    """``mon-fri``, ``mon-thu,sun``: the days in --days spelling."""
    if len(days) == 7:
        return "daily"
    return ",".join(
        f"{DAY_NAMES[r[0]]}-{DAY_NAMES[r[-1]]}" if len(r) > 2 else ",".join(DAY_NAMES[d] for d in r)
        for r in _day_ranges(days)
    )


# --------------------------------------------------------------------------- cron


def _cron_days(days: tuple[int, ...]) -> str:
    if len(days) == 7:
        return "*"
    cron_numbers = sorted((d + 1) % 7 for d in days)  # cron: Sunday = 0, Monday = 1
    runs: list[list[int]] = []
    for n in cron_numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)


def _cron_escape(shell_text: str) -> str:
    # cron turns an unescaped '%' into a newline before the shell sees the line.
    return shell_text.replace("%", "\\%")


def _cron_entry(spec: ScheduleSpec, fields: tuple[int, int, tuple[int, ...]], flock: str) -> str:
    hour, minute, days = fields
    inner = shlex.join([flock, "-n", str(spec.lock), *spec.command])
    shell = (
        f"cd {shlex.quote(str(spec.workdir))} && {inner}"
        f" >> {shlex.quote(str(spec.log))} 2>&1"
    )
    return f"{minute} {hour} * * {_cron_days(days)} {_cron_escape(shell)} {CRON_MARKER_PREFIX}{spec.name}"


@dataclass(frozen=True)
class CronDefinition:
    """fleetcheck's crontab line for one schedule, and what to tell the admin about it.

    ``line`` is the one to install: its fields are in the machine's zone
    (``converted`` when they differ from the office time). ``cron_tz_lines`` is
    the ``CRON_TZ=`` form in office time, for a cron that honours it (cronie);
    ``warning`` says when and why the line has to be regenerated.
    """

    line: str
    cron_tz_lines: tuple[str, str]
    converted: bool
    warning: Text | None


def render_cron(spec: ScheduleSpec, machine: Machine, *, flock: str = "/usr/bin/flock") -> CronDefinition:
    """The crontab line for ``spec`` on ``machine`` (no trailing newline), ending with fleetcheck's marker.

    The conversion is the one of the next run; it is checked against every run of
    the next 12 months, and the first run it no longer matches is named in the warning.
    """
    office_fields = (spec.at.hour, spec.at.minute, spec.days)
    office_entry = _cron_entry(spec, office_fields, flock)
    runs = _horizon_runs(spec, machine.now)
    hour, minute, shift = _local_fields(runs[0], machine.zone)
    days = tuple(sorted({(d + shift) % 7 for d in spec.days}))
    broken = next((run for run in runs if _local_fields(run, machine.zone) != (hour, minute, shift)), None)
    converted = (hour, minute, days) != office_fields
    warning = _cron_warning(spec, machine, (hour, minute, days), broken) if converted or broken else None
    return CronDefinition(
        line=_cron_entry(spec, (hour, minute, days), flock) if converted else office_entry,
        cron_tz_lines=(f"CRON_TZ={zone_label(spec.zone, machine.now)}", office_entry),
        converted=converted,
        warning=warning,
    )


def _cron_warning(
    spec: ScheduleSpec, machine: Machine, fields: tuple[int, int, tuple[int, ...]], broken: datetime | None
) -> Text:
    hour, minute, days = fields
    office = zone_label(spec.zone, machine.now)
    here = zone_label(machine.zone, machine.now)
    wanted = f"{spec.at.hour:02d}:{spec.at.minute:02d} {office} ({_days_text(spec.days)})"
    local = f"{hour:02d}:{minute:02d} {here} ({_days_text(days)})"
    if broken is None:
        until = T("未来 12 个月内这一换算都成立；", "it holds for every run of the next 12 months;")
    else:
        day = broken.date().isoformat()
        until = T(f"从 {day}（办公室日期）起这一换算不再成立（夏令时或时区变化）；",
                  f"it stops holding on {day} (office date: a DST or zone change);")
    return T(
        f"本机时区 {here} 与办公室时区 {office} 不同：cron 按本机时间触发，"
        f"Debian/Ubuntu 的 cron 不支持 CRON_TZ，因此这一行写的是换算后的时间 {local} = {wanted}。"
        f"{until.zh}本机或办公室时区（含夏令时）变化后，请重新生成此定义（schedule show / install --cron）。",
        f"This machine's zone {here} differs from the office zone {office}: cron fires on the machine's"
        f" clock and Debian's/Ubuntu's cron ignores CRON_TZ, so the line carries the converted time"
        f" {local} = {wanted}; {until.en} regenerate the definition (schedule show / install --cron)"
        " after any zone or DST change of this machine or the office.",
    )


def merge_crontab(existing: str, line: str, name: str) -> str:
    """The user's crontab with fleetcheck's line for ``name`` replaced (or added). Idempotent.

    Lines that end with the marker ``# fleetcheck-schedule:NAME`` are fleetcheck's;
    everything else is kept byte for byte.
    """
    marker = f"{CRON_MARKER_PREFIX}{name}"
    kept = [ln for ln in existing.splitlines() if not ln.rstrip().endswith(marker)]
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, line]) + "\n"  # cron ignores a last line without newline


# --------------------------------------------------------------------------- systemd

_SYSTEMD_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def systemd_quote(arg: str) -> str:
    """Quote one ``ExecStart=`` argument by systemd's rules.

    ``%`` (specifiers) becomes ``%%`` and ``$`` (variable expansion) becomes
    ``$$`` everywhere; anything but plain characters is put in double quotes
    with backslash and double quote escaped.

    >>> systemd_quote("清单 1.yaml")
    '"清单 1.yaml"'
    >>> systemd_quote("50%")
    '50%%'
    """
    text = arg.replace("%", "%%").replace("$", "$$")
    if text and _SYSTEMD_SAFE.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    return f'"{escaped}"'


def _systemd_path(path: PurePath) -> str:
    # Path settings take the value literally except for specifiers.
    return str(path).replace("%", "%%")


def _on_calendar(spec: ScheduleSpec) -> str:
    """``Mon..Fri *-*-* 07:30:00 Asia/Shanghai``: the zone suffix needs systemd 235 or newer."""
    clock = f"{spec.at.hour:02d}:{spec.at.minute:02d}:00 {spec.zone.key}"
    if len(spec.days) == 7:
        return f"*-*-* {clock}"
    parts = [
        f"{_SYSTEMD_DAYS[r[0]]}..{_SYSTEMD_DAYS[r[-1]]}"
        if len(r) > 2
        else ",".join(_SYSTEMD_DAYS[d] for d in r)
        for r in _day_ranges(spec.days)
    ]
    return f"{','.join(parts)} *-*-* {clock}"


@dataclass(frozen=True)
class SystemdUnits:
    """A ``NAME.service`` + ``NAME.timer`` pair for a user systemd instance."""

    name: str
    service: str
    timer: str

    @property
    def service_file(self) -> str:
        return f"{self.name}.service"

    @property
    def timer_file(self) -> str:
        return f"{self.name}.timer"


def render_systemd(spec: ScheduleSpec, *, flock: str = "/usr/bin/flock") -> SystemdUnits:
    """The user service (``Type=oneshot``) and its timer (``Persistent=true``)."""
    exec_start = " ".join(systemd_quote(a) for a in [flock, "-n", str(spec.lock), *spec.command])
    log = _systemd_path(spec.log)
    service = (
        "[Unit]\n"
        f"Description=fleetcheck scheduled sweep ({spec.name})\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_systemd_path(spec.workdir)}\n"
        "# Secrets for the sweep (e.g. FC_WINRM_PASSWORD=..., as the inventory's {env: FC_WINRM_PASSWORD}) go here, chmod 600.\n"
        "EnvironmentFile=-%h/.config/fleetcheck/fleetcheck.env\n"
        f"ExecStart={exec_start}\n"
        "# 1 = some host non-compliant, 3 = some host unreachable: the sweep itself worked.\n"
        "SuccessExitStatus=1 3\n"
        f"StandardOutput=append:{log}\n"
        f"StandardError=append:{log}\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=fleetcheck scheduled sweep ({spec.name}) timer\n"
        "\n"
        "[Timer]\n"
        f"# {spec.at.hour:02d}:{spec.at.minute:02d} in {spec.zone.key} whatever this machine's zone"
        " (a time zone in OnCalendar= needs systemd 235 or newer, systemd.time(7)).\n"
        f"OnCalendar={_on_calendar(spec)}\n"
        "Persistent=true\n"
        f"Unit={spec.name}.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return SystemdUnits(name=spec.name, service=service, timer=timer)


# --------------------------------------------------------------------------- Windows


def windows_quote(arg: str) -> str:
    """Quote one argument for ``CommandLineToArgvW`` so that cmd.exe leaves it alone.

    Always double-quoted (so ``& | < > ^ ( )`` and spaces are inert under cmd.exe);
    backslashes before the closing quote are doubled. Characters cmd.exe would
    still interpret inside quotes (``"``, ``%``, ``!``) are refused.

    >>> print(windows_quote("C:\\\\交易 清单\\\\"))
    "C:\\交易 清单\\\\"
    """
    bad = sorted({ch for ch in arg if ch in '"%!'})
    if bad:
        raise ScheduleError(
            T(
                f"参数 {arg!r} 含有 {' '.join(bad)}：Windows 任务计划的 cmd.exe 命令行无法安全表示这些字符，"
                "请改名或换一个路径。",
                f"Argument {arg!r} contains {' '.join(bad)}, which a cmd.exe command line in Task"
                " Scheduler cannot carry safely; rename the file or use another path.",
            )
        )
    trailing = len(arg) - len(arg.rstrip("\\"))
    return '"' + arg + "\\" * trailing + '"'


@dataclass(frozen=True)
class WindowsTask:
    """The Task Scheduler XML, the ``schtasks`` command that registers it, and a warning when the offset will change."""

    name: str
    xml: str
    create_command: str
    warning: Text | None = None

    @property
    def task_path(self) -> str:
        return f"\\fleetcheck\\{self.name}"


def _windows_arguments(spec: ScheduleSpec) -> str:
    command = " ".join(windows_quote(a) for a in spec.command)
    # /s: cmd strips exactly the outer quotes and runs the rest verbatim; /d: no AutoRun.
    return f'/d /s /c "{command} >> {windows_quote(str(spec.log))} 2>&1"'


_TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def _leaf(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def render_windows(spec: ScheduleSpec, *, now: datetime, xml_file: str | None = None) -> WindowsTask:
    """Task XML (weekly calendar trigger, ``IgnoreNew``) and the ``schtasks /Create … /XML`` line.

    The trigger's ``StartBoundary`` is the next run after ``now`` with the office's
    UTC offset (``2026-12-02T07:30:00+08:00``), so the task fires at office time
    whatever the Windows machine's zone. An office zone whose offset changes in the
    next 12 months (DST) gets a ``warning``: the boundary keeps the offset it was
    written with.

    The task runs whether the user is logged on or not: ``/RU`` and ``/RP``
    (without a value, schtasks prompts for the password) register it with the
    account's password, so Windows Credential Manager (keyring) works in the task.
    """
    runs = _horizon_runs(spec, now)
    boundary = runs[0].isoformat(timespec="seconds")
    root = ET.Element("Task", {"version": "1.2", "xmlns": _TASK_NS})
    info = ET.SubElement(root, "RegistrationInfo")
    _leaf(info, "Description", f"fleetcheck scheduled sweep ({spec.name})")
    _leaf(info, "URI", f"\\fleetcheck\\{spec.name}")
    trigger = ET.SubElement(ET.SubElement(root, "Triggers"), "CalendarTrigger")
    _leaf(trigger, "StartBoundary", boundary)
    _leaf(trigger, "Enabled", "true")
    weekly = ET.SubElement(trigger, "ScheduleByWeek")
    days = ET.SubElement(weekly, "DaysOfWeek")
    for d in spec.days:
        ET.SubElement(days, _TASK_DAYS[d])
    _leaf(weekly, "WeeksInterval", "1")
    principal = ET.SubElement(ET.SubElement(root, "Principals"), "Principal", {"id": "Author"})
    _leaf(principal, "LogonType", "Password")
    _leaf(principal, "RunLevel", "LeastPrivilege")
    settings = ET.SubElement(root, "Settings")
    for name, value in (("MultipleInstancesPolicy", "IgnoreNew"), ("DisallowStartIfOnBatteries", "false"),
                        ("StopIfGoingOnBatteries", "false"), ("StartWhenAvailable", "true"),
                        ("Enabled", "true"), ("ExecutionTimeLimit", "PT4H")):
        _leaf(settings, name, value)
    run = ET.SubElement(ET.SubElement(root, "Actions", {"Context": "Author"}), "Exec")
    _leaf(run, "Command", "%SystemRoot%\\System32\\cmd.exe")
    _leaf(run, "Arguments", _windows_arguments(spec))
    _leaf(run, "WorkingDirectory", str(spec.workdir))
    ET.indent(root, space="  ")
    # ElementTree escapes every value; the declaration names the encoding the file is written in.
    xml = '<?xml version="1.0" encoding="UTF-16"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    xml_path = xml_file or f"{spec.name}.xml"
    task_name = windows_quote("fleetcheck\\" + spec.name)
    create = (
        f"schtasks /Create /TN {task_name} /XML {windows_quote(xml_path)}"
        ' /RU "%USERDOMAIN%\\%USERNAME%" /RP'
    )
    return WindowsTask(name=spec.name, xml=xml, create_command=create, warning=_offset_warning(spec, runs))


def _offset_warning(spec: ScheduleSpec, runs: list[datetime]) -> Text | None:
    change = _offset_change(runs)
    if change is None:
        return None
    first, later = runs[0].isoformat()[-6:], change.isoformat()[-6:]
    day = change.date().isoformat()
    return T(
        f"办公室时区 {spec.zone.key} 有夏令时：任务的开始时间带固定偏移 {first}，从 {day} 起应为 {later}；"
        "届时请重新生成并导入任务。",
        f"The office zone {spec.zone.key} has DST: the task's start boundary carries the fixed offset"
        f" {first}, which becomes {later} on {day}; regenerate and re-import the task then.",
    )


# --------------------------------------------------------------------------- install

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class InstallOutcome:
    """What an install did: files written, commands run, and what the user still has to do."""

    written: list[Path]
    next_steps: list[str]
    ran: list[str]


def install_systemd(
    units: SystemdUnits,
    unit_dir: Path,
    *,
    enable: bool = False,
    systemctl: str | None = None,
    run: Runner = subprocess.run,
) -> InstallOutcome:
    """Write the two units into ``unit_dir`` (normally ``~/.config/systemd/user``).

    With ``enable`` and a ``systemctl`` executable, also reload and enable the
    timer; otherwise the commands are returned as next steps.
    """
    unit_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, content in ((units.service_file, units.service), (units.timer_file, units.timer)):
        target = unit_dir / filename
        target.write_text(content, encoding="utf-8")
        written.append(target)
    commands = [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", units.timer_file],
    ]
    steps = [" && ".join(shlex.join(c) for c in commands)]
    ran: list[str] = []
    if enable and systemctl:
        for cmd in commands:
            argv = [systemctl, *cmd[1:]]
            proc = run(argv, capture_output=True, text=True, timeout=60, check=False)
            ran.append(shlex.join(argv))
            if proc.returncode != 0:
                raise ScheduleError(
                    T(
                        f"{shlex.join(argv)} 失败（退出码 {proc.returncode}）：{proc.stderr.strip()}；"
                        "单元文件已写入，请手动运行上面的命令。",
                        f"{shlex.join(argv)} failed (exit {proc.returncode}): {proc.stderr.strip()};"
                        " the unit files are written, run the commands by hand.",
                    )
                )
        steps = []
    return InstallOutcome(written=written, next_steps=steps, ran=ran)


def read_crontab(crontab: str, *, run: Runner = subprocess.run) -> str:
    """The current user's crontab (empty when there is none yet)."""
    try:
        proc = run([crontab, "-l"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ScheduleError(
            T(
                f"无法运行 {crontab}（{type(exc).__name__}）：请安装 cron（如 apt-get install cron），"
                "或改用 --systemd。",
                f"Cannot run {crontab} ({type(exc).__name__}): install cron (e.g. apt-get install"
                " cron) or use --systemd.",
            )
        ) from None
    if proc.returncode == 0:
        return proc.stdout
    if "no crontab" in (proc.stderr or "").lower():
        return ""
    raise ScheduleError(
        T(
            f"无法读取 crontab（{crontab} -l 退出码 {proc.returncode}）：{proc.stderr.strip()}",
            f"Cannot read the crontab ({crontab} -l exited {proc.returncode}): {proc.stderr.strip()}",
        )
    )


def install_cron(
    line: str, name: str, *, crontab: str = "crontab", run: Runner = subprocess.run
) -> InstallOutcome:
    """Add or replace fleetcheck's line (by its marker) in the user's crontab via ``crontab -l`` / ``crontab -``."""
    current = read_crontab(crontab, run=run)
    updated = merge_crontab(current, line, name)
    try:
        proc = run([crontab, "-"], input=updated, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ScheduleError(
            T(f"无法运行 {crontab} -（{type(exc).__name__}）。", f"Cannot run {crontab} - ({type(exc).__name__}).")
        ) from None
    if proc.returncode != 0:
        raise ScheduleError(
            T(
                f"写入 crontab 失败（{crontab} - 退出码 {proc.returncode}）：{proc.stderr.strip()}；"
                "原 crontab 未改动。",
                f"Writing the crontab failed ({crontab} - exited {proc.returncode}):"
                f" {proc.stderr.strip()}; the previous crontab is unchanged.",
            )
        )
    return InstallOutcome(written=[], next_steps=[], ran=[f"{crontab} -"])


def find_flock() -> str:
    """Absolute path of ``flock`` (util-linux), or the usual location when not found here."""
    return shutil.which("flock") or "/usr/bin/flock"


def systemd_user_dir() -> Path:
    """``$XDG_CONFIG_HOME/systemd/user`` (``~/.config/systemd/user``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"

