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

Every function takes the zone as ``zone`` (default: :func:`office_zone`, the
office's zone: Asia/Shanghai unless the environment says otherwise). An office
in another zone sets it once per process: ``FLEETCHECK_OFFICE_TZ=Asia/Hong_Kong``,
the global ``fleetcheck --office-tz ZONE``, or ``office_timezone`` in the
inventory's ``all`` variables (:func:`set_office_zone`). One zone per process:
a controller serving branches in several zones shows them all in one (README
"Time / 时间").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from fleetcheck.i18n import Text

__all__ = [
    "OFFICE_TZ",
    "TEMPLATE_FILTERS",
    "ZONE_ENV",
    "Clock",
    "OfficeZoneError",
    "office_date",
    "office_day",
    "office_iso",
    "office_minute",
    "office_stamp",
    "office_time",
    "office_zone",
    "set_office_zone",
    "utc_now",
    "zoned_label",
]

OFFICE_TZ = ZoneInfo("Asia/Shanghai")  # the default office zone (the exchanges')
ZONE_ENV = "FLEETCHECK_OFFICE_TZ"


class OfficeZoneError(ValueError):
    """A zone name that is not an IANA time zone (``str()`` says which). Internal: callers that take
    the name from a user turn it into their own positioned or usage error."""


def _zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise OfficeZoneError(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai)") from exc


_zone: list[ZoneInfo] = []  # set_office_zone's choice; empty: the environment's, else OFFICE_TZ


def office_zone() -> ZoneInfo:
    """The office's zone: the one set with :func:`set_office_zone`, else ``$FLEETCHECK_OFFICE_TZ``,
    else Asia/Shanghai. A bad environment value is an :class:`OfficeZoneError`."""
    if _zone:
        return _zone[0]
    named = os.environ.get(ZONE_ENV, "").strip()
    return _zone_named(named) if named else OFFICE_TZ


def set_office_zone(name: str | None) -> ZoneInfo:
    """Make ``name`` (an IANA zone) the office zone of this process; None: back to the default."""
    _zone.clear()
    if name is None:
        return office_zone()
    zone = _zone_named(name)
    _zone.append(zone)
    return zone

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


def office_date(now: datetime, zone: ZoneInfo | None = None) -> date:
    """The calendar date in the office at ``now``; naive means UTC."""
    return _aware(now).astimezone(zone or office_zone()).date()


def office_minute(when: datetime, zone: ZoneInfo | None = None) -> str:
    """An instant as the office reads it, zone named: ``2026-11-25 22:56 Asia/Shanghai``; naive means UTC.

    >>> office_minute(datetime(2026, 11, 25, 14, 56, tzinfo=timezone.utc))
    '2026-11-25 22:56 Asia/Shanghai'
    """
    zone = zone or office_zone()
    return f"{_aware(when).astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def office_stamp(value: Instant, zone: ZoneInfo | None = None) -> str:
    """:func:`office_minute` of a datetime or an ISO 8601 string; ``""`` for none, other text unchanged.

    >>> office_stamp("2026-12-11T20:00:00+00:00")
    '2026-12-12 04:00 Asia/Shanghai'
    """
    when = _instant(value)
    if when is None:
        return "" if value is None else str(value)
    return office_minute(when, zone)


def office_day(value: Instant, zone: ZoneInfo | None = None) -> str:
    """The office date (``YYYY-MM-DD``) of an instant; ``""`` for none, other text unchanged.

    A certificate whose NotAfter is 2026-12-11T20:00Z expires on the office's 12th:

    >>> office_day("2026-12-11T20:00:00+00:00")
    '2026-12-12'
    """
    when = _instant(value)
    if when is None:
        return "" if value is None else str(value)
    return when.astimezone(zone or office_zone()).date().isoformat()


def office_iso(value: Instant, zone: ZoneInfo | None = None) -> str:
    """ISO 8601 in office time with its offset, to the second; ``""`` for none, other text unchanged.

    >>> office_iso("2026-12-11T20:00:00.5+00:00")
    '2026-12-12T04:00:00+08:00'
    """
    when = _instant(value)
    if when is None:
        return "" if value is None else str(value)
    return when.astimezone(zone or office_zone()).isoformat(timespec="seconds")


def office_time(iso: str | None, zone: ZoneInfo | None = None) -> str:
    """ISO 8601 instant → ``2026-11-25 22:56:27`` in office time (no zone: the caller names it).

    >>> office_time("2026-11-25T14:56:27.003082+00:00")
    '2026-11-25 22:56:27'
    """
    when = _instant(iso)
    if when is None:
        return iso or ""
    return when.astimezone(zone or office_zone()).strftime("%Y-%m-%d %H:%M:%S")


def zoned_label(label: Text, zone: ZoneInfo | None = None) -> Text:
    """A column or line label that names the zone its dates are in: ``到期日（Asia/Shanghai）`` / ``Expires (Asia/Shanghai)``."""
    key = (zone or office_zone()).key
    return Text(zh=f"{label.zh}（{key}）", en=f"{label.en} ({key})")


#: The filters every template environment installs (report and dashboard share partials).
TEMPLATE_FILTERS: dict[str, Callable[..., str]] = {
    "office_time": office_time,
    "office_stamp": office_stamp,
    "office_day": office_day,
    "office_iso": office_iso,
}
