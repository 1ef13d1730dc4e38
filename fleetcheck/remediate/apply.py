"""Apply a host's fix plan: guard, one round trip of actions, record, re-probe, verify, audit.

``Remediator.apply_host(host, scan, plan, force=False) -> HostFix``:

1. **guard** — :class:`fleetcheck.remediate.guard.Guard` on the scan's fresh
   facts (trading session via the injected clock, trading-client processes).
   Refused: every step is audited as ``refused`` and nothing is sent. With
   ``force`` the decision is overridden and every entry says ``forced``.
2. **write-ahead** — a fresh read of exactly what the plan will touch (every
   ancestor key of a value to be set, the value with its type, the whole tree
   of a key to be deleted, a file's content with its SHA-256), then each
   action gets a unique action id and a ``changes`` row with status
   ``pending`` and that prior state, and the audit log a ``sent`` entry
   ("outcome unknown") — all committed before the agent receives anything.
   A ``schedule_reboot`` gets its task's name here (``token``; the row's
   ``after`` holds ``\\fleetcheck-reboot-<token>``), so rollback can cancel
   the reboot whatever moment a crash hit; the next contact confirms it by
   the task's folder.
   A step whose prior state cannot be read completely (a read error, a key
   tree deeper than the agent backs up, a file larger than its backup limit)
   is not sent at all. If the process dies or the connection breaks at any
   later moment, rollback restores exactly from the write-ahead record, and
   the next contact (``fix`` or ``rollback``) reads the touched places and
   confirms each ``pending`` / ``unknown`` change as ``applied`` or
   ``not_applied`` (audited as ``confirmed``).
3. **apply** — one round trip: the actions, plus reads of every ancestor key
   of each value to be set (the agent answers reads before it writes), so a
   key the fix creates is known and rollback can remove it exactly.
4. **record results** — the agent's own ``before`` (value with type, deleted
   tree, file content) replaces the scan's; status ``applied`` / ``failed``;
   one audit entry per action.
5. **verify** — a fresh probe with the whole policy, evaluated again: every
   step's finding must now pass, else the step is reported ``failed``
   (audited). ``verify: removed`` steps (a stale ActiveX registration) are
   held to what they promise, not to the finding: the deleted keys are gone
   and the plan's reboot was accepted by the host (its ``schedule_reboot``
   action answered ok — the agent's pending-reboot fact does not see a
   ``shutdown /r /t`` on real Windows). Their finding keeps failing ("not
   registered") until the operator opens the portal after the reboot and IE
   reinstalls the control: the step's ``follow_up`` says so, and the output
   shows it.

A connection lost during step 3 leaves the pending rows as ``unknown``: the
agent ran all of the actions or none of them (it runs them in one process),
and a re-run of ``fleetcheck fix`` sees the true state and converges.

Test-only crash points: when the environment variable ``FLEETCHECK_TEST_CRASH_AT``
names one of :data:`CRASH_STEPS`, the process kills itself with SIGKILL at that
moment of an apply (``before-send``: write-ahead committed, nothing sent;
``after-act``: the agent answered, nothing recorded; ``mid-record``: the first
result recorded; ``after-record``: every result recorded, not verified). The
crash-injection tests use it; it is never set in production.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from fleetcheck.agent.budget import action_wait_ms, explain_action_error
from fleetcheck.agent.contract import (
    REBOOT_TASK_PATTERN,
    REBOOT_TEMP,
    Action,
    ActionResult,
    Answer,
    DeleteKey,
    DeleteValue,
    FileInfo,
    FileQuery,
    Hive,
    ProbeRequest,
    ProbeResponse,
    Query,
    RegistryQuery,
    RegKey,
    RegValue,
    RunInstaller,
    ScheduleReboot,
    SetValue,
    WriteFile,
)
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.findings import Finding, FindingStatus, HostResult
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec
from fleetcheck.officetime import Clock, utc_now
from fleetcheck.remediate.guard import Guard, GuardDecision
from fleetcheck.remediate.plan import FixStep, HostPlan
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord
from fleetcheck.transport import Deadline, TransportError, probe_host

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CRASH_ENV",
    "CRASH_STEPS",
    "HostFix",
    "Remediator",
    "StepOutcome",
    "confirm_unresolved",
    "key_query",
    "reboot_task",
    "recorded_reboot_task",
]

CRASH_ENV = "FLEETCHECK_TEST_CRASH_AT"  # test-only: see the module docstring
CRASH_STEPS = ("before-send", "after-act", "mid-record", "after-record")
MAX_BACKUP_BYTES = 16 * 1024 * 1024  # agent.ps1 refuses to overwrite a larger file (its backup limit)
TREE_DEPTH = 8  # agent.ps1 backs up (and so deletes) key trees down to this depth
UNRESOLVED = ("pending", "unknown")
# Actions that can leave a PC half-changed when the agent reports an error (not single-value writes).
MAYBE_PARTIAL = frozenset({"delete_key", "write_file", "restore_key", "remove_cert"})

ProbeFn = Callable[[HostSpec, ProbeRequest, Deadline, "threading.Event | None"], ProbeResponse]
StepStatus = Literal["applied", "failed", "refused", "unknown"]
HostFixStatus = Literal["nothing", "refused", "fixed", "failed", "error"]


@dataclass
class StepOutcome:
    step: FixStep
    status: StepStatus
    action_ids: list[str] = field(default_factory=list)
    error: Text | None = None


@dataclass
class HostFix:
    """What ``fix --apply`` did on one host."""

    host: str
    plan: HostPlan
    status: HostFixStatus
    decision: GuardDecision | None = None
    steps: list[StepOutcome] = field(default_factory=list)
    error: Text | None = None
    after: list[Finding] = field(default_factory=list)  # findings of the verification probe


def key_query(qid: str, hive: Hive, sid: str | None, path: str, depth: int = 0) -> RegistryQuery:
    """A read of exactly one key (for HKU: below ``HKEY_USERS\\<sid>``), not per user."""
    full = f"{sid}\\{path}" if hive == "HKU" and sid else path
    return RegistryQuery(id=qid, hive=hive, path=full, per_user=False, depth=depth)


def _prefixes(path: str) -> list[str]:
    parts = [p for p in path.split("\\") if p]
    return ["\\".join(parts[: i + 1]) for i in range(len(parts))]


class RemediatorOptions(TypedDict, total=False):
    """The optional keywords of :class:`Remediator` (default in brackets).

    ``run_id`` [a new random id]: the fix run the changes belong to;
    ``probe`` [probe_host]: how one host is asked; ``timeout_s`` [120]: each
    round trip's deadline; ``clock`` [utc_now]: the instant verification
    evaluates at.
    """

    run_id: str | None
    probe: ProbeFn
    timeout_s: float
    clock: Clock


@dataclass
class _Sent:
    """The write-ahead batch of one apply: the steps sent, their action ids (per step), their change rows."""

    steps: Sequence[FixStep]
    ids: list[list[str]]
    records: dict[str, ChangeRecord]

    def per_step(self) -> list[tuple[FixStep, list[str]]]:
        return list(zip(self.steps, self.ids, strict=True))  # one id list per step, built together


class Remediator:
    """Carries out plans on hosts; one instance per ``fleetcheck fix`` run (its ``run_id``)."""

    def __init__(
        self,
        policies: Sequence[Any],
        audit: AuditLog,
        changes: ChangeLog,
        guard: Guard,
        *,
        who: str,
        **options: Unpack[RemediatorOptions],
    ) -> None:
        self.policies = list(policies)
        self.audit = audit
        self.changes = changes
        self.guard = guard
        self.who = who
        self.run_id = options.get("run_id") or uuid.uuid4().hex[:12]
        self.probe: ProbeFn = options.get("probe", probe_host)
        self.timeout_s: float = options.get("timeout_s", 120.0)
        self.clock: Clock = options.get("clock", utc_now)
        self.request = compile_request(self.policies)

    # ------------------------------------------------------------------ public
    def apply_host(self, host: HostSpec, scan: HostResult, plan: HostPlan, *, force: bool = False) -> HostFix:
        """Guard, apply, record, verify one host (see the module docstring). Never raises for host problems."""
        unresolved = self.changes.unresolved(host.name)
        if unresolved:
            # A crash or a lost connection left changes of an earlier run undecided: this contact decides them.
            confirm_unresolved(host, unresolved, self.audit, self.changes, who=self.who, probe=self.probe,
                               timeout_s=self.timeout_s)
        if not plan.steps:
            return HostFix(host.name, plan, "nothing")
        decision = self.guard.check(scan.facts)
        if not decision.allowed:
            if not force:
                for step in plan.steps:
                    self.audit.append(self.who, host.name, "refused", action=[a.model_dump() for a in step.actions],
                                      result=decision.summary().en, run_id=self.run_id,
                                      details={"check": step.key, "reasons": [r.model_dump() for r in decision.reasons]})
                return HostFix(host.name, plan, "refused", decision,
                               [StepOutcome(s, "refused", error=decision.summary()) for s in plan.steps])
            decision = decision.override()
        forced = decision.forced
        reads = write_ahead_request(plan.actions)
        try:
            # Only a reboot or an installer (nothing to back up): no read needed.
            prior = self.probe(host, reads, Deadline.after(self.timeout_s), None) if reads.queries else None
        except TransportError as exc:
            text = T(f"无法读取修改前的状态，未发送任何修改：{exc.text.zh}",
                     f"could not read the prior state; nothing was sent: {exc.text.en}")
            return HostFix(host.name, plan, "error", decision, [StepOutcome(s, "failed", error=text) for s in plan.steps],
                           error=text)
        backups, problems = _backups(plan, prior)
        sendable = [s for s in plan.steps if s.key not in problems]
        sent = self._pre_record(host, sendable, backups, forced)
        outcomes: list[StepOutcome] = []
        if sent.records:
            _crash_point("before-send")
            request = self._apply_request(sent)
            try:
                response = self.probe(host, request, Deadline.after(self.timeout_s), None)
            except TransportError as exc:
                return self._lost(host, plan, decision, sent, exc, problems)
            _crash_point("after-act")
            outcomes = self._record_results(host, sent, response, forced)
            _crash_point("after-record")
        outcomes += [StepOutcome(s, "failed", error=problems[s.key]) for s in plan.steps if s.key in problems]
        order = {s.key: i for i, s in enumerate(plan.steps)}
        outcomes.sort(key=lambda o: order[o.step.key])
        after = self._verify(host, plan, outcomes) if sent.records else []
        status: HostFixStatus = "fixed" if all(o.status == "applied" for o in outcomes) else "failed"
        return HostFix(host.name, plan, status, decision, outcomes, after=after)

    # ------------------------------------------------------------------ steps
    def _pre_record(self, host: HostSpec, steps: Sequence[FixStep], backups: dict[int, dict[str, Any] | None],
                    forced: bool) -> _Sent:
        """Write-ahead: a ``pending`` change row with the exact prior state and a ``sent`` audit entry per action."""
        ids: list[list[str]] = []
        records: dict[str, ChangeRecord] = {}
        position = 0
        for step in steps:
            step_ids = []
            for action in step.actions:
                aid = f"{self.run_id}-{uuid.uuid4().hex[:8]}"
                step_ids.append(aid)
                update: dict[str, Any] = {"id": aid}
                if isinstance(action, ScheduleReboot):
                    # The task's name, recorded before sending: rollback can cancel it after any crash.
                    update["token"] = uuid.uuid4().hex
                before = backups.get(id(action))
                sent = action.model_copy(update=update)
                record = ChangeRecord(
                    action_id=aid, run_id=self.run_id, position=position, host=host.name, check_id=step.key,
                    kind=sent.kind, action=sent.model_dump(),
                    before=before, after=_after(sent), status="pending", who=self.who,
                    forced=forced,
                )
                self.changes.record(record)
                records[aid] = record
                position += 1
            ids.append(step_ids)
        for record in records.values():
            self.audit.append(self.who, host.name, "sent", action=record.action, before=record.before,
                              after=record.after, result="outcome unknown until the agent's answer is recorded",
                              forced=forced, run_id=self.run_id, action_id=record.action_id,
                              details={"check": record.check_id, "outcome": "unknown"})
        return _Sent(steps, ids, records)

    def apply_request(self, steps: Sequence[FixStep], ids: list[list[str]],
                      records: dict[str, ChangeRecord] | None = None) -> ProbeRequest:
        """The apply round trip for ``steps``: their actions under ``ids`` (one list per step, one id per action).

        Installers get a wait inside the host deadline, reboots the guarded
        trading processes (and the task name of their write-ahead row in
        ``records``); reads of every ancestor key of each value set ride along.
        """
        return self._apply_request(_Sent(steps, ids, records or {}))

    def _apply_request(self, sent: _Sent) -> ProbeRequest:
        queries: dict[str, RegistryQuery] = {}
        actions: list[Action] = []
        records = sent.records
        for step, step_ids in sent.per_step():
            for action, aid in zip(step.actions, step_ids, strict=True):  # one id per action (_pre_record)
                update: dict[str, Any] = {"id": aid}
                if isinstance(action, RunInstaller):
                    # Waited for inside the host deadline: WinRM ends it with the shell.
                    update["timeout_ms"] = action_wait_ms(self.timeout_s, action.timeout_ms)
                elif isinstance(action, ScheduleReboot):
                    if aid in records:
                        update["token"] = records[aid].action["token"]  # the name the write-ahead record holds
                    if not action.guard_processes:
                        # The reboot task re-checks these at reboot time.
                        update["guard_processes"] = list(self.guard.trading_processes)
                actions.append(action.model_copy(update=update))
                if isinstance(action, SetValue):
                    for prefix in _prefixes(action.path):
                        qid = _prefix_id(action.hive, action.sid, prefix)
                        queries.setdefault(qid, key_query(qid, action.hive, action.sid, prefix))
        return ProbeRequest(queries=list(queries.values()), actions=actions, want_processes=True)

    def _lost(self, host: HostSpec, plan: HostPlan, decision: GuardDecision, sent: _Sent, exc: TransportError,
              problems: dict[str, Text]) -> HostFix:
        text = T(f"应用修复时连接中断：主机状态未知（动作要么全部执行，要么都未执行）。请重新运行 fleetcheck fix。{exc.text.zh}",
                 f"connection lost while applying: host state unknown (the agent runs all actions or none). "
                 f"Run fleetcheck fix again. {exc.text.en}")
        for aid, record in sent.records.items():
            self.changes.mark(aid, "unknown", error=text.en)
            self.audit.append(self.who, host.name, "unknown", action=record.action, before=record.before,
                              after=record.after, result=text.en, forced=decision.forced, run_id=self.run_id,
                              action_id=aid, details={"check": record.check_id, "outcome": "unknown"})
        outcomes = [StepOutcome(s, "unknown", step_ids, text) for s, step_ids in sent.per_step()]
        outcomes += [StepOutcome(s, "failed", error=problems[s.key]) for s in plan.steps if s.key in problems]
        return HostFix(host.name, plan, "error", decision, outcomes, error=text)

    def _record_results(self, host: HostSpec, sent: _Sent, response: ProbeResponse, forced: bool) -> list[StepOutcome]:
        results = {r.id: r for r in response.actions}
        outcomes = []
        recorded = 0
        for step, step_ids in sent.per_step():
            errors: list[Text] = []
            for aid in step_ids:
                record = sent.records[aid]
                result = results.get(aid)
                if result is None:
                    result = ActionResult(id=aid, status="error", error="the agent did not answer this action")
                record.before = _before(record, result, response)
                if record.kind == "schedule_reboot" and result.status == "ok" and result.task:
                    record.after = {**(record.after or {}), "task": result.task}  # the name the agent used
                if result.status == "ok":
                    record.status = "applied"
                elif record.kind in MAYBE_PARTIAL:
                    # The agent failed partway (e.g. DeleteSubKeyTree stopped at one subkey, a file
                    # truncated before a full disk): the PC may be half-changed. "unknown" keeps the
                    # write-ahead prior state undoable; the next contact decides what is in place.
                    record.status = "unknown"
                else:
                    record.status = "failed"
                record.error = result.error
                self.changes.record(record)
                self.audit.append(self.who, host.name, record.status, action=record.action, before=record.before,
                                  after=record.after, result="ok" if result.status == "ok" else (result.error or result.status),
                                  forced=forced, run_id=self.run_id, action_id=aid,
                                  details={"check": step.key, "changed": result.changed})
                recorded += 1
                if recorded == 1:
                    _crash_point("mid-record")
                if result.status != "ok":
                    errors.append(explain_action_error(result.error or result.status))
            error = (T("动作失败：" + "；".join(e.zh for e in errors), "action failed: " + "; ".join(e.en for e in errors))
                     if errors else None)
            outcomes.append(StepOutcome(step, "failed" if errors else "applied", step_ids, error))
        return outcomes

    def _verify(self, host: HostSpec, plan: HostPlan, outcomes: list[StepOutcome]) -> list[Finding]:
        removed: dict[str, RegistryQuery] = {}
        for step in plan.steps:
            if step.verify == "removed":
                for action in step.actions:
                    if isinstance(action, DeleteKey):
                        qid = _prefix_id(action.hive, action.sid, action.path)
                        removed[qid] = key_query(qid, action.hive, action.sid, action.path)
        # Decided before verification can change any status: did the host accept a reboot?
        reboot_scheduled = any(o.status == "applied" and any(a.kind == "schedule_reboot" for a in o.step.actions)
                               for o in outcomes)
        request = self.request.model_copy(update={"queries": [*self.request.queries, *removed.values()]})
        try:
            facts = self.probe(host, request, Deadline.after(self.timeout_s), None)
        except TransportError as exc:
            for outcome in outcomes:
                if outcome.status == "applied":
                    outcome.status = "failed"
                    outcome.error = T(f"无法重新探测以验证：{exc.text.zh}", f"could not re-probe to verify: {exc.text.en}")
            return []
        evaluation = evaluate_host(self.policies, facts, host_vars=host.host_vars, now=self.clock(),
                                   host=host.name, groups=tuple(host.groups))
        by_key = {f"{f.policy_id}/{f.check_id}": f for f in evaluation.findings}
        for outcome in outcomes:
            if outcome.status != "applied":
                continue
            problem = self._verify_step(outcome.step, by_key.get(outcome.step.key), facts, removed, reboot_scheduled)
            if problem is not None:
                outcome.status = "failed"
                outcome.error = problem
                self.audit.append(self.who, host.name, "failed", result="verification failed: " + problem.en,
                                  run_id=self.run_id, details={"check": outcome.step.key, "actions": outcome.action_ids})
        return evaluation.findings

    @staticmethod
    def _verify_step(step: FixStep, finding: Finding | None, facts: ProbeResponse,
                     removed: dict[str, RegistryQuery], reboot_scheduled: bool = False) -> Text | None:
        if step.verify == "removed":
            still = [q.path for q in removed.values() for a in step.actions
                     if isinstance(a, DeleteKey) and q.id == _prefix_id(a.hive, a.sid, a.path)
                     and (ans := facts.answer(q.id)) is not None and ans.status == "ok"]
            if still:
                return T(f"旧注册仍然存在：{', '.join(still)}", f"the stale registration is still there: {', '.join(still)}")
            if step.needs_reboot and not reboot_scheduled:
                return T("旧注册已删除，但重启未能安排：控件要在重启后才能重新安装",
                         "the stale registration is gone, but no reboot could be scheduled: "
                         "the control can only be reinstalled after a reboot")
            return None
        if finding is None:
            return T("重新探测后找不到该检查的结果", "the check has no finding after the re-probe")
        if finding.status is FindingStatus.passed:
            return None
        why = finding.message or T(finding.status.value, finding.status.value)
        return T(f"修复后检查仍未通过：{why.zh}", f"the check still does not pass after the fix: {why.en}")


def _prefix_id(hive: str, sid: str | None, path: str) -> str:
    digest = hashlib.blake2s(f"{hive}\x1f{sid or ''}\x1f{path.lower()}".encode(), digest_size=6).hexdigest()
    return f"fix-{digest}"


def _tree_id(hive: str, sid: str | None, path: str) -> str:
    return "wa-tree-" + _prefix_id(hive, sid, path)[4:]


def _file_id(path: str) -> str:
    return "wa-file-" + hashlib.blake2s(path.lower().encode("utf-8", "replace"), digest_size=6).hexdigest()


def _crash_point(step: str) -> None:
    """Test-only: die like ``kill -9`` at ``step`` when ``FLEETCHECK_TEST_CRASH_AT`` names it."""
    if os.environ.get(CRASH_ENV) != step:
        return
    kill = getattr(signal, "SIGKILL", None)
    if kill is not None:
        os.kill(os.getpid(), kill)
    os._exit(137)  # pragma: no cover - platforms without SIGKILL


def write_ahead_request(actions: Sequence[Action]) -> ProbeRequest:
    """The reads that capture exactly what ``actions`` will change (see the module docstring, step 2)."""
    queries: dict[str, Query] = {}
    for action in actions:
        if isinstance(action, (SetValue, DeleteValue)):
            for prefix in _prefixes(action.path):
                qid = _prefix_id(action.hive, action.sid, prefix)
                queries.setdefault(qid, key_query(qid, action.hive, action.sid, prefix))
        elif isinstance(action, DeleteKey):
            qid = _tree_id(action.hive, action.sid, action.path)
            queries.setdefault(qid, key_query(qid, action.hive, action.sid, action.path, depth=TREE_DEPTH))
        elif isinstance(action, WriteFile):
            qid = _file_id(action.path)
            queries.setdefault(qid, FileQuery(id=qid, path=action.path, content=True,
                                              max_content_bytes=MAX_BACKUP_BYTES))
    return ProbeRequest(queries=list(queries.values()), want_processes=False)


def _file_backup(info: FileInfo) -> dict[str, Any]:
    out = info.model_dump()
    data = info.content_bytes() if info.exists else None
    out["sha256"] = hashlib.sha256(data).hexdigest() if data is not None else None
    return out


def _unreadable(path: str, why: str | None) -> Text:
    return T(f"无法读取 {path} 修改前的状态（{why or '无回答'}），此步骤未发送",
             f"could not read the prior state of {path} ({why or 'no answer'}): this step was not sent")


Backup = tuple[dict[str, Any] | None, Text | None]  # (the prior state, or why it cannot be captured)


def _value_backup(action: SetValue | DeleteValue, prior: ProbeResponse) -> Backup:
    """The value (with its type) before the write, and the topmost key the write would create."""
    created: str | None = None
    value: RegValue | None = None
    prefixes = _prefixes(action.path)
    for prefix in prefixes:
        ans = prior.answer(_prefix_id(action.hive, action.sid, prefix))
        if ans is None or ans.status == "error":
            return None, _unreadable(prefix, ans.error if ans is not None else None)
        if ans.status == "absent":
            created = prefix
            break
        if prefix == prefixes[-1] and ans.key is not None:  # the value's own key
            value = ans.key.value(action.name)
    before: dict[str, Any] = {"value": value.model_dump() if value is not None else None, "from": "write-ahead"}
    if isinstance(action, SetValue) and value is None:
        before["created_key"] = created
    return before, None


def _tree_backup(action: DeleteKey, prior: ProbeResponse) -> Backup:
    """The whole key tree a deletion removes (refused when deeper than the agent backs up)."""
    ans = prior.answer(_tree_id(action.hive, action.sid, action.path))
    if ans is None or ans.status == "error":
        return None, _unreadable(action.path, ans.error if ans is not None else None)
    tree: RegKey | None = ans.key if ans.status == "ok" else None
    if tree is not None and _truncated(tree):
        return None, T(f"{action.path} 的键树超过 {TREE_DEPTH} 层，无法完整备份：此步骤未发送",
                       f"the key tree {action.path} is deeper than {TREE_DEPTH} levels and cannot be backed up "
                       "whole: this step was not sent")
    return {"tree": tree.model_dump() if tree is not None else None, "from": "write-ahead"}, None


def _file_backup_of(action: WriteFile, prior: ProbeResponse) -> Backup:
    """The file's content before it is overwritten (refused above the agent's backup limit)."""
    ans = prior.answer(_file_id(action.path))
    if ans is None or ans.status == "error" or ans.file is None:
        return None, _unreadable(action.path, ans.error if ans is not None else None)
    if ans.file.exists and (ans.file.content is None or ans.file.content_truncated):
        return None, T(f"{action.path} 超过 {MAX_BACKUP_BYTES // 2**20} MB，无法备份：此步骤未发送",
                       f"{action.path} is larger than {MAX_BACKUP_BYTES // 2**20} MB and cannot be backed up: "
                       "this step was not sent")
    return {"file": _file_backup(ans.file), "from": "write-ahead"}, None


def _backup(action: Action, prior: ProbeResponse | None) -> Backup:
    """(the exact prior state of what ``action`` changes, or why it cannot be captured)."""
    if prior is None:
        return None, None  # write_ahead_request had nothing to read: no action here changes a value, key or file
    if isinstance(action, (SetValue, DeleteValue)):
        return _value_backup(action, prior)
    if isinstance(action, DeleteKey):
        return _tree_backup(action, prior)
    if isinstance(action, WriteFile):
        return _file_backup_of(action, prior)
    # Nothing to back up: an installer or certificates are not reversible; a reboot's task did not
    # exist before, and its name (chosen here, sent as ``token``) is in the row's ``after``.
    return None, None


def _truncated(tree: RegKey) -> bool:
    return tree.truncated or any(_truncated(sub) for sub in tree.subkeys.values())


def _backups(plan: HostPlan, prior: ProbeResponse | None) -> tuple[dict[int, dict[str, Any] | None], dict[str, Text]]:
    """Per action (by ``id()``) its write-ahead backup; per step key why it cannot be sent."""
    backups: dict[int, dict[str, Any] | None] = {}
    problems: dict[str, Text] = {}
    for step in plan.steps:
        for action in step.actions:
            before, problem = _backup(action, prior)
            if problem is not None:
                problems.setdefault(step.key, problem)
            backups[id(action)] = before
    return backups, problems


def _after(action: Action) -> dict[str, Any] | None:
    if isinstance(action, SetValue):
        return {"value": action.value.model_dump()}
    if isinstance(action, (DeleteValue, DeleteKey)):
        return {"absent": True}
    if action.kind == "write_file":
        return {"file": {"path": action.path, "sha256": hashlib.sha256(action.content.encode("ascii")).hexdigest()}}
    if isinstance(action, ScheduleReboot) and action.token:
        return {"task": reboot_task(action.token)}
    return None


def reboot_task(token: str) -> str:
    """The task agent.ps1 registers for a ScheduleReboot with ``token``."""
    return "\\fleetcheck-reboot-" + token


def recorded_reboot_task(record: ChangeRecord) -> str | None:
    """The reboot task a ``schedule_reboot`` change row names, when it is a valid fleetcheck name.

    Strict (a row edited in the database never names another task): exactly
    ``\\fleetcheck-reboot-<32 lowercase hex>``.
    """
    task = (record.after or {}).get("task")
    if isinstance(task, str) and re.fullmatch(REBOOT_TASK_PATTERN[1:-1], task):
        return task
    return None


def _before(record: ChangeRecord, result: ActionResult, response: ProbeResponse) -> dict[str, Any] | None:
    """What rollback needs: the agent's own answer (read at the moment of the write) over the write-ahead record."""
    if result.status != "ok":
        return record.before
    before: dict[str, Any] = dict(record.before or {})
    before.pop("from", None)
    action = record.action
    if record.kind in ("set_value", "delete_value"):
        before["value"] = result.before_value.model_dump() if result.before_value is not None else None
    if record.kind == "set_value":
        if result.before_value is None:
            before["created_key"] = _created_key(action, response) if response.answers else before.get("created_key")
        else:
            before.pop("created_key", None)
    if record.kind == "delete_key":
        before["tree"] = result.before_tree.model_dump() if result.before_tree is not None else None
    if record.kind == "write_file" and result.before_file is not None:
        info = result.before_file
        if not info.exists or (info.content is not None and not info.content_truncated):
            before["file"] = _file_backup(info)
    return before


def _created_key(action: dict[str, Any], response: ProbeResponse) -> str | None:
    """The topmost ancestor of the value's key that did not exist before the write."""
    for prefix in _prefixes(str(action["path"])):
        ans = response.answer(_prefix_id(str(action["hive"]), action.get("sid"), prefix))
        if ans is not None and ans.status == "absent":
            return prefix
    return None


# --------------------------------------------------------------------------- the next contact


def _confirm_query(record: ChangeRecord, qid: str) -> Query | None:
    a = record.action
    if record.kind in ("set_value", "delete_value"):
        return key_query(qid, a["hive"], a.get("sid"), str(a["path"]))
    if record.kind == "delete_key":  # the whole tree: a partial deletion is neither state
        return key_query(qid, a["hive"], a.get("sid"), str(a["path"]), depth=TREE_DEPTH)
    if record.kind == "write_file":
        return FileQuery(id=qid, path=str(a["path"]), content=True, max_content_bytes=MAX_BACKUP_BYTES)
    if record.kind == "schedule_reboot" and (task := recorded_reboot_task(record)) is not None:
        # The folder the agent makes before it registers the task, kept after the task ran.
        return FileQuery(id=qid, path=REBOOT_TEMP + task + "\\guard.txt")
    return None


def _value_in_place(record: ChangeRecord, ans: Answer) -> bool | None:
    a, before = record.action, record.before or {}
    now = ans.key.value(str(a["name"])) if ans.status == "ok" and ans.key is not None else None
    want = RegValue.model_validate(a["value"]) if record.kind == "set_value" else None
    old = before.get("value")
    if now == want:
        return True
    if "value" in before and now == (RegValue.model_validate(old) if old is not None else None):
        return False
    return None


def _tree_in_place(record: ChangeRecord, ans: Answer) -> bool | None:
    if ans.status == "absent":
        return True
    tree = (record.before or {}).get("tree")
    if tree is None or ans.key is None:
        return None
    # Still exactly the prior tree: not applied. Anything else (some subkeys gone, an agent
    # that failed partway) cannot be told apart from other changes: undecided, so rollback
    # restores the recorded tree.
    return False if ans.key == RegKey.model_validate(tree) else None


def _file_in_place(record: ChangeRecord, ans: Answer) -> bool | None:
    info = ans.file
    if info is None:
        return None
    data = info.content_bytes() if info.exists else None
    if data is not None and data == base64.b64decode(str(record.action.get("content", ""))):
        return True
    old = (record.before or {}).get("file")
    if not isinstance(old, dict):
        return None
    if not old.get("exists") and not info.exists:
        return False
    if old.get("exists") and data is not None and old.get("sha256") == hashlib.sha256(data).hexdigest():
        return False
    return None


def _reboot_in_place(record: ChangeRecord, ans: Answer) -> bool | None:
    del record  # the task's folder decides
    return ans.status == "ok" and ans.file is not None and ans.file.exists


_IN_PLACE: dict[str, Callable[[ChangeRecord, Answer], bool | None]] = {
    "set_value": _value_in_place,
    "delete_value": _value_in_place,
    "delete_key": _tree_in_place,
    "schedule_reboot": _reboot_in_place,
    "write_file": _file_in_place,
}


def _in_place(record: ChangeRecord, facts: ProbeResponse, qid: str) -> bool | None:
    """True: the change is on the PC; False: the PC still holds the prior state; None: cannot tell."""
    ans = facts.answer(qid)
    if ans is None or ans.status == "error":
        return None
    judge = _IN_PLACE.get(record.kind)
    return judge(record, ans) if judge is not None else None


def confirm_unresolved(host: HostSpec, records: Sequence[ChangeRecord], audit: AuditLog, changes: ChangeLog, *,
                       who: str, probe: ProbeFn = probe_host, timeout_s: float = 120.0) -> dict[str, str]:
    """Decide ``pending`` / ``unknown`` changes (a crash or lost connection left them) by reading the PC.

    Each one the read decides becomes ``applied`` (the change is on the PC) or
    ``not_applied`` (the PC holds the prior state), audited as ``confirmed``;
    the others (unreadable, or neither state) stay as they are. Returns
    action id -> new status. Never raises for host problems.
    """
    todo: list[tuple[ChangeRecord, str]] = []
    queries: list[Query] = []
    for n, record in enumerate(r for r in records if r.status in UNRESOLVED):
        query = _confirm_query(record, f"confirm-{n}")
        if query is not None:
            todo.append((record, query.id))
            queries.append(query)
    if not queries:
        return {}
    try:
        facts = probe(host, ProbeRequest(queries=queries, want_processes=False), Deadline.after(timeout_s), None)
    except TransportError:
        return {}
    decided: dict[str, str] = {}
    for record, qid in todo:
        state = _in_place(record, facts, qid)
        if state is None:
            continue
        status = "applied" if state else "not_applied"
        changes.mark(record.action_id, status)
        record.status = status
        decided[record.action_id] = status
        audit.append(who, host.name, "confirmed", action=record.action, before=record.before, after=record.after,
                     result=("the change is on the PC" if state else "the change did not reach the PC"),
                     forced=record.forced, run_id=record.run_id, action_id=record.action_id,
                     details={"check": record.check_id, "outcome": status, "was": "unresolved"})
    return decided
