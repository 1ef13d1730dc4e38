"""Office time: the exchange's and the admins' clock is Asia/Shanghai.

Instants are stored and exchanged as UTC ISO 8601; what a person reads, and
which calendar day a waiver, a certificate's expiry or the trading calendar
means, is office time. Pure: callers pass the instant. The one exception is
:func:`utc_now`, the real clock every :data:`Clock` parameter defaults to
(tests inject another).

The convention every output keeps (README "Time / 时间"):

* a time a person reads is office time to the minute with the zone's IANA name
  after it: ``2026-12-12 04:00 Asia/Shanghai`` (:func:`office_minute`,
  :func:`office_stamp`);
* a calendar date (certificate expiry, trend label) is the office date
  ``2026-12-12`` (:func:`office_day`), and the column or line it stands in
  names the zone (:func:`zoned_label`);
* machine-readable times (JSON, CSV) are ISO 8601 with their offset
  (JSON: UTC ``+00:00``, :func:`fleetcheck.jsonout.iso_utc`; CSV: the office
  offset ``2026-12-12T04:00:00+08:00``, :func:`office_iso`).

Every function takes the zone as ``zone`` (default :data:`OFFICE_TZ`), so an
office in another zone is one argument away.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from fleetcheck.i18n import Text

__all__ = [
    "OFFICE_TZ",
    "TEMPLATE_FILTERS",
    "Clock",
    "office_date",
    "office_day",
    "office_iso",
    "office_minute",
    "office_stamp",
    "office_time",
    "utc_now",
    "zoned_label",
]

OFFICE_TZ = ZoneInfo("Asia/Shanghai")

#: A source of the current instant (aware, UTC): the sweep's, the guard's, the applier's clock.
Clock = Callable[[], datetime]

Instant = datetime | str | None


def utc_now() -> datetime:
    """The real clock: now, aware, in UTC."""
    return datetime.now(timezone.utc)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _instant(value: Instant) -> datetime | None:
    """A datetime, or an ISO 8601 string (``Z`` allowed); naive means UTC; None when not an instant."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _aware(value)
    try:
        return _aware(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def office_date(now: datetime, zone: ZoneInfo = OFFICE_TZ) -> date:
    """The calendar date in the office at ``now``; naive means UTC."""
    return _aware(now).astimezone(zone).date()


def office_minute(when: datetime, zone: ZoneInfo = OFFICE_TZ) -> str:
    """An instant as the office reads it, zone named: ``2026-11-25 22:56 Asia/Shanghai``; naive means UTC.

    >>> office_minute(datetime(2026, 11, 25, 14, 56, tzinfo=timezone.utc))
    '2026-11-25 22:56 Asia/Shanghai'
    """
    return f"{_aware(when).astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def office_stamp(value: Instant, zone: ZoneInfo = OFFICE_TZ) -> str:
    """:func:`office_minute` of a datetime or an ISO 8601 string; ``""`` for none, other text unchanged.

    >>> office_stamp("2026-12-11T20:00:00+00:00")
    '2026-12-12 04:00 Asia/Shanghai'
    """
    when = _instant(value)
    if when is None:
        return "" if value is None else str(value)
    return office_minute(when, zone)


def office_day(value: Instant, zone: ZoneInfo = OFFICE_TZ) -> str:
    """The office date (``YYYY-MM-DD``) of an instant; ``""`` for none, other text unchanged.

    A certificate whose NotAfter is 2026-12-11T20:00Z expires on the office's 12th:

    >>> office_day("2026-12-11T20:00:00+00:00")
    '2026-12-12'
    """
    when = _instant(value)
    if when is None:
        return "" if value is None else str(value)
    return when.astimezone(zone).date().isoformat()


def office_iso(value: Instant, zone: ZoneInfo = OFFICE_TZ) -> str:
    """ISO 8601 in office time with its offset, to the second; ``""`` for none, other text unchanged.

    >>> office_iso("2026-12-11T20:00:00.5+00:00")
    '2026-12-12T04:00:00+08:00'
    """
    when = _instant(value)
    if when is None:
        return "" if value is None else str(value)
    return when.astimezone(zone).isoformat(timespec="seconds")


def office_time(iso: str | None, zone: ZoneInfo = OFFICE_TZ) -> str:
    """ISO 8601 instant → ``2026-11-25 22:56:27`` in office time (no zone: the caller names it).

    >>> office_time("2026-11-25T14:56:27.003082+00:00")
    '2026-11-25 22:56:27'
    """
    when = _instant(iso)
    if when is None:
        return iso or ""
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def zoned_label(label: Text, zone: ZoneInfo = OFFICE_TZ) -> Text:
    """A column or line label that names the zone its dates are in: ``到期日（Asia/Shanghai）`` / ``Expires (Asia/Shanghai)``."""
    return Text(zh=f"{label.zh}（{zone.key}）", en=f"{label.en} ({zone.key})")


#: The filters every template environment installs (report and dashboard share partials).
TEMPLATE_FILTERS: dict[str, Callable[..., str]] = {
    "office_time": office_time,
    "office_stamp": office_stamp,
    "office_day": office_day,
    "office_iso": office_iso,
}
