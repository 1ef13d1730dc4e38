"""Run history and change records: every sweep, fix and renewal recorded in a SQL database.

SQLAlchemy Core, SQLite by default (one file at ``$XDG_DATA_HOME/fleetcheck/fleetcheck.db``),
PostgreSQL with ``--db postgresql+psycopg://…`` / ``FLEETCHECK_DB``; only
portable constructs are used. All of fleetcheck's SQL lives in this package
(a test keeps SQLAlchemy out of every other module). This ``__init__`` only
re-exports; the modules are:

* :mod:`~fleetcheck.store.engine` — URLs, opening, damaged files;
* :mod:`~fleetcheck.store.database` — :class:`Store`, the handle, with the run-history API;
* :mod:`~fleetcheck.store.runs` — the run tables' SQL;
* :mod:`~fleetcheck.store.office` — the office as it stands (each host's latest observation);
* :mod:`~fleetcheck.store.marker` — :class:`ChangeMarker`, "has anything been written?";
* :mod:`~fleetcheck.store.audit` — the hash-chained audit log and the change records;
* :mod:`~fleetcheck.store.renewals` — renewal records;
* :mod:`~fleetcheck.store.schema`, ``audit_schema``, ``renewal_schema``, :mod:`~fleetcheck.store.migrations`.

Example::

    with Store.open("sqlite:///history.db") as store:
        run_id = store.record_run(run, certificates=run_certificates(run))  # fleetcheck.readiness
        again = store.load_run("latest")
"""

from __future__ import annotations

from fleetcheck.store import migrations, schema
from fleetcheck.store.database import Store
from fleetcheck.store.engine import database_exists, default_db_url, resolve_db_url, safe_url
from fleetcheck.store.errors import RunNotFound, SchemaError, StoreError
from fleetcheck.store.marker import ChangeMarker
from fleetcheck.store.office import Observation, OfficeState, OfficeTrendPoint
from fleetcheck.store.runs import CERTIFICATE_FIELDS, CertificateRecord, RunSummary

__all__ = [
    "CERTIFICATE_FIELDS",
    "CertificateRecord",
    "ChangeMarker",
    "Observation",
    "OfficeState",
    "OfficeTrendPoint",
    "RunNotFound",
    "RunSummary",
    "SchemaError",
    "Store",
    "StoreError",
    "database_exists",
    "default_db_url",
    "migrations",
    "resolve_db_url",
    "safe_url",
    "schema",
]
