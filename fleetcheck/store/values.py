"""Value conversions between the domain and the database columns (portable across SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fleetcheck.i18n import Text

__all__ = ["from_db", "iso_utc", "text_or_none", "to_db"]


def to_db(value: datetime | None) -> datetime | None:
    """Naive UTC for storage (portable: SQLite has no time zones)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def from_db(value: datetime | None) -> datetime | None:
    """A stored naive UTC datetime, aware again."""
    return None if value is None else value.replace(tzinfo=timezone.utc)


def iso_utc(when: datetime | None) -> str | None:
    """ISO 8601 in UTC for the string time columns (a naive value is taken as UTC)."""
    if when is None:
        return None
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat()


def text_or_none(value: Any) -> Text | None:
    """A stored ``{"zh", "en"}`` JSON object as :class:`Text`."""
    return None if value is None else Text.model_validate(value)
