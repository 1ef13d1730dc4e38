"""The run history's SQL: recording a sweep and reading it back (tables of :mod:`fleetcheck.store.schema`).

Functions here take a SQLAlchemy ``Connection`` and are what
:class:`fleetcheck.store.Store` calls; nothing outside ``fleetcheck.store``
uses them directly. Recording the same ``run_id`` twice replaces the earlier
record. Raw probe facts are not stored, so loaded hosts have ``facts=None``.

The certificate rows of a run are given by the caller (the store does not
interpret findings' details): each a mapping with ``host`` and the keys of
:data:`CERTIFICATE_FIELDS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, get_args

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from fleetcheck.findings import (
    Finding,
    FindingStatus,
    HostResult,
    HostStatus,
    LocalCollection,
    RunResult,
    RunScope,
)
from fleetcheck.i18n import Text
from fleetcheck.store import schema
from fleetcheck.store.values import from_db, text_or_none, to_db

__all__ = [
    "CERTIFICATE_FIELDS",
    "CertificateRecord",
    "RunSummary",
    "certificate_records",
    "delete_runs",
    "host_error_rows",
    "insert_run",
    "load_run_hosts",
    "newest_run_id",
    "run_exists",
    "run_summaries",
    "run_summary",
]

#: What a caller may say about one certificate it saw (besides ``host``); all optional.
CERTIFICATE_FIELDS = ("thumbprint", "subject_cn", "issuer", "not_after", "days_left", "kind",
                      "has_private_key", "store", "user")


@dataclass(frozen=True)
class RunSummary:
    """One recorded run with its counts (what ``fleetcheck history`` lists)."""

    run_id: str
    started: datetime
    finished: datetime | None
    policies: list[str]
    inventory: str | None
    hosts_total: int
    hosts_probed: int
    hosts_compliant: int
    hosts_failed: int
    findings_fail: int
    findings_error: int
    scope: RunScope | None = None  # RunResult.scope (None: recorded before schema v6)
    hosts_planned: int | None = None
    interrupted: bool = False

    @property
    def partial(self) -> bool:
        """The run saw part of the office: a --limit or rescan subset, a fix's re-probe, or interrupted."""
        return self.interrupted or self.scope in {"limit", "rescan", "verify", "collect"}

    @property
    def compliance_pct(self) -> float | None:
        """Compliant hosts / probed hosts × 100; None when nothing was probed."""
        if self.hosts_probed == 0:
            return None
        return round(100.0 * self.hosts_compliant / self.hosts_probed, 1)


@dataclass(frozen=True)
class CertificateRecord:
    """A certificate seen on a host in a run."""

    run_id: str
    host: str
    subject_cn: str | None
    issuer: str | None
    not_after: datetime | None
    days_left: int | None
    thumbprint: str | None
    kind: str | None
    has_private_key: bool | None
    store: str | None
    user: str | None
    observed: datetime | None = None  # when the host was observed (its sweep's finish), UTC


# --------------------------------------------------------------------------- writing


def _counts(run: RunResult) -> dict[str, int]:
    probed = [h for h in run.hosts if h.status is HostStatus.ok]
    statuses = [f.status for h in probed for f in h.findings]
    return {
        "hosts_total": len(run.hosts),
        "hosts_probed": len(probed),
        "hosts_compliant": sum(1 for h in probed if h.compliant),
        "hosts_failed": len(run.hosts) - len(probed),
        "findings_fail": statuses.count(FindingStatus.fail),
        "findings_error": statuses.count(FindingStatus.error),
    }


def _host_row(run_id: str, position: int, h: HostResult) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "position": position,
        "host": h.host,
        "address": h.address,
        "status": h.status.value,
        "error_class": h.error_class,
        "error": h.error.model_dump() if h.error else None,
        "started": to_db(h.started),
        "finished": to_db(h.finished),
        "attempts": h.attempts,
        "operator": h.operator,
        "operator_sid": h.operator_sid,
        "groups": list(h.groups),
        "branch": h.branch,
        "local_collection": h.local_collection.model_dump(mode="json") if h.local_collection else None,
        "compliant": h.compliant,
    }


def _finding_row(run_id: str, host_id: int, position: int, f: Finding) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "host_id": host_id,
        "position": position,
        "policy_id": f.policy_id,
        "check_id": f.check_id,
        "check_type": f.check_type,
        "status": f.status.value,
        "severity": f.severity.value,
        "title": f.title.model_dump(),
        "expected": f.expected,
        "observed": f.observed,
        "source": f.source,
        "message": f.message.model_dump() if f.message else None,
        "remedy": f.remedy.model_dump() if f.remedy else None,
        "guide": f.guide,
        "fix": f.fix.value,
        "waiver": f.waiver,
        "details": f.details or None,
        "requirement": f.requirement,
    }


def _error_row(run_id: str, host_id: int, host: HostResult) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "host_id": host_id,
        "host": host.host,
        "status": host.status.value,
        "error_class": host.error_class,
        "message": host.error.model_dump() if host.error else None,
        "attempts": host.attempts,
    }


def _certificate_rows(run_id: str, host_ids: Mapping[str, int],
                      certificates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for cert in certificates:
        unknown = set(cert) - {"host", *CERTIFICATE_FIELDS}
        if unknown:
            raise ValueError(f"unknown certificate fields {sorted(unknown)}; known: host, {', '.join(CERTIFICATE_FIELDS)}")
        host = str(cert["host"])
        if host not in host_ids:
            raise ValueError(f"certificate of host {host!r}, which is not in run {run_id!r}")
        values = {name: cert.get(name) for name in CERTIFICATE_FIELDS}
        rows.append({"run_id": run_id, "host_id": host_ids[host], "host": host, **values,
                     "not_after": to_db(values["not_after"])})
    return rows


def insert_run(conn: Connection, run: RunResult, certificates: Sequence[Mapping[str, Any]] = ()) -> None:
    """Store one sweep (hosts, findings, the given certificates, host errors), replacing a same-id run."""
    delete_runs(conn, [run.run_id])
    conn.execute(schema.runs.insert().values(
        run_id=run.run_id,
        started=to_db(run.started),
        finished=to_db(run.finished),
        policies=list(run.policies),
        inventory=run.inventory,
        recorded=to_db(datetime.now(timezone.utc)),
        scope=run.scope,
        hosts_planned=run.hosts_planned,
        interrupted=run.interrupted,
        **_counts(run),
    ))
    if not run.hosts and not certificates:
        return
    ids: list[int] = []
    if run.hosts:
        ids = list(conn.execute(
            schema.hosts.insert().returning(schema.hosts.c.id, sort_by_parameter_order=True),
            [_host_row(run.run_id, i, h) for i, h in enumerate(run.hosts)],
        ).scalars().all())
    finding_rows: list[dict[str, Any]] = []
    error_rows: list[dict[str, Any]] = []
    host_ids: dict[str, int] = {}
    for host_id, host in zip(ids, run.hosts, strict=True):
        host_ids.setdefault(host.host, host_id)
        finding_rows.extend(_finding_row(run.run_id, host_id, pos, f) for pos, f in enumerate(host.findings))
        if host.status is not HostStatus.ok:
            error_rows.append(_error_row(run.run_id, host_id, host))
    cert_rows = _certificate_rows(run.run_id, host_ids, certificates)
    for table, rows in ((schema.findings, finding_rows), (schema.certificates, cert_rows),
                        (schema.host_errors, error_rows)):
        if rows:
            conn.execute(table.insert(), rows)


def delete_runs(conn: Connection, run_ids: Sequence[str]) -> None:
    """Delete runs and everything recorded with them."""
    if not run_ids:
        return
    # Children first; no reliance on ON DELETE CASCADE (off by default in SQLite).
    for table in schema.RUN_CHILDREN:
        conn.execute(table.delete().where(table.c.run_id.in_(run_ids)))
    conn.execute(schema.runs.delete().where(schema.runs.c.run_id.in_(run_ids)))


# --------------------------------------------------------------------------- reading


def _summary(r: Any) -> RunSummary:
    started = from_db(r.started)
    assert started is not None  # NOT NULL column
    return RunSummary(
        run_id=r.run_id,
        started=started,
        finished=from_db(r.finished),
        policies=list(r.policies or []),
        inventory=r.inventory,
        hosts_total=r.hosts_total,
        hosts_probed=r.hosts_probed,
        hosts_compliant=r.hosts_compliant,
        hosts_failed=r.hosts_failed,
        findings_fail=r.findings_fail,
        findings_error=r.findings_error,
        scope=r.scope if r.scope in get_args(RunScope) else None,
        hosts_planned=r.hosts_planned,
        interrupted=bool(r.interrupted),
    )


def _newest_first() -> tuple[Any, Any]:
    return schema.runs.c.started.desc(), schema.runs.c.run_id.desc()


def run_summaries(conn: Connection, limit: int | None = None) -> list[RunSummary]:
    """Recorded runs, newest first."""
    query = sa.select(schema.runs).order_by(*_newest_first())
    if limit is not None:
        query = query.limit(limit)
    return [_summary(r) for r in conn.execute(query)]


def newest_run_id(conn: Connection) -> str | None:
    """The newest run's id (by start time), None for an empty store."""
    found = conn.execute(sa.select(schema.runs.c.run_id).order_by(*_newest_first()).limit(1)).scalar()
    return None if found is None else str(found)


def run_exists(conn: Connection, run_id: str) -> bool:
    return conn.execute(
        sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)
    ).scalar() is not None


def run_summary(conn: Connection, run_id: str) -> RunSummary:
    """The summary of an existing run (the caller resolved the id)."""
    return _summary(conn.execute(sa.select(schema.runs).where(schema.runs.c.run_id == run_id)).one())


class _Decoder:
    """JSON columns of one load, decoded once per distinct text.

    A run repeats the same titles and remedies on every host (5,000 hosts × 15
    checks = 75,000 findings, 15 distinct titles): each distinct ``{"zh", "en"}``
    text becomes one shared, frozen :class:`Text`. Dicts (details, waiver) are
    mutable and decoded per row. Bounded by the rows of the load it serves.
    """

    def __init__(self) -> None:
        self._texts: dict[str, Text | None] = {}

    def text(self, raw: str | None) -> Text | None:
        if raw is None:
            return None
        if raw not in self._texts:
            value = json.loads(raw)  # SQLAlchemy stores a None of a JSON column as JSON null
            self._texts[raw] = None if value is None else Text.model_validate(value)
        return self._texts[raw]

    @staticmethod
    def data(raw: str | None) -> Any:
        return None if raw is None or raw == "null" else json.loads(raw)


#: Findings columns read as their stored JSON text (CAST … AS TEXT: the same on SQLite and PostgreSQL).
_FINDING_JSON = ("title", "message", "remedy", "waiver", "details")


def finding_columns() -> list[Any]:
    """The findings columns, JSON ones as their text (what :func:`host_results` decodes)."""
    return [sa.cast(col, sa.Text).label(col.name) if col.name in _FINDING_JSON else col for col in schema.findings.c]


def _findings_query(run_id: str) -> Any:
    c = schema.findings.c
    return sa.select(*finding_columns()).where(c.run_id == run_id).order_by(c.host_id, c.position)


def _finding(f: Any, decode: _Decoder) -> Finding:
    title = decode.text(f.title)
    assert title is not None  # NOT NULL column
    return Finding(
        policy_id=f.policy_id,
        check_id=f.check_id,
        check_type=f.check_type,
        status=FindingStatus(f.status),
        severity=f.severity,
        title=title,
        expected=f.expected,
        observed=f.observed,
        source=f.source,
        message=decode.text(f.message),
        remedy=decode.text(f.remedy),
        guide=f.guide,
        requirement=f.requirement,
        fix=f.fix,
        waiver=decode.data(f.waiver),
        details=decode.data(f.details) or {},
    )


def _local_collection(value: Any) -> LocalCollection | None:
    """The stored marker of a locally collected host (None: swept over WinRM, or unreadable)."""
    if not isinstance(value, dict):
        return None
    try:
        return LocalCollection.model_validate(value)
    except ValidationError:
        return None


def host_results(conn: Connection, host_rows: Sequence[Any], findings: Any) -> list[HostResult]:
    """HostResults of ``host_rows`` (rows of the hosts table, in the order wanted) with their findings.

    ``findings``: a query of :func:`finding_columns` rows covering those hosts, ordered by host and position.
    """
    by_host: dict[int, list[Finding]] = {r.id: [] for r in host_rows}
    decode = _Decoder()
    for f in conn.execute(findings):
        if f.host_id in by_host:
            by_host[f.host_id].append(_finding(f, decode))
    return [
        HostResult(
            host=h.host,
            address=h.address,
            groups=list(h.groups or []),
            branch=h.branch,
            status=HostStatus(h.status),
            error_class=h.error_class,
            error=text_or_none(h.error),
            started=from_db(h.started),
            finished=from_db(h.finished),
            attempts=h.attempts,
            operator=h.operator,
            operator_sid=h.operator_sid,
            local_collection=_local_collection(h.local_collection),
            findings=by_host[h.id],
        )
        for h in host_rows
    ]


def load_run_hosts(conn: Connection, run_id: str) -> list[HostResult]:
    """A run's hosts in their original order, with their findings (``facts`` not kept)."""
    host_rows = conn.execute(
        sa.select(schema.hosts).where(schema.hosts.c.run_id == run_id).order_by(schema.hosts.c.position)
    ).all()
    return host_results(conn, host_rows, _findings_query(run_id))


def certificate_record(r: Any, observed: datetime | None = None) -> CertificateRecord:
    """One certificates-table row as a record."""
    return CertificateRecord(
        run_id=r.run_id,
        host=r.host,
        subject_cn=r.subject_cn,
        issuer=r.issuer,
        not_after=from_db(r.not_after),
        days_left=r.days_left,
        thumbprint=r.thumbprint,
        kind=r.kind,
        has_private_key=r.has_private_key,
        store=r.store,
        user=r.user,
        observed=observed,
    )


def soonest_first(records: Sequence[CertificateRecord]) -> list[CertificateRecord]:
    """Soonest expiry first, unknown expiry last, then by host."""
    return sorted(records, key=lambda r: (r.days_left is None, r.days_left or 0, r.host))


def certificate_records(conn: Connection, run_id: str) -> list[CertificateRecord]:
    """Every certificate recorded with a run, soonest expiry first (unknown expiry last)."""
    c = schema.certificates.c
    h = schema.hosts.c
    rows = conn.execute(
        sa.select(schema.certificates, h.finished.label("observed"))
        .join(schema.hosts, h.id == c.host_id)
        .where(c.run_id == run_id).order_by(c.host, c.id)
    ).all()
    return soonest_first([certificate_record(r, from_db(r.observed)) for r in rows])


def host_error_rows(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """Hosts that could not be probed in a run: host, status, error class, message, attempts."""
    c = schema.host_errors.c
    rows = conn.execute(
        sa.select(c.host, c.status, c.error_class, c.message, c.attempts).where(c.run_id == run_id).order_by(c.host)
    ).all()
    return [dict(r._mapping) for r in rows]
