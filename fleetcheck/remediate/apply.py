"""Apply a host's fix plan: guard, one round trip of actions, record, re-probe, verify, audit.

``Remediator.apply_host(host, scan, plan, force=False) -> HostFix``:

1. **guard** — :class:`fleetcheck.remediate.guard.Guard` on the scan's fresh
   facts (trading session via the injected clock, trading-client processes).
   Refused: every step is audited as ``refused`` and nothing is sent. With
   ``force`` the decision is overridden and every entry says ``forced``.
2. **record first** — each action gets a unique action id and a ``changes``
   row with status ``pending`` and the prior value as the scan saw it, before
   anything is sent: if the connection breaks mid-apply, rollback still knows
   what was there.
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
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from fleetcheck.agent.contract import (
    Action,
    ActionResult,
    DeleteKey,
    DeleteValue,
    Hive,
    ProbeRequest,
    ProbeResponse,
    RegistryQuery,
    RegValue,
    SetValue,
)
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.findings import Finding, FindingStatus, HostResult
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec
from fleetcheck.remediate.guard import Guard, GuardDecision
from fleetcheck.remediate.plan import FixStep, HostPlan
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord
from fleetcheck.transport import Deadline, TransportError, probe_host

__all__ = ["HostFix", "Remediator", "StepOutcome", "key_query", "read_value"]

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


def read_value(facts: ProbeResponse, hive: str, sid: str | None, path: str, name: str) -> tuple[bool, RegValue | None]:
    """(key was read, value or None) of ``name`` in the scan's answer for key ``path``."""
    from fleetcheck.checks.base import reg_query

    qid = reg_query(hive, path).id  # type: ignore[arg-type]  # the id the checks' queries use
    for ans in facts.answers:
        if ans.id != qid or (hive == "HKU" and ans.sid != sid):
            continue
        if ans.status == "absent":
            return True, None
        if ans.status == "ok" and ans.key is not None:
            return True, ans.key.value(name)
    return False, None


def _prefixes(path: str) -> list[str]:
    parts = [p for p in path.split("\\") if p]
    return ["\\".join(parts[: i + 1]) for i in range(len(parts))]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


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
        run_id: str | None = None,
        probe: ProbeFn = probe_host,
        timeout_s: float = 120.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.policies = list(policies)
        self.audit = audit
        self.changes = changes
        self.guard = guard
        self.who = who
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.probe = probe
        self.timeout_s = timeout_s
        self.clock = clock
        self.request = compile_request(self.policies)

    # ------------------------------------------------------------------ public
    def apply_host(self, host: HostSpec, scan: HostResult, plan: HostPlan, *, force: bool = False) -> HostFix:
        """Guard, apply, record, verify one host (see the module docstring). Never raises for host problems."""
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
        ids, records = self._pre_record(host, scan, plan, forced)
        request = self._apply_request(plan, ids)
        try:
            response = self.probe(host, request, Deadline.after(self.timeout_s), None)
        except TransportError as exc:
            return self._lost(host, plan, decision, ids, records, exc)
        results = {r.id: r for r in response.actions}
        outcomes = self._record_results(host, plan, ids, records, response, results, forced)
        after = self._verify(host, plan, outcomes)
        status: HostFixStatus = "fixed" if all(o.status == "applied" for o in outcomes) else "failed"
        return HostFix(host.name, plan, status, decision, outcomes, after=after)

    # ------------------------------------------------------------------ steps
    def _pre_record(self, host: HostSpec, scan: HostResult, plan: HostPlan,
                    forced: bool) -> tuple[list[list[str]], dict[str, ChangeRecord]]:
        ids: list[list[str]] = []
        records: dict[str, ChangeRecord] = {}
        position = 0
        for step in plan.steps:
            step_ids = []
            for action in step.actions:
                aid = f"{self.run_id}-{uuid.uuid4().hex[:8]}"
                step_ids.append(aid)
                before: dict[str, Any] | None = None
                if isinstance(action, (SetValue, DeleteValue)) and scan.facts is not None:
                    found, value = read_value(scan.facts, action.hive, action.sid, action.path, action.name)
                    if found:
                        before = {"value": value.model_dump() if value else None, "from": "scan"}
                record = ChangeRecord(
                    action_id=aid, run_id=self.run_id, position=position, host=host.name, check_id=step.key,
                    kind=action.kind, action=action.model_copy(update={"id": aid}).model_dump(), before=before,
                    after=_after(action), status="pending", who=self.who, forced=forced,
                )
                self.changes.record(record)
                records[aid] = record
                position += 1
            ids.append(step_ids)
        return ids, records

    def _apply_request(self, plan: HostPlan, ids: list[list[str]]) -> ProbeRequest:
        queries: dict[str, RegistryQuery] = {}
        actions: list[Action] = []
        for step, step_ids in zip(plan.steps, ids):
            for action, aid in zip(step.actions, step_ids):
                actions.append(action.model_copy(update={"id": aid}))
                if isinstance(action, SetValue):
                    for prefix in _prefixes(action.path):
                        qid = _prefix_id(action.hive, action.sid, prefix)
                        queries.setdefault(qid, key_query(qid, action.hive, action.sid, prefix))
        return ProbeRequest(queries=list(queries.values()), actions=actions, want_processes=True)

    def _lost(self, host: HostSpec, plan: HostPlan, decision: GuardDecision, ids: list[list[str]],
              records: dict[str, ChangeRecord], exc: TransportError) -> HostFix:
        text = T(f"应用修复时连接中断：主机状态未知（动作要么全部执行，要么都未执行）。请重新运行 fleetcheck fix。{exc.text.zh}",
                 f"connection lost while applying: host state unknown (the agent runs all actions or none). "
                 f"Run fleetcheck fix again. {exc.text.en}")
        for aid, record in records.items():
            self.changes.mark(aid, "unknown", error=text.en)
            self.audit.append(self.who, host.name, "failed", action=record.action, before=record.before,
                              after=record.after, result=text.en, forced=decision.forced, run_id=self.run_id,
                              action_id=aid, details={"check": record.check_id})
        outcomes = [StepOutcome(s, "unknown", step_ids, text) for s, step_ids in zip(plan.steps, ids)]
        return HostFix(host.name, plan, "error", decision, outcomes, error=text)

    def _record_results(self, host: HostSpec, plan: HostPlan, ids: list[list[str]], records: dict[str, ChangeRecord],
                        response: ProbeResponse, results: dict[str, ActionResult], forced: bool) -> list[StepOutcome]:
        outcomes = []
        for step, step_ids in zip(plan.steps, ids):
            errors: list[str] = []
            for aid in step_ids:
                record = records[aid]
                result = results.get(aid)
                if result is None:
                    result = ActionResult(id=aid, status="error", error="the agent did not answer this action")
                record.before = _before(record, result, response)
                record.status = "applied" if result.status == "ok" else "failed"
                record.error = result.error
                self.changes.record(record)
                self.audit.append(self.who, host.name, record.status, action=record.action, before=record.before,
                                  after=record.after, result="ok" if result.status == "ok" else (result.error or result.status),
                                  forced=forced, run_id=self.run_id, action_id=aid,
                                  details={"check": step.key, "changed": result.changed})
                if result.status != "ok":
                    errors.append(result.error or result.status)
            error = T("动作失败：" + "；".join(errors), "action failed: " + "; ".join(errors)) if errors else None
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
    import hashlib

    digest = hashlib.blake2s(f"{hive}\x1f{sid or ''}\x1f{path.lower()}".encode(), digest_size=6).hexdigest()
    return f"fix-{digest}"


def _after(action: Action) -> dict[str, Any] | None:
    if isinstance(action, SetValue):
        return {"value": action.value.model_dump()}
    if isinstance(action, (DeleteValue, DeleteKey)):
        return {"absent": True}
    if action.kind == "write_file":
        import hashlib

        return {"file": {"path": action.path, "sha256": hashlib.sha256(action.content.encode("ascii")).hexdigest()}}
    return None


def _before(record: ChangeRecord, result: ActionResult, response: ProbeResponse) -> dict[str, Any] | None:
    """What rollback needs, from the agent's answer (authoritative) or, failing that, the scan."""
    if result.status != "ok":
        return record.before
    before: dict[str, Any] = {}
    action = record.action
    if record.kind in ("set_value", "delete_value"):
        before["value"] = result.before_value.model_dump() if result.before_value is not None else None
    if record.kind == "set_value" and result.before_value is None:
        before["created_key"] = _created_key(action, response)
    if result.before_tree is not None:
        before["tree"] = result.before_tree.model_dump()
    if result.before_file is not None:
        before["file"] = result.before_file.model_dump()
    if record.kind == "delete_key" and result.before_tree is None:
        before["tree"] = None
    return before


def _created_key(action: dict[str, Any], response: ProbeResponse) -> str | None:
    """The topmost ancestor of the value's key that did not exist before the write."""
    for prefix in _prefixes(str(action["path"])):
        ans = response.answer(_prefix_id(str(action["hive"]), action.get("sid"), prefix))
        if ans is not None and ans.status == "absent":
            return prefix
    return None
