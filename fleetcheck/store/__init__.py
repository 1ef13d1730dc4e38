"""Run history: every sweep recorded in a SQL database (SQLAlchemy Core).

SQLite by default, one file at ``$XDG_DATA_HOME/fleetcheck/fleetcheck.db``
(``~/.local/share/fleetcheck/fleetcheck.db`` when XDG_DATA_HOME is unset);
``--db URL`` or ``FLEETCHECK_DB`` select another database, e.g.
``postgresql+psycopg://fleet@db/fleetcheck`` — only portable Core constructs are
used, so PostgreSQL works unchanged. A plain path is taken as a SQLite file.

Example::

    with Store.open("sqlite:///history.db") as store:
        run_id = store.record_run(run)
        again = store.load_run("latest")

Recording the same ``run_id`` twice replaces the earlier record (a re-import
of the same results.json must not double the history). Raw probe facts are not
stored (see :mod:`fleetcheck.store.schema`), so ``load_run`` returns hosts with
``facts=None``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import T, Text
from fleetcheck.readiness import gateway_certificates
from fleetcheck.store import migrations, schema

__all__ = [
    "CertificateRecord",
    "RunNotFound",
    "RunSummary",
    "Store",
    "StoreError",
    "default_db_url",
    "resolve_db_url",
    "safe_url",
]


class StoreError(Exception):
    """A store problem a user can act on; ``text`` is the bilingual message."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


def _damaged(url: str) -> StoreError:
    return StoreError(T(
        f"无法打开历史数据库 {safe_url(url)}：文件已损坏（SQLite 报告数据库映像格式错误或文本无法解码）。"
        "请从备份恢复，或换一个 --db / FLEETCHECK_DB 重新开始。",
        f"cannot open the history database {safe_url(url)}: the file is damaged (SQLite reports a malformed "
        "database image or undecodable text). Restore it from a backup, or start afresh with another "
        "--db / FLEETCHECK_DB.",
    ))


# What a damaged SQLite file raises, at open or at any later read (the DBAPI message, lower case).
# A schema page whose text is damaged names columns that no longer exist: "no such column".
_DAMAGE_HINTS = ("malformed", "not a database", "could not decode", "file is encrypted", "disk image",
                 "no such column", "no such table")


def _is_damage(exc: BaseException | None) -> bool:
    if isinstance(exc, UnicodeDecodeError):
        return True  # sqlite3 decodes column names itself: a damaged schema page raises this
    import sqlite3

    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError) and any(
        hint in str(exc).lower() for hint in _DAMAGE_HINTS)


def _watch_for_damage(engine: Engine, url: str) -> None:
    """A damaged file found by any later statement is the same clean StoreError, never a traceback."""
    from sqlalchemy import event

    @event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> None:
        if _is_damage(context.original_exception):
            raise _damaged(url) from None


class RunNotFound(StoreError):
    """The requested run is not in the store."""


def default_db_url() -> str:
    """``sqlite:///`` URL of the default store file (XDG_DATA_HOME respected)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'fleetcheck' / 'fleetcheck.db'}"


def resolve_db_url(url: str | None = None) -> str:
    """Explicit URL (or path) > ``FLEETCHECK_DB`` > the default SQLite file."""
    chosen = url or os.environ.get("FLEETCHECK_DB") or default_db_url()
    if "://" not in chosen:
        chosen = f"sqlite:///{Path(chosen).expanduser()}"
    return chosen


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def _to_db(value: datetime | None) -> datetime | None:
    """Naive UTC for storage (portable: SQLite has no time zones)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _from_db(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=timezone.utc)


def _text(value: Any) -> Text | None:
    return None if value is None else Text.model_validate(value)


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

    @property
    def compliance_pct(self) -> float | None:
        """Compliant hosts / probed hosts × 100; None when nothing was probed."""
        if self.hosts_probed == 0:
            return None
        return round(100.0 * self.hosts_compliant / self.hosts_probed, 1)


@dataclass(frozen=True)
class CertificateRecord:
    """A gateway certificate seen on a host in a run."""

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


def _summary_of(run: RunResult) -> dict[str, Any]:
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


class Store:
    """The run-history database. Open with :meth:`open`; close (or use ``with``)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self.url = url

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (creating or upgrading) the store at ``url`` (see :func:`resolve_db_url`)."""
        resolved = resolve_db_url(url)
        try:
            parsed = sa.engine.make_url(resolved)
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(parsed)
        except (NoSuchModuleError, ImportError) as exc:
            # An unknown dialect, or a known one whose driver is not installed
            # (postgresql:// without psycopg): say which, never a traceback.
            missing = getattr(exc, "name", None) or ""
            raise StoreError(
                T(
                    f"无法打开历史数据库 {safe_url(resolved)}：不支持这种数据库，或未安装它的驱动"
                    f"{'（缺少 Python 模块 ' + missing + '）' if missing else ''}。"
                    "请用 SQLite 文件路径，或安装相应驱动（PostgreSQL：pip install 'fleetcheck[postgres]'），"
                    "并检查 --db / FLEETCHECK_DB。",
                    f"cannot open the history database {safe_url(resolved)}: this kind of database is not "
                    f"supported or its driver is not installed{' (missing Python module ' + missing + ')' if missing else ''}. "
                    "Use a SQLite file path, or install the driver (PostgreSQL: pip install 'fleetcheck[postgres]'); "
                    "check --db / FLEETCHECK_DB.",
                )
            ) from None
        except (ArgumentError, OSError) as exc:
            raise StoreError(
                T(
                    f"无法打开历史数据库 {safe_url(resolved)}：{type(exc).__name__}。请检查 --db / FLEETCHECK_DB。",
                    f"cannot open the history database {safe_url(resolved)}: {type(exc).__name__}. "
                    "Check --db / FLEETCHECK_DB.",
                )
            ) from None
        store = cls(engine, resolved)
        if parsed.get_backend_name() == "sqlite":
            _watch_for_damage(engine, resolved)
        try:
            with engine.begin() as conn:
                migrations.upgrade(conn)
        except StoreError:
            engine.dispose()
            raise
        except UnicodeDecodeError:
            engine.dispose()
            raise _damaged(resolved) from None
        except migrations.SchemaError as exc:
            engine.dispose()
            raise StoreError(
                T(
                    f"{safe_url(resolved)} 不是可用的 fleetcheck 历史数据库（{exc}）。请换一个 --db。",
                    f"{safe_url(resolved)} is not a usable fleetcheck history database ({exc}). "
                    "Use another --db.",
                )
            ) from None
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(
                T(
                    f"无法打开历史数据库 {safe_url(resolved)}：{type(exc).__name__}。",
                    f"cannot open the history database {safe_url(resolved)}: {type(exc).__name__}.",
                )
            ) from None
        return store

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:  # noqa: PYI034 - Store is not subclassed; Self needs 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        with self._engine.connect() as conn:
            return migrations.current_version(conn)

    # -- writing -------------------------------------------------------------------------
    def record_run(self, run: RunResult) -> str:
        """Store one sweep (hosts, findings, certificates, host errors); returns its run id."""
        with self._engine.begin() as conn:
            self._delete_runs(conn, [run.run_id])
            conn.execute(
                schema.runs.insert().values(
                    run_id=run.run_id,
                    started=_to_db(run.started),
                    finished=_to_db(run.finished),
                    policies=list(run.policies),
                    inventory=run.inventory,
                    recorded=_to_db(datetime.now(timezone.utc)),
                    **_summary_of(run),
                )
            )
            if not run.hosts:
                return run.run_id
            host_rows = [self._host_row(run.run_id, i, h) for i, h in enumerate(run.hosts)]
            ids = conn.execute(
                schema.hosts.insert().returning(schema.hosts.c.id, sort_by_parameter_order=True),
                host_rows,
            ).scalars().all()
            finding_rows: list[dict[str, Any]] = []
            cert_rows: list[dict[str, Any]] = []
            error_rows: list[dict[str, Any]] = []
            for host_id, host in zip(ids, run.hosts):
                for pos, f in enumerate(host.findings):
                    finding_rows.append(self._finding_row(run.run_id, host_id, pos, f))
                for cert in gateway_certificates(host):
                    cert_rows.append(
                        {"run_id": run.run_id, "host_id": host_id, **cert,
                         "not_after": _to_db(cert["not_after"])}
                    )
                if host.status is not HostStatus.ok:
                    error_rows.append(
                        {
                            "run_id": run.run_id,
                            "host_id": host_id,
                            "host": host.host,
                            "status": host.status.value,
                            "error_class": host.error_class,
                            "message": host.error.model_dump() if host.error else None,
                            "attempts": host.attempts,
                        }
                    )
            for table, rows in (
                (schema.findings, finding_rows),
                (schema.certificates, cert_rows),
                (schema.host_errors, error_rows),
            ):
                if rows:
                    conn.execute(table.insert(), rows)
        return run.run_id

    @staticmethod
    def _host_row(run_id: str, position: int, h: HostResult) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "position": position,
            "host": h.host,
            "address": h.address,
            "status": h.status.value,
            "error_class": h.error_class,
            "error": h.error.model_dump() if h.error else None,
            "started": _to_db(h.started),
            "finished": _to_db(h.finished),
            "attempts": h.attempts,
            "operator": h.operator,
            "operator_sid": h.operator_sid,
            "groups": list(h.groups),
            "branch": h.branch,
        }

    @staticmethod
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

    @staticmethod
    def _delete_runs(conn: Connection, run_ids: list[str]) -> None:
        if not run_ids:
            return
        # Children first; no reliance on ON DELETE CASCADE (off by default in SQLite).
        for table in schema.RUN_CHILDREN:
            conn.execute(table.delete().where(table.c.run_id.in_(run_ids)))
        conn.execute(schema.runs.delete().where(schema.runs.c.run_id.in_(run_ids)))

    def prune(
        self,
        *,
        keep_runs: int | None = None,
        keep_days: int | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        """Delete runs beyond the newest ``keep_runs`` or older than ``keep_days``.

        Returns the deleted run ids. With both limits a run is deleted when either
        says so. ``prune(keep_runs=10)`` keeps the last ten sweeps. The newest run
        of each office (inventory) is never deleted, whatever the limits say:
        ``keep_days=0`` or ``keep_runs=0`` leaves the latest run of every office.
        """
        if keep_runs is not None and keep_runs < 0 or keep_days is not None and keep_days < 0:
            raise StoreError(T("保留数量/天数不能为负数。", "keep-runs / keep-days must not be negative."))
        runs = self.list_runs()  # newest first
        doomed: set[str] = set()
        if keep_runs is not None:
            doomed.update(r.run_id for r in runs[keep_runs:])
        if keep_days is not None:
            cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=keep_days)
            doomed.update(r.run_id for r in runs if r.started < cutoff)
        latest: dict[str | None, str] = {}
        for r in runs:  # newest first: the first run seen per office is its latest
            latest.setdefault(r.inventory, r.run_id)
        doomed.difference_update(latest.values())
        ordered = [r.run_id for r in runs if r.run_id in doomed]
        with self._engine.begin() as conn:
            self._delete_runs(conn, ordered)
        return ordered

    # -- reading -------------------------------------------------------------------------
    def list_runs(self, limit: int | None = None) -> list[RunSummary]:
        """Recorded runs, newest first."""
        query = sa.select(schema.runs).order_by(
            schema.runs.c.started.desc(), schema.runs.c.run_id.desc()
        )
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            return [self._summary(r) for r in conn.execute(query)]

    @staticmethod
    def _summary(r: Any) -> RunSummary:
        started = _from_db(r.started)
        assert started is not None  # NOT NULL column
        return RunSummary(
            run_id=r.run_id,
            started=started,
            finished=_from_db(r.finished),
            policies=list(r.policies or []),
            inventory=r.inventory,
            hosts_total=r.hosts_total,
            hosts_probed=r.hosts_probed,
            hosts_compliant=r.hosts_compliant,
            hosts_failed=r.hosts_failed,
            findings_fail=r.findings_fail,
            findings_error=r.findings_error,
        )

    def resolve_run_id(self, run_id: str = "latest") -> str:
        """``"latest"`` → the newest run's id; any other id must exist."""
        with self._engine.connect() as conn:
            if run_id == "latest":
                found = conn.execute(
                    sa.select(schema.runs.c.run_id)
                    .order_by(schema.runs.c.started.desc(), schema.runs.c.run_id.desc())
                    .limit(1)
                ).scalar()
                if found is None:
                    raise RunNotFound(
                        T(
                            f"历史数据库 {safe_url(self.url)} 中还没有任何扫描记录。请先运行 fleetcheck scan。",
                            f"no run recorded yet in {safe_url(self.url)}. Run fleetcheck scan first.",
                        )
                    )
                return str(found)
            exists = conn.execute(
                sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)
            ).scalar()
        if exists is None:
            raise RunNotFound(
                T(
                    f"找不到扫描记录 {run_id}。用 fleetcheck history 查看已有的记录。",
                    f"run {run_id} not found. List recorded runs with fleetcheck history.",
                )
            )
        return run_id

    def run_summary(self, run_id: str = "latest") -> RunSummary:
        rid = self.resolve_run_id(run_id)
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(schema.runs).where(schema.runs.c.run_id == rid)).one()
        return self._summary(row)

    def previous_run(self, run_id: str) -> RunSummary | None:
        """The run recorded just before ``run_id`` (by start time), or None."""
        current = self.run_summary(run_id)
        older = [r for r in self.list_runs() if (r.started, r.run_id) < (current.started, current.run_id)]
        return older[0] if older else None

    def trend(self, run_id: str = "latest", limit: int = 20) -> list[RunSummary]:
        """Up to ``limit`` runs ending with ``run_id``, oldest first (for trend charts)."""
        current = self.run_summary(run_id)
        upto = [r for r in self.list_runs() if (r.started, r.run_id) <= (current.started, current.run_id)]
        return list(reversed(upto[:limit]))

    def load_run(self, run_id: str = "latest") -> RunResult:
        """Rebuild a recorded run (hosts in their original order, ``facts`` not kept)."""
        summary = self.run_summary(run_id)
        rid = summary.run_id
        with self._engine.connect() as conn:
            host_rows = conn.execute(
                sa.select(schema.hosts)
                .where(schema.hosts.c.run_id == rid)
                .order_by(schema.hosts.c.position)
            ).all()
            by_host: dict[int, list[Finding]] = {r.id: [] for r in host_rows}
            for f in conn.execute(
                sa.select(schema.findings)
                .where(schema.findings.c.run_id == rid)
                .order_by(schema.findings.c.host_id, schema.findings.c.position)
            ):
                by_host[f.host_id].append(self._finding(f))
        hosts = [
            HostResult(
                host=h.host,
                address=h.address,
                groups=list(h.groups or []),
                branch=h.branch,
                status=HostStatus(h.status),
                error_class=h.error_class,
                error=_text(h.error),
                started=_from_db(h.started),
                finished=_from_db(h.finished),
                attempts=h.attempts,
                operator=h.operator,
                operator_sid=h.operator_sid,
                findings=by_host[h.id],
            )
            for h in host_rows
        ]
        return RunResult(
            run_id=rid,
            started=summary.started,
            finished=summary.finished,
            policies=summary.policies,
            inventory=summary.inventory,
            hosts=hosts,
        )

    @staticmethod
    def _finding(f: Any) -> Finding:
        return Finding(
            policy_id=f.policy_id,
            check_id=f.check_id,
            check_type=f.check_type,
            status=FindingStatus(f.status),
            severity=f.severity,
            title=Text.model_validate(f.title),
            expected=f.expected,
            observed=f.observed,
            source=f.source,
            message=_text(f.message),
            remedy=_text(f.remedy),
            guide=f.guide,
            requirement=f.requirement,
            fix=f.fix,
            waiver=f.waiver,
            details=f.details or {},
        )

    def certificates(self, run_id: str = "latest") -> list[CertificateRecord]:
        """Every certificate seen in a run, soonest expiry first (unknown expiry last)."""
        rid = self.resolve_run_id(run_id)
        c = schema.certificates.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(schema.certificates).where(c.run_id == rid).order_by(c.host, c.id)
            ).all()
        records = [
            CertificateRecord(
                run_id=r.run_id,
                host=r.host,
                subject_cn=r.subject_cn,
                issuer=r.issuer,
                not_after=_from_db(r.not_after),
                days_left=r.days_left,
                thumbprint=r.thumbprint,
                kind=r.kind,
                has_private_key=r.has_private_key,
                store=r.store,
                user=r.user,
            )
            for r in rows
        ]
        return sorted(records, key=lambda r: (r.days_left is None, r.days_left or 0, r.host))

    def host_errors(self, run_id: str = "latest") -> list[dict[str, Any]]:
        """Hosts that could not be probed in a run: host, status, error class, message, attempts."""
        rid = self.resolve_run_id(run_id)
        c = schema.host_errors.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.host, c.status, c.error_class, c.message, c.attempts)
                .where(c.run_id == rid)
                .order_by(c.host)
            ).all()
        return [dict(r._mapping) for r in rows]

