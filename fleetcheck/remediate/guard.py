"""The change guard: never touch a trading PC during exchange hours or while it trades.

Public API (small on purpose; ``fleetcheck fix`` and ``fleetcheck renew`` share it)::

    calendar = TradingCalendar.load(Path("calendar.yaml"))   # or TradingCalendar()
    guard = Guard(calendar, trading_processes=DEFAULT_TRADING_PROCESSES, clock=utc_now)
    decision = guard.check(facts)          # facts: the host's fresh ProbeResponse (or None)
    if not decision.allowed and not force: refuse(decision.reasons)

* :class:`TradingCalendar` — exchange sessions in Asia/Shanghai: 09:15–11:30 and
  13:00–15:00 on trading days (Monday–Friday minus configured holidays; extra
  working days can be added for the rare weekend make-up session). Boundaries:
  a session is ``[start, end)``, so 11:30 and 15:00 are outside, 09:15 inside.
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
    holidays: [2026-01-01, 2026-02-16, 2026-02-17]        # exchange closed
    extra_trading_days: []                                # weekend make-up sessions

Default trading-client process names (:data:`DEFAULT_TRADING_PROCESSES`) are
the common Chinese brokerage terminals (通达信 TdxW, 同花顺 xiadan/hexin, 大智慧,
恒生/金证 counters' clients, 东方财富); override per site with ``--trading-process``
or the policy option; see README "Fixing hosts / 修复".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fleetcheck.agent.contract import ProbeResponse
from fleetcheck.i18n import T, Text

__all__ = [
    "DEFAULT_SESSIONS",
    "DEFAULT_TRADING_PROCESSES",
    "CalendarError",
    "Guard",
    "GuardDecision",
    "TradingCalendar",
]

Clock = Callable[[], datetime]

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


class CalendarError(ValueError):
    """A calendar file that cannot be used; ``text`` names the file and what to fix."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


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

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def local(self, when: datetime) -> datetime:
        """``when`` in the exchange's time zone (a naive datetime is taken as UTC)."""
        aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
        return aware.astimezone(self.zone)

    def is_trading_day(self, day: date) -> bool:
        if day in self.extra_trading_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

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
        """Read a calendar YAML file (see the module docstring); errors name the file."""
        from fleetcheck.yamlfile import PolicyError, read_data

        try:  # the bounded loader: every problem is file:line:col
            data = read_data(path)
        except PolicyError as exc:
            raise CalendarError(T(exc.format("zh"), exc.format("en"))) from None
        return cls.from_mapping(data or {}, str(path))

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<calendar>") -> TradingCalendar:
        """Build from a parsed mapping (``timezone``, ``sessions``, ``holidays``, ``extra_trading_days``)."""
        if not isinstance(data, dict):
            raise CalendarError(T(f"{source}：交易日历必须是映射", f"{source}: the trading calendar must be a mapping"))
        unknown = sorted(str(k) for k in set(data) - {"timezone", "sessions", "holidays", "extra_trading_days"})
        if unknown:
            raise CalendarError(T(f"{source}：未知的键 {', '.join(unknown)}", f"{source}: unknown keys {', '.join(unknown)}"))
        tz = str(data.get("timezone", "Asia/Shanghai"))
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
            shown = tz if len(tz) <= 60 else tz[:59] + "…"
            raise CalendarError(T(f"{source}：未知时区 {shown}", f"{source}: unknown time zone {shown}")) from None
        sessions = DEFAULT_SESSIONS
        if "sessions" in data:
            sessions = tuple(_session(item, source) for item in _listed(data["sessions"], source, "sessions"))
        return cls(
            tz=tz,
            sessions=sessions,
            holidays=frozenset(_day(d, source, "holidays") for d in _listed(data.get("holidays"), source, "holidays")),
            extra_trading_days=frozenset(
                _day(d, source, "extra_trading_days")
                for d in _listed(data.get("extra_trading_days"), source, "extra_trading_days")
            ),
        )


def _listed(value: Any, source: str, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CalendarError(T(f"{source}：{key} 应为列表", f"{source}: {key} must be a list"))
    return value


def _clock_time(value: Any, source: str) -> time:
    text = str(value).strip()
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise CalendarError(T(f"{source}：时间 {text!r} 应写成 HH:MM", f"{source}: time {text!r} must be HH:MM")) from None


def _session(item: Any, source: str) -> tuple[time, time]:
    if not isinstance(item, (list, tuple)) or len(item) != 2:
        raise CalendarError(T(f"{source}：交易时段应写成 [\"09:15\", \"11:30\"]", f"{source}: a session is written [\"09:15\", \"11:30\"]"))
    start, end = _clock_time(item[0], source), _clock_time(item[1], source)
    if not start < end:
        raise CalendarError(T(f"{source}：时段 {start}–{end} 的开始晚于结束", f"{source}: session {start}-{end} starts after it ends"))
    return start, end


def _day(value: Any, source: str, key: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise CalendarError(T(f"{source}：{key} 中的日期 {value!r} 应写成 YYYY-MM-DD", f"{source}: date {value!r} in {key} must be YYYY-MM-DD")) from None


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


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


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
        clock: Clock = _utc_now,
    ) -> None:
        self.calendar = calendar or TradingCalendar()
        self.trading_processes: tuple[str, ...] = tuple(trading_processes)
        self._wanted = {_norm_process(p): p for p in self.trading_processes if p.strip()}
        self.clock = clock

    def time_reasons(self, now: datetime) -> list[Text]:
        session = self.calendar.session_at(now)
        if session is None:
            return []
        local = self.calendar.local(now).strftime("%Y-%m-%d %H:%M")
        span = f"{session[0]:%H:%M}–{session[1]:%H:%M}"
        return [T(f"交易时段内（{self.calendar.tz} {local}，时段 {span}）不允许变更",
                  f"inside a trading session ({self.calendar.tz} {local}, session {span}): no changes")]

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
