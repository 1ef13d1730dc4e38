"""Roll back recorded changes exactly, then verify by reading every touched place back.

``rollback_host(host, records, audit, changes, who=..., probe=..., options=RollbackOptions(...)) -> RollbackResult``
undoes ``records`` (one host's rows of the ``changes`` table) newest first.
``preview_host(records, keep)`` says what it would do, touching nothing (the
dry run of ``fleetcheck rollback``).

A rollback is a change like a fix: with ``RollbackOptions.guard`` set, the
host's process list is read first and the change guard decides (trading
session, trading client running); refused → nothing is sent, each record is
audited ``refused``; ``force=True`` overrides and every audit entry of the
rollback says ``forced``.

==================  ===========================================================
change              undo
==================  ===========================================================
set_value           SetValue of the old value with its old type; a value that
                    did not exist is deleted, and a key the fix created
                    (``created_key``) is deleted whole — unless another change
                    of the same run that is not being rolled back lives in it
delete_value        SetValue of the old value (nothing when it was absent)
delete_key          RestoreKey of the backed-up tree
write_file          WriteFile of the old content; a file the fix created is
                    deleted
schedule_reboot     CancelReboot of the recorded task ``\\fleetcheck-reboot-<token>``
                    while its reboot has not happened: the task and its folder
                    go (``schtasks /Delete /TN <task> /F``). A reboot that ran
                    (its ``result.txt`` says so), or a task no longer on the
                    PC, cannot be undone: reported ``skipped``, never restored
run_installer       not reversible: reported ``skipped``; uninstall by hand
==================  ===========================================================

One round trip carries all undo actions; a second one reads back every value,
key and file and compares with the recorded ``before``. Each change is then
marked ``rolled_back`` (or stays as it was, with ``rollback_failed`` audited).
Changes already rolled back, or that failed when applied, are skipped, so a
rollback can be repeated safely.

Changes a crash or a lost connection left ``pending`` / ``unknown`` are first
confirmed by reading the PC (:func:`fleetcheck.remediate.apply.confirm_unresolved`);
those still undecided are undone from their write-ahead record, which holds
the exact prior state. A record without a prior state (written before
write-ahead existed) is never "undone" by guessing: it is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetcheck.agent.contract import (
    REBOOT_TEMP,
    Action,
    CancelReboot,
    DeleteKey,
    DeleteValue,
    FileQuery,
    ProbeRequest,
    ProbeResponse,
    Query,
    RegKey,
    RegValue,
    RestoreKey,
    SetValue,
    WriteFile,
)
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec
from fleetcheck.remediate.apply import (
    ProbeFn,
    confirm_unresolved,
    key_query,
    recorded_reboot_task,
)
from fleetcheck.remediate.guard import Guard, GuardDecision
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord
from fleetcheck.transport import Deadline, TransportError, probe_host

__all__ = ["RollbackOptions", "RollbackPreview", "RollbackResult", "preview_host", "rollback_host", "undo_action"]

NOT_REVERSIBLE = ("run_installer", "import_pfx", "remove_cert")
UNDOABLE_STATUS = ("applied", "unknown", "pending")


@dataclass
class RollbackResult:
    host: str
    restored: list[str] = field(default_factory=list)  # action ids
    failed: dict[str, Text] = field(default_factory=dict)
    skipped: dict[str, Text] = field(default_factory=dict)
    error: Text | None = None
    # Changes an interrupted apply left undecided, decided by reading the PC first: id -> applied / not_applied
    confirmed: dict[str, str] = field(default_factory=dict)
    # The guard's decision (None: no guard asked); refused → nothing was sent
    decision: GuardDecision | None = None

    @property
    def refused(self) -> bool:
        return self.decision is not None and not self.decision.allowed

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None and not self.refused


@dataclass(frozen=True)
class RollbackOptions:
    """How :func:`rollback_host` runs: changes kept in place, the time budget, the guard and its override."""

    keep: Sequence[ChangeRecord] = ()
    timeout_s: float = 120.0
    guard: Guard | None = None  # None: no guard (tests, library callers that guard themselves)
    force: bool = False  # override the guard's refusal (audited as forced)


def _inside(path: str, key: str) -> bool:
    low, k = path.lower().strip("\\"), key.lower().strip("\\")
    return low == k or low.startswith(k + "\\")


NO_PRIOR_STATE = T("没有记录修改前的状态，无法安全恢复：请人工检查",
                   "no prior state was recorded: it cannot be restored safely; check by hand")
_NEEDS = {"set_value": "value", "delete_value": "value", "delete_key": "tree", "write_file": "file"}


def undo_action(record: ChangeRecord, keep: Sequence[ChangeRecord] = ()) -> Action | None:
    """The contract action that undoes ``record`` (None: nothing to do, not reversible, or no prior state).

    ``keep`` are changes staying in place: a created key holding one of them is
    not deleted whole (only the value is).
    """
    if _NEEDS.get(record.kind, "") not in (record.before or {}) and record.kind in _NEEDS:
        return None  # no prior state: never guess (a "deleted" file that existed, a lost key tree)
    undo = _UNDO.get(record.kind)
    return undo(record, keep) if undo is not None else None


def _undo_set_value(record: ChangeRecord, keep: Sequence[ChangeRecord]) -> Action | None:
    a, before, rid = record.action, record.before or {}, f"undo-{record.action_id}"
    hive, sid, path = a.get("hive"), a.get("sid"), a.get("path", "")
    old = before.get("value")
    if old is not None:
        return SetValue(id=rid, hive=hive, sid=sid, path=path, name=a["name"], value=RegValue.model_validate(old))
    created = before.get("created_key")
    shared = created and any(
        k.action.get("hive") == hive and k.action.get("sid") == sid and _inside(str(k.action.get("path", "")), created)
        for k in keep
    )
    if created and not shared:
        return DeleteKey(id=rid, hive=hive, sid=sid, path=created)
    return DeleteValue(id=rid, hive=hive, sid=sid, path=path, name=a["name"])


def _undo_delete_value(record: ChangeRecord, keep: Sequence[ChangeRecord]) -> Action | None:
    del keep  # a deleted value comes back as it was
    a, old = record.action, (record.before or {}).get("value")
    return None if old is None else SetValue(id=f"undo-{record.action_id}", hive=a.get("hive"), sid=a.get("sid"),
                                             path=a.get("path", ""), name=a["name"], value=RegValue.model_validate(old))


def _undo_delete_key(record: ChangeRecord, keep: Sequence[ChangeRecord]) -> Action | None:
    del keep  # the whole recorded tree comes back
    a, tree = record.action, (record.before or {}).get("tree")
    return None if tree is None else RestoreKey(id=f"undo-{record.action_id}", hive=a.get("hive"), sid=a.get("sid"),
                                                path=a.get("path", ""), tree=RegKey.model_validate(tree))


def _undo_write_file(record: ChangeRecord, keep: Sequence[ChangeRecord]) -> Action | None:
    del keep
    a, old, rid = record.action, (record.before or {}).get("file"), f"undo-{record.action_id}"
    if not isinstance(old, dict):
        return None
    if old.get("exists") and old.get("content") is not None:
        return WriteFile(id=rid, path=a["path"], content=old["content"])
    if old.get("exists"):
        return None  # content not captured (too large): cannot restore; reported
    return WriteFile(id=rid, path=a["path"], content="", delete=True)


def _undo_reboot(record: ChangeRecord, keep: Sequence[ChangeRecord]) -> Action | None:
    del keep
    task = recorded_reboot_task(record)
    return None if task is None else CancelReboot(id=f"undo-{record.action_id}", task=task)


_UNDO: dict[str, Callable[[ChangeRecord, Sequence[ChangeRecord]], Action | None]] = {
    "set_value": _undo_set_value,
    "delete_value": _undo_delete_value,
    "delete_key": _undo_delete_key,
    "write_file": _undo_write_file,
    "schedule_reboot": _undo_reboot,
}


NO_REBOOT_TASK = T("没有记录重启计划任务的名称（或名称无效），无法取消：请在该电脑上删除计划任务 \\fleetcheck-reboot-*",
                   "no valid reboot task name was recorded: it cannot be cancelled; delete the task "
                   "\\fleetcheck-reboot-* on the PC by hand")


def _reboot_not_undone(why: str) -> Text:
    """A reboot rollback could not cancel: it happened, or its task is gone."""
    return T(f"计划的重启无法撤销：{why}", f"the scheduled reboot cannot be undone: {why}")


def _check_query(record: ChangeRecord, undo: Action, n: int) -> Query | None:
    a = record.action
    if isinstance(undo, (SetValue, DeleteValue)):
        return key_query(f"rb-{n}", undo.hive, undo.sid, undo.path)
    if isinstance(undo, DeleteKey):
        return key_query(f"rb-{n}", undo.hive, undo.sid, undo.path)
    if isinstance(undo, RestoreKey):
        return key_query(f"rb-{n}", undo.hive, undo.sid, undo.path, depth=8)
    if isinstance(undo, WriteFile):
        return FileQuery(id=f"rb-{n}", path=a["path"], content=True, max_content_bytes=16 * 1024 * 1024)
    if isinstance(undo, CancelReboot):
        return FileQuery(id=f"rb-{n}", path=REBOOT_TEMP + undo.task + "\\guard.txt")
    return None


def _restored(undo: Action, facts: ProbeResponse, qid: str) -> bool:
    """Whether the read-back ``qid`` shows what ``undo`` restores."""
    ans = facts.answer(qid)
    if ans is None or ans.status == "error":
        return False
    if isinstance(undo, SetValue):
        return ans.key is not None and ans.key.value(undo.name) == undo.value
    if isinstance(undo, DeleteValue):
        return ans.status == "absent" or (ans.key is not None and ans.key.value(undo.name) is None)
    if isinstance(undo, DeleteKey):
        return ans.status == "absent"
    if isinstance(undo, RestoreKey):
        return ans.key is not None and _same_tree(ans.key, undo.tree)
    if isinstance(undo, WriteFile):
        if undo.delete:
            return ans.file is None or not ans.file.exists
        return ans.file is not None and ans.file.exists and ans.file.content == undo.content
    # A cancelled reboot: its folder is gone (anything else restores nothing this reads).
    return isinstance(undo, CancelReboot) and (ans.status == "absent" or (ans.file is not None and not ans.file.exists))


def _same_tree(got: RegKey, want: RegKey) -> bool:
    if {k.lower(): v for k, v in got.values.items()} != {k.lower(): v for k, v in want.values.items()}:
        return False
    gsubs = {k.lower(): v for k, v in got.subkeys.items()}
    wsubs = {k.lower(): v for k, v in want.subkeys.items()}
    if set(gsubs) != set(wsubs):
        return False
    return all(gsubs[k].truncated or _same_tree(gsubs[k], wsubs[k]) for k in wsubs)


def rollback_host(
    host: HostSpec,
    records: Sequence[ChangeRecord],
    audit: AuditLog,
    changes: ChangeLog,
    *,
    who: str,
    probe: ProbeFn = probe_host,
    options: RollbackOptions | None = None,
) -> RollbackResult:
    """Guard, undo ``records`` on ``host`` (newest first), verify by reading back, record and audit."""
    opts = options or RollbackOptions()
    run = _Rollback(host, audit, changes, who, RollbackResult(host.name))
    records = list(records)
    if opts.guard is not None and not run.guarded(records, opts, probe):
        return run.result
    if any(r.status in ("pending", "unknown") for r in records):
        run.result.confirmed = confirm_unresolved(host, records, audit, changes, who=who, probe=probe,
                                                  timeout_s=opts.timeout_s)
    todo = run.select(records, opts.keep)
    if not todo:
        return run.result
    try:
        applied = probe(host, ProbeRequest(actions=[u.action for u in todo], want_processes=False),
                        Deadline.after(opts.timeout_s), None)
        check = probe(host, ProbeRequest(queries=[u.query for u in todo], want_processes=False),
                      Deadline.after(opts.timeout_s), None)
    except TransportError as exc:
        run.lost(todo, exc)
        return run.result
    run.settle(todo, applied, check)
    return run.result


@dataclass(frozen=True)
class RollbackPreview:
    """What a rollback of one host would do (the dry run): nothing is read from or sent to the PC."""

    host: str
    restore: list[tuple[ChangeRecord, Action]] = field(default_factory=list)
    # Records left alone, with why (already rolled back, not reversible, no prior state...)
    skipped: list[tuple[ChangeRecord, Text]] = field(default_factory=list)
    # Records an interrupted fix left pending/unknown: read from the PC first on --apply
    undecided: list[ChangeRecord] = field(default_factory=list)


def preview_host(host: str, records: Sequence[ChangeRecord], keep: Sequence[ChangeRecord] = ()) -> RollbackPreview:
    """The dry run of :func:`rollback_host`: the undo of every record, newest first; pure."""
    preview = RollbackPreview(host)
    for record in sorted(records, key=lambda r: r.position, reverse=True):
        if record.status not in UNDOABLE_STATUS:
            preview.skipped.append((record, _status_skip(record)))
            continue
        if record.status != "applied":
            preview.undecided.append(record)
        undo = undo_action(record, keep)
        if undo is None:
            preview.skipped.append((record, _not_undoable_why(record)[0]))
        else:
            preview.restore.append((record, undo))
    return preview


def _status_skip(record: ChangeRecord) -> Text:
    return T(f"状态为 {record.status}，无需回滚", f"status {record.status}: nothing to undo")


def _not_undoable_why(record: ChangeRecord) -> tuple[Text, bool]:
    """Why ``record`` has no undo, and whether that is a failure (no prior state recorded)."""
    failed = record.kind in _NEEDS and _NEEDS[record.kind] not in (record.before or {})
    if record.kind in NOT_REVERSIBLE:
        return T("不可回滚（卸载：手动）", "not reversible (uninstall by hand)"), failed
    if record.kind == "schedule_reboot":
        return NO_REBOOT_TASK, failed
    if failed:
        return NO_PRIOR_STATE, True
    return T("之前不存在，无需恢复", "nothing existed before: nothing to restore"), False


@dataclass(frozen=True)
class _Undo:
    """One change to undo: its record, the undoing action and the read that verifies it."""

    record: ChangeRecord
    action: Action
    query: Query


@dataclass
class _Rollback:
    """One host's rollback: what it records and audits, and its result so far."""

    host: HostSpec
    audit: AuditLog
    changes: ChangeLog
    who: str
    result: RollbackResult
    forced: bool = False

    def guarded(self, records: Sequence[ChangeRecord], opts: RollbackOptions, probe: ProbeFn) -> bool:
        """Read the PC's processes and ask the guard; False (refused, audited) or a transport failure stops it."""
        assert opts.guard is not None
        try:
            facts = probe(self.host, ProbeRequest(want_processes=True), Deadline.after(opts.timeout_s), None)
        except TransportError as exc:
            self.result.error = T(f"无法连接主机，未回滚：{exc.text.zh}", f"host unreachable, nothing rolled back: {exc.text.en}")
            return False
        decision = opts.guard.check(facts)
        if not decision.allowed and opts.force:
            decision = decision.override()
        self.result.decision = decision
        if not decision.allowed:
            for record in records:
                self.audit.append(self.who, self.host.name, "refused", action=record.action,
                                  result=decision.summary().en, run_id=record.run_id, action_id=record.action_id,
                                  details={"rollback": True, "reasons": [r.model_dump() for r in decision.reasons],
                                           "result_text": decision.summary().model_dump()})
            return False
        self.forced = decision.forced
        return True

    def select(self, records: Sequence[ChangeRecord], keep: Sequence[ChangeRecord]) -> list[_Undo]:
        """The undos to send, newest change first; the others are recorded as skipped or failed."""
        todo: list[_Undo] = []
        for record in sorted(records, key=lambda r: r.position, reverse=True):
            if record.status not in UNDOABLE_STATUS:
                self.result.skipped[record.action_id] = _status_skip(record)
                continue
            undo = undo_action(record, keep)
            if undo is None:
                self._not_undoable(record)
                continue
            query = _check_query(record, undo, len(todo))
            assert query is not None  # every action undo_action returns has its read-back
            todo.append(_Undo(record, undo, query))
        return todo

    def _not_undoable(self, record: ChangeRecord) -> None:
        why, failed = _not_undoable_why(record)
        (self.result.failed if failed else self.result.skipped)[record.action_id] = why
        self.audit.append(self.who, self.host.name, "rollback_failed" if failed else "skipped",
                          action=record.action, before=record.before, result=why.en,
                          run_id=record.run_id, action_id=record.action_id,
                          details={"rollback": True, "result_text": why.model_dump()}, forced=self.forced)

    def lost(self, todo: Sequence[_Undo], exc: TransportError) -> None:
        error = T(f"回滚时连接中断，请再次运行回滚：{exc.text.zh}", f"connection lost during rollback; run it again: {exc.text.en}")
        self.result.error = error
        for undo in todo:
            self.result.failed[undo.record.action_id] = error
            self.audit.append(self.who, self.host.name, "rollback_failed", action=undo.action.model_dump(),
                              result=error.en, run_id=undo.record.run_id, action_id=undo.record.action_id,
                              details={"rollback": True, "result_text": error.model_dump()}, forced=self.forced)

    def settle(self, todo: Sequence[_Undo], applied: ProbeResponse, check: ProbeResponse) -> None:
        """Each undo's answer and read-back: restored (marked rolled back), not undone, or failed."""
        answers = {r.id: r for r in applied.actions}
        for undo in todo:
            record, done = undo.record, answers.get(undo.action.id)
            if isinstance(undo.action, CancelReboot) and done is not None and done.status == "skipped":
                # The reboot ran, or its task is gone: not undone, and never called restored.
                why = _reboot_not_undone(done.error or "skipped")
                self.result.skipped[record.action_id] = why
                self.audit.append(self.who, self.host.name, "skipped", action=undo.action.model_dump(),
                                  before=record.after, after=record.before, result=why.en, run_id=record.run_id,
                                  action_id=record.action_id,
                                  details={"rollback": True, "not_undone": True, "result_text": why.model_dump()},
                                  forced=self.forced)
                continue
            ok = done is not None and done.status == "ok" and _restored(undo.action, check, undo.query.id)
            outcome = "ok" if ok else (done.error if done is not None and done.error else "read-back differs")
            if ok:
                self.result.restored.append(record.action_id)
                self.changes.mark(record.action_id, "rolled_back")
            else:
                self.result.failed[record.action_id] = T(f"回滚未生效：{outcome}", f"rollback did not take effect: {outcome}")
            self.audit.append(self.who, self.host.name, "rolled_back" if ok else "rollback_failed",
                              action=undo.action.model_dump(), before=record.after, after=record.before,
                              result=outcome, run_id=record.run_id, action_id=record.action_id,
                              details=_undo_details(done), forced=self.forced)


def _undo_details(done: Any) -> dict[str, Any] | None:
    """A created key deleted by rollback comes back as a tree: keep it in the audit (it is the backup)."""
    if done is None or done.before_tree is None:
        return None
    return {"deleted_tree": done.before_tree.model_dump()}

