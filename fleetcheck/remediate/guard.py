"""The change guard: never touch a trading PC during exchange hours or while it trades.

Public API (small on purpose; ``fleetcheck fix`` and ``fleetcheck renew`` share it)::

    calendar = TradingCalendar.load(Path("calendar.yaml"))   # or TradingCalendar()
    guard = Guard(calendar, trading_processes=DEFAULT_TRADING_PROCESSES, clock=utc_now)
    decision = guard.check(facts)          # facts: the host's fresh ProbeResponse (or None)
    if not decision.allowed and not force: refuse(decision.reasons)

* :class:`TradingCalendar` — exchange sessions in Asia/Shanghai: 09:15–11:30 and
  13:00–15:00 on trading days: Monday–Friday minus the exchanges' known closures
  (:mod:`fleetcheck.exchangecalendar`, SSE/SZSE 2016–2026) and the file's
  ``holidays``. Weekends are never sessions — a holiday's make-up working day
  (调休上班) is a Saturday or Sunday the exchanges stay closed. ``extra_trading_days``
  forces a day open (should the exchanges announce an unexpected session);
  ``builtin_holidays: false`` drops the shipped closures. A year the table does not
  cover gets :meth:`TradingCalendar.coverage_warning`. Boundaries: a session is
  ``[start, end)``, so 11:30 and 15:00 are outside, 09:15 inside.
* :class:`Guard` — ``check(facts)`` is pure given its injected ``clock``: the
  time rule plus the running processes reported by the agent (names compared
  case-insensitively, ``.exe`` optional). A host whose facts carry no process
  list (the WMI section failed) is refused: "unknown" is not "not trading".
* :class:`GuardDecision` — ``allowed`` and bilingual ``reasons`` (why refused,
  or what was overridden when ``forced``). ``decision.override()`` gives the
  forced decision to record in the audit log (``forced=True``).

Calendar YAML::

    timezone: Asia/Shanghai          # optional, this is the default
    sessions: [["09:15", "11:30"], ["13:00", "15:00"]]   # optional, the default
    holidays: [2027-01-01]            # closures beyond the shipped table (e.g. next year's)
    extra_trading_days: []            # days the exchanges open although the table says closed
    builtin_holidays: true            # optional, the default: use the shipped SSE/SZSE closures

Default trading-client process names (:data:`DEFAULT_TRADING_PROCESSES`) are
the common Chinese brokerage terminals (通达信 TdxW, 同花顺 xiadan/hexin, 大智慧,
恒生/金证 counters' clients, 东方财富); override per site with ``--trading-process``
or the policy option; see README "Fixing hosts / 修复".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fleetcheck import exchangecalendar
from fleetcheck.agent.contract import ProbeResponse
from fleetcheck.i18n import T, Text
from fleetcheck.officetime import Clock, office_minute, utc_now
from fleetcheck.yamlfile import Issue, RawIssue, UserFileError, read_document, to_plain, unknown_key

__all__ = [
    "DEFAULT_SESSIONS",
    "DEFAULT_TRADING_PROCESSES",
    "CalendarError",
    "Guard",
    "GuardDecision",
    "TradingCalendar",
    "calendar_problems",
]

DEFAULT_SESSIONS: tuple[tuple[time, time], ...] = ((time(9, 15), time(11, 30)), (time(13, 0), time(15, 0)))

#: Trading clients whose running means "someone is trading on this PC right now".
DEFAULT_TRADING_PROCESSES: tuple[str, ...] = (
    "TdxW.exe",  # 通达信
    "xiadan.exe",  # 同花顺 下单
    "hexin.exe",  # 同花顺
    "dzh2.exe",  # 大智慧
    "HsTrader.exe",  # 恒生
    "hundsun.exe",
    "KingdomTrade.exe",  # 金证
    "mainfree.exe",  # 东方财富
    "QMT.exe",
    "XtItClient.exe",  # 迅投 QMT
)


class CalendarError(UserFileError):
    """A trading calendar file that cannot be used: every problem at ``file:line:col``."""


def _norm_process(name: str) -> str:
    low = name.strip().lower()
    return low.removesuffix(".exe")


@dataclass(frozen=True)
class TradingCalendar:
    """Exchange trading sessions. Pure data; ``in_session(when)`` does the arithmetic.

    >>> cal = TradingCalendar()
    >>> cal.in_session(datetime(2026, 3, 4, 2, 0, tzinfo=timezone.utc))   # Wed 10:00 Shanghai
    True
    >>> cal.in_session(datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc))   # Wed 16:00 Shanghai
    False
    """

    tz: str = "Asia/Shanghai"
    sessions: tuple[tuple[time, time], ...] = DEFAULT_SESSIONS
    holidays: frozenset[date] = frozenset()
    extra_trading_days: frozenset[date] = frozenset()
    builtin_holidays: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def local(self, when: datetime) -> datetime:
        """``when`` in the exchange's time zone (a naive datetime is taken as UTC)."""
        aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
        return aware.astimezone(self.zone)

    def is_trading_day(self, day: date) -> bool:
        """A weekday the exchanges open (make-up working days fall on weekends: closed).

        >>> cal = TradingCalendar()
        >>> cal.is_trading_day(date(2026, 10, 1)), cal.is_trading_day(date(2026, 9, 30))
        (False, True)
        >>> cal.is_trading_day(date(2026, 10, 10))  # Saturday, a make-up working day
        False
        """
        if day in self.extra_trading_days:
            return True
        if day.weekday() >= 5 or day in self.holidays:
            return False
        return not (self.builtin_holidays and day in exchangecalendar.CLOSED_WEEKDAYS.get(day.year, ()))

    def coverage_warning(self, when: datetime) -> Text | None:
        """A warning when the closures of ``when``'s year are known neither here nor in the file."""
        year = self.local(when).year
        if not self.builtin_holidays or any(day.year == year for day in self.holidays):
            return None  # the admin keeps the calendar (or listed that year's closures)
        return exchangecalendar.coverage_warning(year)

    def session_at(self, when: datetime) -> tuple[time, time] | None:
        """The session ``when`` falls in, or None (weekend, holiday, outside hours)."""
        local = self.local(when)
        if not self.is_trading_day(local.date()):
            return None
        now = local.time().replace(tzinfo=None)
        for start, end in self.sessions:
            if start <= now < end:
                return (start, end)
        return None

    def in_session(self, when: datetime) -> bool:
        return self.session_at(when) is not None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: Path) -> TradingCalendar:
        """Read a calendar YAML file (see the module docstring); every problem is ``file:line:col``."""
        doc = read_document(path)  # the one loader: bounded, positioned, secrets never quoted
        doc.fail((), CalendarError)  # syntax errors, duplicate keys
        data = {} if doc.data is None else doc.data
        doc.fail(calendar_problems(data), CalendarError)
        return cls._build(to_plain(data))

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<calendar>") -> TradingCalendar:
        """Build from a parsed mapping (``timezone``, ``sessions``, ``holidays``, ``extra_trading_days``)."""
        problems = list(calendar_problems(data))
        if problems:
            raise CalendarError([Issue(source, None, None, p.message) for p in problems])
        return cls._build(data)

    @classmethod
    def _build(cls, data: Mapping[str, Any]) -> TradingCalendar:
        """The calendar of data :func:`calendar_problems` found nothing wrong with."""
        sessions = DEFAULT_SESSIONS
        if "sessions" in data:
            pairs = ((_clock_time(a), _clock_time(b)) for a, b in data["sessions"])
            sessions = tuple((a, b) for a, b in pairs if a is not None and b is not None)
        return cls(
            tz=str(data.get("timezone", "Asia/Shanghai")),
            sessions=sessions,
            holidays=_days(data.get("holidays")),
            extra_trading_days=_days(data.get("extra_trading_days")),
            builtin_holidays=data.get("builtin_holidays", True) is not False,
        )


_CALENDAR_KEYS = ("timezone", "sessions", "holidays", "extra_trading_days", "builtin_holidays")


def calendar_problems(data: Any) -> Iterator[RawIssue]:
    """Every problem of a calendar mapping, each at its place in the data (all at once)."""
    if not isinstance(data, Mapping):
        yield RawIssue((), T("交易日历必须是映射（timezone: …）", "the trading calendar must be a mapping (timezone: …)"))
        return
    for key in data:
        if key not in _CALENDAR_KEYS:
            yield RawIssue((key,) if isinstance(key, (str, int)) else (), unknown_key(str(key), _CALENDAR_KEYS), key=True)
    if "timezone" in data and not _known_zone(data["timezone"]):
        tz = str(data["timezone"])
        shown = tz if len(tz) <= 60 else tz[:59] + "…"
        yield RawIssue(("timezone",), T(f"未知时区 '{shown}'（例如 Asia/Shanghai）", f"unknown time zone '{shown}' (e.g. Asia/Shanghai)"))
    if "sessions" in data:
        yield from _session_problems(data["sessions"])
    if "builtin_holidays" in data and not isinstance(data["builtin_holidays"], bool):
        yield RawIssue(("builtin_holidays",), T("builtin_holidays 应为 true 或 false",
                                                "builtin_holidays must be true or false"))
    for key in ("holidays", "extra_trading_days"):
        yield from _day_problems(data.get(key), key)


def _known_zone(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        return False
    return True


def _not_a_list(value: Any, key: str) -> RawIssue | None:
    if isinstance(value, (list, tuple)):
        return None
    return RawIssue((key,), T(f"{key} 应为列表", f"{key} must be a list"))


def _session_problems(sessions: Any) -> Iterator[RawIssue]:
    bad = _not_a_list(sessions, "sessions")
    if bad is not None:
        yield bad
        return
    for index, item in enumerate(sessions):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            yield RawIssue(("sessions", index), T(
                '交易时段应写成 ["09:15", "11:30"]', 'a session is written ["09:15", "11:30"]'
            ))
            continue
        times = [_clock_time(value) for value in item]
        for part, (value, parsed) in enumerate(zip(item, times, strict=True)):
            if parsed is None:
                text = str(value).strip()
                yield RawIssue(("sessions", index, part), T(
                    f"时间 '{text}' 应写成 HH:MM", f"time '{text}' must be HH:MM"
                ))
        start, end = times
        if start is not None and end is not None and not start < end:
            yield RawIssue(("sessions", index), T(
                f"时段 {start:%H:%M}–{end:%H:%M} 的开始晚于结束", f"session {start:%H:%M}-{end:%H:%M} starts after it ends"
            ))


def _day_problems(days: Any, key: str) -> Iterator[RawIssue]:
    if days is None:
        return
    bad = _not_a_list(days, key)
    if bad is not None:
        yield bad
        return
    for index, value in enumerate(days):
        if _day(value) is None:
            yield RawIssue((key, index), T(
                f"{key} 中的日期 '{value}' 应写成 YYYY-MM-DD", f"date '{value}' in {key} must be YYYY-MM-DD"
            ))


def _clock_time(value: Any) -> time | None:
    """``HH:MM`` as a time, None when it is not one."""
    text = str(value).strip()
    hours, sep, minutes = text.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(text) > 5:
        return None
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        return None


def _days(values: Any) -> frozenset[date]:
    return frozenset(d for d in map(_day, values or ()) if d is not None)


def _day(value: Any) -> date | None:
    """A date (``YYYY-MM-DD`` or a YAML date), None when it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class GuardDecision:
    """Whether a change may go ahead now, and why (bilingual reasons).

    ``forced`` is True once :meth:`override` was applied: ``allowed`` then is
    True and ``reasons`` still say what the guard would have refused, so the
    audit log records what was overridden.
    """

    allowed: bool
    reasons: list[Text] = field(default_factory=list)
    forced: bool = False
    checked_at: datetime | None = None

    def override(self) -> GuardDecision:
        """The decision after ``--force`` (a no-op when already allowed)."""
        if self.allowed:
            return self
        return replace(self, allowed=True, forced=True)

    def summary(self) -> Text:
        if not self.reasons:
            return T("允许", "allowed")
        return T("；".join(r.zh for r in self.reasons), "; ".join(r.en for r in self.reasons))


class Guard:
    """Refuses changes during trading sessions or while a trading client runs.

    >>> g = Guard(TradingCalendar(), clock=lambda: datetime(2026, 3, 4, 2, 0, tzinfo=timezone.utc))
    >>> g.check(None).allowed
    False
    """

    def __init__(
        self,
        calendar: TradingCalendar | None = None,
        trading_processes: Iterable[str] = DEFAULT_TRADING_PROCESSES,
        clock: Clock = utc_now,
    ) -> None:
        self.calendar = calendar or TradingCalendar()
        self.trading_processes: tuple[str, ...] = tuple(trading_processes)
        self._wanted = {_norm_process(p): p for p in self.trading_processes if p.strip()}
        self.clock = clock

    def time_reasons(self, now: datetime) -> list[Text]:
        session = self.calendar.session_at(now)
        if session is None:
            return []
        local = office_minute(now, self.calendar.zone)  # 2026-03-04 10:00 Asia/Shanghai: the zone after the time
        span = f"{session[0]:%H:%M}–{session[1]:%H:%M}"
        return [T(f"交易时段内（{local}，时段 {span}）不允许变更",
                  f"inside a trading session ({local}, session {span}): no changes")]

    def process_reasons(self, facts: ProbeResponse | None) -> list[Text]:
        if facts is None:
            return [T("没有该主机的最新进程列表，无法确认交易软件未运行",
                      "no fresh process list for this host: cannot tell that no trading client runs")]
        if not facts.processes and any("process" in e.lower() for e in facts.errors):
            return [T("主机未能列出进程，无法确认交易软件未运行",
                      "the host could not list its processes: cannot tell that no trading client runs")]
        running = sorted({p.name for p in facts.processes if _norm_process(p.name) in self._wanted})
        if not running:
            return []
        names = ", ".join(running)
        return [T(f"交易软件正在运行：{names}", f"a trading client is running: {names}")]

    def check(self, facts: ProbeResponse | None) -> GuardDecision:
        """Decide for one host from its fresh facts (its process list) and the clock."""
        now = self.clock()
        reasons = self.time_reasons(now) + self.process_reasons(facts)
        return GuardDecision(allowed=not reasons, reasons=reasons, checked_at=now)
