"""The store's errors: every one a :class:`~fleetcheck.errors.FleetcheckError` (bilingual, exit code 2)."""

from __future__ import annotations

from fleetcheck.errors import FleetcheckError

__all__ = ["RunNotFound", "SchemaError", "StoreError"]


class StoreError(FleetcheckError):
    """A store problem a user can act on (a database that cannot be opened, a bad retention limit)."""


class RunNotFound(StoreError):
    """The requested run is not in the store."""


class SchemaError(StoreError):
    """The database is not a fleetcheck store, or newer than this fleetcheck."""
