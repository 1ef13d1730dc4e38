"""The fix planner: failing findings + fresh facts + policy specs -> ordered fix steps. Pure.

No I/O, no clock (``now`` is a parameter). Input is one host's scan: its
findings, its :class:`ProbeResponse` and the policies that produced them.
Output is a :class:`HostPlan`: :class:`FixStep` s built from the agent's
write primitives (``fleetcheck.agent.contract``), each naming the check it
fixes, a bilingual ``before → after`` diff per value and whether it needs a
reboot, plus :class:`ManualStep` s for what the person at the PC must do.

Only findings with ``status: fail`` and ``fix: auto`` are planned (a
``waived`` finding — an unexpired waiver, marked by the evaluator — never is:
it becomes a :class:`WaiverNote` saying until when and why; an expired
waiver is not honoured, and :func:`expired_waiver_notes` says so); ``fix:
manual`` findings become manual steps with the policy's remedy text; ``fix:
none`` findings are left alone. The per-check-type planners live in
:mod:`fleetcheck.remediate.fixes`, one module per check type (decision: kept in
the remediate package, registered by check type name with
:func:`fleetcheck.remediate.fixes.register_fix`, so the check modules stay
read-only; a new check type adds its planner there). What a planner gets and
returns is in :mod:`fleetcheck.remediate.proposal`, which both import: the
planners never import this module.

Strategies (``PlanOptions.strategy``, CLI ``--strategy``):

* ``user`` (default) — user-scoped settings are written to the operator's hive
  ``HKU\\<SID>`` (the profile :func:`fleetcheck.evaluate.select_operator` picks);
* ``machine-policy`` — the HKLM Policies keys instead (zone actions under
  ``...\\Policies\\...\\Internet Settings\\Zones\\<z>``, trusted sites as
  ``ZoneMapKey`` entries), which every user of the PC gets.

Whatever the strategy, a value is written where it takes effect: when a
policy layer overrides the preference, the policy value is corrected (writing
the preference would change nothing).

Example::

    plan = plan_host(findings, facts, policies, host_vars=host.host_vars, now=now)
    for step in plan.steps: print(step.title, [d.en for d in step.diff])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from fleetcheck.agent.contract import Action, ProbeResponse, Profile
from fleetcheck.checks.base import CheckBase, EvalContext
from fleetcheck.checks.facts import FactError
from fleetcheck.evaluate import render_spec, select_operator
from fleetcheck.findings import Finding, FindingStatus, FixMode
from fleetcheck.i18n import T, Text
from fleetcheck.policy.waivers import Waiver
from fleetcheck.remediate.fixes import FIX_PLANNERS
from fleetcheck.remediate.proposal import (
    DEFAULT_SITE_LIST,
    FixContext,
    PlanOptions,
    Proposal,
    Strategy,
    reboot_delay,
    show_value,
)
from fleetcheck.templating import TemplateError

__all__ = [
    "DEFAULT_SITE_LIST",
    "FixStep",
    "HostPlan",
    "ManualStep",
    "PlanOptions",
    "Strategy",
    "WaiverNote",
    "expired_waiver_notes",
    "plan_host",
    "reboot_delay",
    "show_value",
]


@dataclass(frozen=True)
class FixStep:
    """One fix for one finding: contract actions in order, the diff a person reads, reboot need.

    ``verify`` says what the re-probe must show: ``"pass"`` (the finding now
    passes) or ``"removed"`` (stale ActiveX registrations: the keys are gone;
    the control itself comes back from the portal after the reboot).
    """

    policy_id: str
    check_id: str
    title: Text
    actions: tuple[Action, ...]
    diff: tuple[Text, ...]
    needs_reboot: bool = False
    verify: Literal["pass", "removed"] = "pass"
    follow_up: Text | None = None  # what a person still does afterwards (reinstall from the portal)

    @property
    def key(self) -> str:
        return f"{self.policy_id}/{self.check_id}"


@dataclass(frozen=True)
class ManualStep:
    """A finding fleetcheck cannot fix: what the person at the PC must do."""

    policy_id: str
    check_id: str
    title: Text
    remedy: Text
    reason: Text


@dataclass(frozen=True)
class WaiverNote:
    """A failing check the plan leaves alone because of a waiver, or a waiver it does not honour (expired)."""

    policy_id: str
    check_id: str
    expires: date
    reason: str
    approver: str
    expired: bool = False

    @property
    def text(self) -> Text:
        """``waived until DATE: reason (approver)`` or ``waiver expired on DATE: not honoured (reason)``."""
        day = self.expires.isoformat()
        if self.expired:
            return T(f"豁免已于 {day} 过期，不再生效，照常修复（{self.reason}，批准：{self.approver}）",
                     f"waiver expired on {day}: not honoured, fixed as usual ({self.reason}; approver {self.approver})")
        return T(f"已豁免至 {day}：{self.reason}（批准：{self.approver}），不做修改",
                 f"waived until {day}: {self.reason} (approver {self.approver}); not changed")


@dataclass(frozen=True)
class HostPlan:
    host: str
    operator: Profile | None
    steps: tuple[FixStep, ...] = ()
    manual: tuple[ManualStep, ...] = ()
    notes: tuple[Text, ...] = ()
    waivers: tuple[WaiverNote, ...] = ()  # waived checks left alone, expired waivers not honoured

    @property
    def actions(self) -> list[Action]:
        return [a for s in self.steps for a in s.actions]

    @property
    def needs_reboot(self) -> bool:
        return any(s.needs_reboot for s in self.steps)


@dataclass(frozen=True)
class _Spec:
    """A policy's check as the planner needs it: the spec, the policy's variable defaults, its render memo."""

    check: CheckBase
    defaults: Mapping[str, Any]
    memo: dict[str, str]


def _specs(policies: Iterable[Any]) -> dict[tuple[str, str], _Spec]:
    found: dict[tuple[str, str], _Spec] = {}
    for policy in policies:
        defaults = getattr(policy, "vars", None) or {}
        memo: dict[str, str] = {}  # per host and policy, as the evaluator renders
        for check in policy.checks:
            found[(policy.id, check.id)] = _Spec(check, defaults, memo)
    return found


def plan_host(
    findings: Sequence[Finding],
    facts: ProbeResponse,
    policies: Iterable[Any],
    *,
    host: str = "",
    host_vars: Mapping[str, Any] | None = None,
    now: datetime,
    options: PlanOptions | None = None,
) -> HostPlan:
    """Plan the fixes of one host (see the module docstring). Pure."""
    opts = options or PlanOptions()
    variables = dict(host_vars or {})
    operator = select_operator(facts, variables)
    ctx = EvalContext(facts, variables, now, operator)
    specs = _specs(policies)
    steps: list[FixStep] = []
    manual: list[ManualStep] = []
    notes: list[Text] = []
    waived = tuple(w for w in (_waived(f) for f in findings) if w is not None)
    for finding in findings:
        if finding.status is not FindingStatus.fail:
            continue
        result = _plan_finding(finding, specs.get((finding.policy_id, finding.check_id)), ctx, opts)
        if isinstance(result, FixStep):
            steps.append(result)
        elif isinstance(result, ManualStep):
            manual.append(result)
        else:
            notes.append(result)
    return HostPlan(host, operator, tuple(_dedupe(steps)), tuple(manual), tuple(notes), waived)


def _waived(finding: Finding) -> WaiverNote | None:
    """The note of a finding the evaluator marked waived (its ``waiver`` record), else None."""
    record = finding.waiver
    if finding.status is not FindingStatus.waived or not record:
        return None
    try:
        expires = date.fromisoformat(str(record.get("expires")))
    except ValueError:  # a record from elsewhere without a date: still waived, never planned
        expires = date.max
    return WaiverNote(finding.policy_id, finding.check_id, expires, str(record.get("reason", "")),
                      str(record.get("approver", "")))


def expired_waiver_notes(findings: Sequence[Finding], waivers: Sequence[Waiver], *, host: str,
                         groups: Sequence[str], today: date) -> tuple[WaiverNote, ...]:
    """The expired waivers naming a failing check of ``host``: not honoured (the check is planned), said so. Pure."""
    notes: list[WaiverNote] = []
    for finding in findings:
        if finding.status not in (FindingStatus.fail, FindingStatus.error):
            continue
        for waiver in waivers:
            if waiver.expired(today) and waiver.matches(finding.policy_id, finding.check_id, host, list(groups)):
                notes.append(WaiverNote(finding.policy_id, finding.check_id, waiver.expires, waiver.reason,
                                        waiver.approver, expired=True))
                break
    return tuple(notes)


def _plan_finding(finding: Finding, entry: _Spec | None, ctx: EvalContext, opts: PlanOptions) -> FixStep | ManualStep | Text:
    """One failing finding: its fix step, a manual step saying why not, or a note that nothing changes."""
    remedy = finding.remedy or finding.message or T("请按指南处理", "follow the guide")

    def manual(reason: Text) -> ManualStep:
        return ManualStep(finding.policy_id, finding.check_id, finding.title, remedy, reason)

    if finding.fix is FixMode.none:
        return manual(T("没有自动修复（fix: none）", "no automatic fix (fix: none)"))
    if finding.fix is FixMode.manual:
        return manual(T("策略规定需人工处理（fix: manual）", "the policy says fix: manual"))
    planner = FIX_PLANNERS.get(finding.check_type)
    if entry is None or planner is None:
        return manual(T(f"检查类型 {finding.check_type} 没有自动修复", f"check type {finding.check_type} has no automatic fix"))
    try:
        spec = render_spec(entry.check, {**entry.defaults, **ctx.host_vars}, entry.memo)
        proposal = planner(spec, FixContext(ctx, finding, opts, ctx.now))
    except TemplateError as exc:
        proposal = Proposal(manual=exc.message)
    except FactError as exc:  # a fact the fix needs is missing (no operator for a user setting, an unread key)
        proposal = Proposal(manual=exc.message)
    except Exception as exc:  # noqa: BLE001 - one planner bug must not lose the host's other fixes
        proposal = Proposal(manual=T(f"规划修复时出现内部错误（{type(exc).__name__}）",
                                     f"internal error while planning the fix ({type(exc).__name__})"))
    if proposal.manual is not None:
        return manual(proposal.manual)
    if not proposal.actions:
        return T(f"{finding.check_id}：没有需要修改的值", f"{finding.check_id}: nothing to change")
    return FixStep(finding.policy_id, finding.check_id, finding.title, proposal.actions, proposal.diff,
                   proposal.needs_reboot, proposal.verify, proposal.follow_up)


def _dedupe(steps: list[FixStep]) -> list[FixStep]:
    """Drop actions an earlier step already carries (two checks wanting the same value written)."""
    seen: set[str] = set()
    out: list[FixStep] = []
    reboot_planned = False
    for step in steps:
        kept: list[Action] = []
        for action in step.actions:
            if action.kind == "schedule_reboot":
                if reboot_planned:
                    continue
                reboot_planned = True
                kept.append(action)
                continue
            ident = action.model_dump_json(exclude={"id"})
            if ident not in seen:
                seen.add(ident)
                kept.append(action)
        out.append(FixStep(step.policy_id, step.check_id, step.title, tuple(kept), step.diff, step.needs_reboot,
                           step.verify, step.follow_up))
    return out
