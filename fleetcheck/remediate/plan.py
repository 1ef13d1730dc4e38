"""The fix planner: failing findings + fresh facts + policy specs -> ordered fix steps. Pure.

No I/O, no clock (``now`` is a parameter). Input is one host's scan: its
findings, its :class:`ProbeResponse` and the policies that produced them.
Output is a :class:`HostPlan`: :class:`FixStep` s built from the agent's
write primitives (``fleetcheck.agent.contract``), each naming the check it
fixes, a bilingual ``before → after`` diff per value and whether it needs a
reboot, plus :class:`ManualStep` s for what the person at the PC must do.

Only findings with ``status: fail`` and ``fix: auto`` are planned; ``fix:
manual`` findings become manual steps with the policy's remedy text; ``fix:
none`` findings are left alone. The per-check-type planners live in
:mod:`fleetcheck.remediate.fixes` (decision: kept in the remediate package,
registered by check type name with :func:`fleetcheck.remediate.fixes.register_fix`,
so the check modules stay read-only; a new check type adds its planner there).

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
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal

from fleetcheck.agent.contract import Action, ProbeResponse, Profile, RegValue
from fleetcheck.checks.base import CheckBase, EvalContext
from fleetcheck.evaluate import select_operator
from fleetcheck.findings import Finding, FindingStatus, FixMode
from fleetcheck.i18n import T, Text
from fleetcheck.remediate.guard import TradingCalendar
from fleetcheck.templating import TemplateError, is_template, render

__all__ = [
    "DEFAULT_SITE_LIST",
    "FixStep",
    "HostPlan",
    "ManualStep",
    "PlanOptions",
    "Strategy",
    "plan_host",
    "reboot_delay",
    "show_value",
]

Strategy = Literal["user", "machine-policy"]
DEFAULT_SITE_LIST = r"C:\ProgramData\fleetcheck\sccc-sites.xml"
DEFAULT_REBOOT_AT = time(19, 0)
MIN_REBOOT_DELAY_S = 300


@dataclass(frozen=True)
class PlanOptions:
    """How to fix (CLI options and policy-level choices).

    ``installers`` maps a check id to (installer path on the PC, silent
    arguments), for ``installed_program`` checks with ``fix: auto``.
    """

    strategy: Strategy = "user"
    site_list_path: str = DEFAULT_SITE_LIST
    installers: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    calendar: TradingCalendar = field(default_factory=TradingCalendar)
    reboot_at: time = DEFAULT_REBOOT_AT


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
class HostPlan:
    host: str
    operator: Profile | None
    steps: tuple[FixStep, ...] = ()
    manual: tuple[ManualStep, ...] = ()
    notes: tuple[Text, ...] = ()

    @property
    def actions(self) -> list[Action]:
        return [a for s in self.steps for a in s.actions]

    @property
    def needs_reboot(self) -> bool:
        return any(s.needs_reboot for s in self.steps)


@dataclass(frozen=True)
class FixContext:
    """What a per-type planner may look at (pure data)."""

    ctx: EvalContext
    finding: Finding
    options: PlanOptions
    now: datetime

    @property
    def operator(self) -> Profile | None:
        return self.ctx.operator


@dataclass(frozen=True)
class Proposal:
    """A per-type planner's answer: actions + diff, or a reason it cannot be done automatically."""

    actions: tuple[Action, ...] = ()
    diff: tuple[Text, ...] = ()
    needs_reboot: bool = False
    verify: Literal["pass", "removed"] = "pass"
    follow_up: Text | None = None
    manual: Text | None = None  # set: not automatically fixable, this says why


def show_value(value: RegValue | None) -> str:
    """A registry value as a diff shows it: ``3 (DWORD)``, ``(不存在 absent)``."""
    if value is None:
        return "(不存在 absent)"
    shown = value.v if not isinstance(value.v, list) else "; ".join(value.v)
    if value.t in ("BINARY", "NONE") and isinstance(value.v, str) and len(value.v) > 24:
        shown = value.v[:24] + "…"
    return f"{shown} ({value.t})"


def reboot_delay(calendar: TradingCalendar, now: datetime, at: time = DEFAULT_REBOOT_AT) -> int:
    """Seconds from ``now`` to the reboot: today's ``at`` (office time) when still ahead, else soon.

    Never inside a trading session: a candidate inside one moves to the
    session's end. Bounded by the contract's one day.

    >>> from datetime import timezone
    >>> reboot_delay(TradingCalendar(), datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc))  # 16:00 -> 19:00
    10800
    """
    local = calendar.local(now)
    target = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    target = max(local + timedelta(seconds=MIN_REBOOT_DELAY_S), target)
    for _ in range(8):  # at most a few sessions to skip
        session = calendar.session_at(target)
        if session is None:
            break
        target = target.replace(hour=session[1].hour, minute=session[1].minute, second=0, microsecond=0)
    return max(0, min(86400, int((target - local).total_seconds())))


def _render(spec: CheckBase, variables: Mapping[str, Any]) -> CheckBase:
    names: frozenset[str] = getattr(type(spec), "templated_fields", frozenset())
    update = {n: render(getattr(spec, n), dict(variables)) for n in names if is_template(getattr(spec, n, None))}
    return spec.model_copy(update=update) if update else spec


def _specs(policies: Iterable[Any]) -> dict[tuple[str, str], tuple[CheckBase, Mapping[str, Any]]]:
    found: dict[tuple[str, str], tuple[CheckBase, Mapping[str, Any]]] = {}
    for policy in policies:
        defaults = getattr(policy, "vars", None) or {}
        for check in policy.checks:
            found[(policy.id, check.id)] = (check, defaults)
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
    from fleetcheck.remediate.fixes import FIX_PLANNERS

    opts = options or PlanOptions()
    variables = dict(host_vars or {})
    operator = select_operator(facts, variables)
    ctx = EvalContext(facts, variables, now, operator)
    specs = _specs(policies)
    steps: list[FixStep] = []
    manual: list[ManualStep] = []
    notes: list[Text] = []
    for finding in findings:
        if finding.status is not FindingStatus.fail:
            continue
        remedy = finding.remedy or finding.message or T("请按指南处理", "follow the guide")
        if finding.fix is FixMode.none:
            manual.append(ManualStep(finding.policy_id, finding.check_id, finding.title, remedy,
                                     T("没有自动修复（fix: none）", "no automatic fix (fix: none)")))
            continue
        if finding.fix is FixMode.manual:
            manual.append(ManualStep(finding.policy_id, finding.check_id, finding.title, remedy,
                                     T("策略规定需人工处理（fix: manual）", "the policy says fix: manual")))
            continue
        entry = specs.get((finding.policy_id, finding.check_id))
        planner = FIX_PLANNERS.get(finding.check_type)
        if entry is None or planner is None:
            manual.append(ManualStep(finding.policy_id, finding.check_id, finding.title, remedy,
                                     T(f"检查类型 {finding.check_type} 没有自动修复", f"check type {finding.check_type} has no automatic fix")))
            continue
        spec, defaults = entry
        try:
            spec = _render(spec, {**defaults, **variables})
            proposal = planner(spec, FixContext(ctx, finding, opts, now))
        except TemplateError as exc:
            proposal = Proposal(manual=exc.message)
        except Exception as exc:  # noqa: BLE001 - one planner bug must not lose the host's other fixes
            proposal = Proposal(manual=T(f"规划修复时出现内部错误（{type(exc).__name__}）",
                                         f"internal error while planning the fix ({type(exc).__name__})"))
        if proposal.manual is not None:
            manual.append(ManualStep(finding.policy_id, finding.check_id, finding.title, remedy, proposal.manual))
            continue
        if not proposal.actions:
            notes.append(T(f"{finding.check_id}：没有需要修改的值", f"{finding.check_id}: nothing to change"))
            continue
        steps.append(FixStep(finding.policy_id, finding.check_id, finding.title, proposal.actions, proposal.diff,
                             proposal.needs_reboot, proposal.verify, proposal.follow_up))
    return HostPlan(host, operator, tuple(_dedupe(steps)), tuple(manual), tuple(notes))


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
