"""Office time: the exchange's and the admins' clock is Asia/Shanghai.

Instants are stored and exchanged as UTC ISO 8601; what a person reads, and
which calendar day a waiver or the trading calendar means, is office time.
Pure: callers pass the instant; nothing here reads the clock.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

OFFICE_TZ = ZoneInfo("Asia/Shanghai")


def office_date(now: datetime) -> date:
    """The calendar date in the office at ``now``; naive means UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(OFFICE_TZ).date()


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
