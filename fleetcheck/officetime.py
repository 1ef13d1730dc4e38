"""Office time: the exchange's and the admins' clock is Asia/Shanghai.

Instants are stored and exchanged as UTC ISO 8601; what a person reads, and
which calendar day a waiver or the trading calendar means, is office time.
Pure: callers pass the instant. The one exception is :func:`utc_now`, the
real clock every :data:`Clock` parameter defaults to (tests inject another).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

__all__ = ["OFFICE_TZ", "Clock", "office_date", "office_time", "utc_now"]

OFFICE_TZ = ZoneInfo("Asia/Shanghai")

#: A source of the current instant (aware, UTC): the sweep's, the guard's, the applier's clock.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock: now, aware, in UTC."""
    return datetime.now(timezone.utc)


def office_date(now: datetime) -> date:
    """The calendar date in the office at ``now``; naive means UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(OFFICE_TZ).date()


def office_minute(when: datetime) -> str:
    """An instant as the office reads it, zone named: ``2026-11-25 22:56 Asia/Shanghai``; naive means UTC.

    >>> office_minute(datetime(2026, 11, 25, 14, 56, tzinfo=timezone.utc))
    '2026-11-25 22:56 Asia/Shanghai'
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return f"{when.astimezone(OFFICE_TZ):%Y-%m-%d %H:%M} {OFFICE_TZ.key}"


def office_time(iso: str | None) -> str:
    """ISO 8601 instant → ``2026-11-25 22:56:27`` in office time; other text unchanged.

    >>> office_time("2026-11-25T14:56:27.003082+00:00")
    '2026-11-25 22:56:27'
    """
    if not iso:
        return ""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(OFFICE_TZ).strftime("%Y-%m-%d %H:%M:%S")
