"""The tamper-evident audit log and the change records every rollback reads.

Public API (shared by ``fleetcheck fix`` and ``fleetcheck renew``)::

    with Store.open(url) as store:
        log = AuditLog(store)
        entry = log.append(who=local_user(), host="PC-01", event="applied",
                           action={...}, before={...}, after={...},
                           result="ok", forced=False, run_id=run, action_id=aid)
        problems = log.verify()        # [] when intact; else one AuditProblem per bad entry
        for e in log.entries(): ...

        changes = ChangeLog(store)
        changes.record(ChangeRecord(...))            # before it is needed for rollback
        changes.for_run(run_id) / changes.get(action_id) / changes.mark_rolled_back(...)

Hash chain: entry ``n`` stores ``prev_hash`` = entry ``n-1``'s ``hash`` (64
zeros for the first) and ``hash`` = SHA-256 of the canonical JSON of every
field except ``hash`` itself (keys sorted, no whitespace, UTF-8, ``seq``,
``at`` and ``prev_hash`` included). Editing any field of an entry breaks its
own hash; removing an entry leaves a ``seq`` gap and breaks the next entry's
``prev_hash``; removing the newest entries disagrees with ``audit_head``.
Limit (documented in README): someone with write access to the database who
recomputes every later hash and the head can rewrite history; publish
``fleetcheck audit show --head`` elsewhere (a ticket, a chat) to anchor it.

Secrets never enter either table: :func:`scrub` replaces ``password`` fields
with ``"***"`` and PFX/certificate payloads with their SHA-256, and every
action goes through it before it is stored.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from fleetcheck.i18n import T, Text
from fleetcheck.store.audit_schema import audit_head, audit_log, changes
from fleetcheck.store.database import Store
from fleetcheck.textsafe import clean_text

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditFields",
    "AuditLog",
    "AuditProblem",
    "ChangeLog",
    "ChangeRecord",
    "canonical_json",
    "entry_hash",
    "local_user",
    "scrub",
]

GENESIS = "0" * 64
# "sent": write-ahead, before the agent receives a change (outcome unknown); "unknown": the
# connection broke while applying; "confirmed": a later contact read what really happened.
EVENTS = ("applied", "failed", "refused", "rolled_back", "rollback_failed", "skipped", "sent", "unknown", "confirmed")
_SECRET_KEYS = frozenset({"password", "pfx_password", "winrm_password"})
_PAYLOAD_KEYS = frozenset({"pfx"})
_APPEND_RETRIES = 5
_LOCK = threading.Lock()  # one process appends one entry at a time (seq is read-then-insert)


def local_user() -> str:
    """Who runs fleetcheck on this machine (the audit's "who"), ``DOMAIN\\user`` style when known."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database entry (containers): still record something
        user = os.environ.get("USERNAME") or "unknown"
    domain = os.environ.get("USERDOMAIN")
    return f"{domain}\\{user}" if domain else user


def scrub(value: Any) -> Any:
    """A JSON-ready copy of ``value`` with secrets removed (passwords masked, PFX bytes hashed).

    >>> scrub({"kind": "import_pfx", "password": "p", "pfx": "QUJD"})["password"]
    '***'
    """
    if isinstance(value, str):
        return clean_text(value)  # a lone surrogate from a PC cannot be hashed or stored as UTF-8
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for raw_key, item in value.items():
            key = clean_text(raw_key) if isinstance(raw_key, str) else raw_key
            low = str(key).lower()
            if low in _SECRET_KEYS:
                out[key] = "***"
            elif low in _PAYLOAD_KEYS and isinstance(item, str):
                out[key] = "sha256:" + hashlib.sha256(item.encode("ascii", "replace")).hexdigest()
            else:
                out[key] = scrub(item)
        return out
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if hasattr(value, "model_dump"):
        return scrub(value.model_dump(mode="json"))
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def clean_state(value: Any) -> Any:
    """A JSON-ready copy of a PC's prior/after state, exactly as read, for rollback.

    Unlike :func:`scrub` no key is masked: a registry value that happens to be named
    ``Password`` is data to restore, not a fleetcheck secret (masking it made the
    backed-up tree unrestorable). Strings are only made storable (lone surrogates,
    which PostgreSQL's JSON refuses, kept visibly as by the transport).
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {(clean_text(k) if isinstance(k, str) else k): clean_state(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_state(v) for v in value]
    if hasattr(value, "model_dump"):
        return clean_state(value.model_dump(mode="json"))
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def canonical_json(data: Any) -> str:
    """Keys sorted, no whitespace, UTF-8 characters as they are: the hash input."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _iso(when: datetime) -> str:
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditEntry:
    """One audit log entry as stored (``hash`` covers every other field)."""

    seq: int
    at: str
    who: str
    host: str
    run_id: str | None
    action_id: str | None
    event: str
    action: Any
    before: Any
    after: Any
    result: str
    forced: bool
    details: Any
    prev_hash: str
    hash: str

    def hashed_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "at": self.at, "who": self.who, "host": self.host, "run_id": self.run_id,
            "action_id": self.action_id, "event": self.event, "action": self.action, "before": self.before,
            "after": self.after, "result": self.result, "forced": bool(self.forced), "details": self.details,
            "prev_hash": self.prev_hash,
        }


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of an entry's canonical JSON, ``hash`` excluded."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditProblem:
    """One integrity problem; ``seq`` names the entry (None: the log as a whole)."""

    seq: int | None
    text: Text


def _row_entry(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=row.seq, at=row.at, who=row.who, host=row.host, run_id=row.run_id, action_id=row.action_id,
        event=row.event, action=row.action, before=row.before, after=row.after, result=row.result,
        forced=bool(row.forced), details=row.details, prev_hash=row.prev_hash, hash=row.hash,
    )


class AuditFields(TypedDict, total=False):
    """The optional parts of an audit entry, as keywords of :meth:`AuditLog.append`."""

    action: Any
    before: Any
    after: Any
    result: str
    forced: bool
    run_id: str | None
    action_id: str | None
    details: Any
    at: datetime | None


class AuditLog:
    """Append-only, hash-chained log of every change attempt (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._engine: sa.engine.Engine = store.engine

    def append(self, who: str, host: str, event: str, **fields: Unpack[AuditFields]) -> AuditEntry:
        """Append one entry (chained to the newest one) and return it as stored.

        ``fields`` are the optional parts of an entry (:class:`AuditFields`); the
        action, before/after states and details are scrubbed of secrets first.
        """
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}; one of {', '.join(EVENTS)}")
        unknown = set(fields) - set(AuditFields.__annotations__)
        if unknown:
            raise TypeError(f"unknown audit fields {sorted(unknown)}")
        when = _iso(fields.get("at") or datetime.now(timezone.utc))
        payload = {key: scrub(fields.get(key)) for key in ("action", "before", "after", "details")}
        result, forced = fields.get("result", ""), bool(fields.get("forced", False))
        run_id, action_id = fields.get("run_id"), fields.get("action_id")
        for attempt in range(_APPEND_RETRIES):
            try:
                with _LOCK, self._engine.begin() as conn:
                    last = conn.execute(
                        sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
                    ).first()
                    seq = (last.seq + 1) if last is not None else 1
                    prev = last.hash if last is not None else GENESIS
                    entry = AuditEntry(seq=seq, at=when, who=who, host=host, run_id=run_id, action_id=action_id,
                                       event=event, result=clean_text(result), forced=forced, prev_hash=prev, hash="",
                                       **payload)
                    digest = entry_hash(entry.hashed_fields())
                    conn.execute(audit_log.insert().values(**entry.hashed_fields(), hash=digest))
                    updated = conn.execute(
                        audit_head.update().where(audit_head.c.id == 1).values(seq=seq, hash=digest)
                    ).rowcount
                    if not updated:
                        conn.execute(audit_head.insert().values(id=1, seq=seq, hash=digest))
                    return AuditEntry(**{**entry.hashed_fields(), "hash": digest})
            except IntegrityError:
                # Another process took this seq first (shared PostgreSQL store): read the head again.
                if attempt == _APPEND_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def entries(self, *, host: str | None = None, run_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Entries in order (optionally one host / one run; ``limit`` = the newest N)."""
        query = sa.select(audit_log)
        if host is not None:
            query = query.where(audit_log.c.host == host)
        if run_id is not None:
            query = query.where(audit_log.c.run_id == run_id)
        if limit is not None:
            query = query.order_by(audit_log.c.seq.desc()).limit(limit)
        with self._engine.connect() as conn:
            rows = [_row_entry(r) for r in conn.execute(query)]
        return sorted(rows, key=lambda e: e.seq)

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest entry as the head row records it; (0, GENESIS) when empty."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
        return (row.seq, row.hash) if row is not None else (0, GENESIS)

    def verify(self, expect_head: str | None = None) -> list[AuditProblem]:
        """Every integrity problem, each naming the entry; an empty list means intact."""
        problems: list[AuditProblem] = []
        prev_hash, expected_seq = GENESIS, 1
        entries = self.entries()
        for e in entries:
            if e.seq != expected_seq:
                missing = f"{expected_seq}" if e.seq == expected_seq + 1 else f"{expected_seq}–{e.seq - 1}"
                problems.append(AuditProblem(e.seq, T(f"条目 #{missing} 缺失（被删除？）", f"entry #{missing} is missing (removed?)")))
            if e.prev_hash != prev_hash:
                problems.append(AuditProblem(e.seq, T(
                    f"条目 #{e.seq} 的 prev_hash 与前一条目不符：前面的条目被修改或删除",
                    f"entry #{e.seq}: prev_hash does not match the previous entry; an earlier entry was edited or removed")))
            if entry_hash(e.hashed_fields()) != e.hash:
                problems.append(AuditProblem(e.seq, T(
                    f"条目 #{e.seq}（{e.at} {e.host} {e.event}）的内容被修改：哈希不符",
                    f"entry #{e.seq} ({e.at} {e.host} {e.event}) was edited: its hash does not match")))
            prev_hash, expected_seq = e.hash, e.seq + 1
        head_seq, head_hash = self.head()
        last_seq, last_hash = (entries[-1].seq, entries[-1].hash) if entries else (0, GENESIS)
        if (head_seq, head_hash) != (last_seq, last_hash):
            problems.append(AuditProblem(head_seq if head_seq > last_seq else None, T(
                f"日志头记录到条目 #{head_seq}，但最新条目是 #{last_seq}：最新的条目被删除或修改",
                f"the log head records entry #{head_seq}, but the newest entry is #{last_seq}: "
                "the newest entries were removed or edited")))
        if expect_head is not None and expect_head.lower() not in (last_hash, f"{last_seq}:{last_hash}"):
            problems.append(AuditProblem(None, T(
                f"最新条目的哈希不是期望的 {expect_head}", f"the newest entry's hash is not the expected {expect_head}")))
        return problems


# --------------------------------------------------------------------------- change records


@dataclass
class ChangeRecord:
    """One write action carried out on one host, with what rollback needs.

    ``before`` keys: ``value`` (contract RegValue dump, or None when the value
    did not exist), ``created_key`` (the topmost key path the action created,
    relative to the hive, or None), ``tree`` (a deleted key tree, None when
    the key did not exist), ``file`` (the previous FileInfo dump with its
    content and ``sha256``, ``exists`` false when the file was created);
    ``from: "write-ahead"`` while only the pre-send read is known. ``status``:
    ``pending`` (written ahead, maybe sent), ``unknown`` (connection lost while
    applying), ``applied``, ``not_applied`` (a later read found the prior
    state), ``failed``, ``rolled_back``.
    """

    action_id: str
    run_id: str
    position: int
    host: str
    check_id: str | None
    kind: str
    action: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    status: str
    who: str
    forced: bool = False
    error: str | None = None
    applied_at: str = field(default_factory=lambda: _iso(datetime.now(timezone.utc)))
    rolled_back_at: str | None = None


def _row_change(row: Any) -> ChangeRecord:
    return ChangeRecord(
        action_id=row.action_id, run_id=row.run_id, position=row.position, host=row.host, check_id=row.check_id,
        kind=row.kind, action=row.action, before=row.before, after=row.after, status=row.status, who=row.who,
        forced=bool(row.forced), error=row.error, applied_at=row.applied_at, rolled_back_at=row.rolled_back_at,
    )


class ChangeLog:
    """The ``changes`` table: prior values of everything a fix changed, for rollback."""

    def __init__(self, store: Store) -> None:
        self._engine: sa.engine.Engine = store.engine

    def record(self, change: ChangeRecord) -> None:
        # The action may carry fleetcheck's own secrets (an ImportPfx password): scrubbed. The
        # before/after states are the PC's data, kept exactly (rollback restores from them).
        row = {**change.__dict__, "action": scrub(change.action), "before": clean_state(change.before),
               "after": clean_state(change.after), "error": scrub(change.error)}
        with self._engine.begin() as conn:
            conn.execute(changes.delete().where(changes.c.action_id == change.action_id))
            conn.execute(changes.insert().values(**row))

    def get(self, action_id: str) -> ChangeRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(changes).where(changes.c.action_id == action_id)).first()
        return _row_change(row) if row is not None else None

    def for_host(self, host: str) -> list[ChangeRecord]:
        """Every recorded change of ``host``, oldest run first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(changes).where(changes.c.host == host).order_by(changes.c.applied_at, changes.c.position)
            ).all()
        return [_row_change(r) for r in rows]

    def unresolved(self, host: str) -> list[ChangeRecord]:
        """``host``'s changes a crash or a lost connection left undecided (``pending`` / ``unknown``)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(changes).where(changes.c.host == host, changes.c.status.in_(("pending", "unknown")))
                .order_by(changes.c.applied_at, changes.c.position)
            ).all()
        return [_row_change(r) for r in rows]

    def for_run(self, run_id: str) -> list[ChangeRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(changes).where(changes.c.run_id == run_id).order_by(changes.c.host, changes.c.position)
            ).all()
        return [_row_change(r) for r in rows]

    def runs(self) -> list[str]:
        """Fix run ids with recorded changes, newest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(changes.c.run_id, sa.func.max(changes.c.applied_at).label("last"))
                .group_by(changes.c.run_id).order_by(sa.desc("last"))
            ).all()
        return [r.run_id for r in rows]

    def mark(self, action_id: str, status: str, *, when: datetime | None = None, error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status}
        if status == "rolled_back":
            values["rolled_back_at"] = _iso(when or datetime.now(timezone.utc))
        if error is not None:
            values["error"] = clean_text(error)
        with self._engine.begin() as conn:
            conn.execute(changes.update().where(changes.c.action_id == action_id).values(**values))
