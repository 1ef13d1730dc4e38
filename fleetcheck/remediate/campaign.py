"""The fix campaign: sweep → plan → guard → canary/wave batches → apply → verify.

One sequence, run by ``fleetcheck fix`` (many hosts) and by the dashboard's
Fix button (one host)::

    campaign = Campaign(policies, guard, CampaignOptions(apply=True, canary=1, wave=10),
                        probe=sweep_probe(policies, forks=50, timeout_s=120, clock=clock),
                        applier=Remediator(...), clock=clock, hooks=CampaignHooks(fixed=print_host))
    outcome = campaign.run(hosts)          # never raises for a host's problems

Steps:

1. **sweep** — the injected ``probe`` reads every host now (fresh facts).
2. **plan** — :func:`plan_scan` for every host probed (pure).
3. **sort** — each host falls in one :data:`Category`: ``change`` (the plan
   has steps), ``manual`` (nothing automatic, items for a person),
   ``not_evaluated`` (nothing to do among what was checked, but some checks
   could not be evaluated — e.g. no operator logged on), ``compliant``, or
   ``unreachable`` (not probed).
4. **guard** — the pure guard's decision for every ``change`` host, so a dry
   run says now which hosts ``--apply`` would refuse.
5. **batches** — only ``change`` hosts: the canary (``canary`` hosts) first,
   then waves of ``wave`` hosts (the rest at once without ``wave``). A batch
   with a failed or errored host stops the campaign when batches were asked
   for; later batches are not touched.
6. **apply + verify** — the injected applier
   (:class:`fleetcheck.remediate.apply.Remediator`) guards, applies,
   re-probes and verifies each host of a batch (``forks`` at a time).
7. **settle** — every other probed host goes once through the applier with
   its empty plan: nothing is sent, but changes an interrupted earlier run
   left undecided are read back and decided (read-only on the PC).

Dependencies are injected (probe, applier, planner, clock), so tests drive the
whole sequence without a network or monkeypatching.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

from fleetcheck.findings import FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec
from fleetcheck.officetime import Clock, office_date, utc_now
from fleetcheck.policy.waivers import Waiver
from fleetcheck.remediate.apply import HostFix
from fleetcheck.remediate.guard import Guard, GuardDecision
from fleetcheck.remediate.plan import HostPlan, PlanOptions, expired_waiver_notes, plan_host
from fleetcheck.runner import DEFAULT_FORKS, DEFAULT_TIMEOUT_S, policy_sweep

__all__ = [
    "CATEGORIES",
    "Campaign",
    "CampaignHooks",
    "CampaignOptions",
    "CampaignOutcome",
    "Category",
    "FixApplier",
    "HostOutcome",
    "Planner",
    "ProbeHosts",
    "batches",
    "plan_scan",
    "sweep_probe",
]

Category = Literal["change", "manual", "not_evaluated", "compliant", "unreachable"]
CATEGORIES: tuple[Category, ...] = ("change", "manual", "not_evaluated", "compliant", "unreachable")

#: Sweeps hosts now and returns their results (one per host probed, any order).
ProbeHosts = Callable[[Sequence[HostSpec]], Sequence[HostResult]]
#: Plans one probed host (None: not probed); default :func:`plan_scan` with the campaign's options.
Planner = Callable[[HostResult, HostSpec], "HostPlan | None"]

STOPPED = T("本批有主机修复失败：停止，其余主机未修改", "a host in this batch failed: stopping, the other hosts are untouched")
NO_OPERATOR = T("没有操作员登录：用户设置未检查", "no operator logged on: user settings not checked")


class FixApplier(Protocol):
    """What applies one host's plan (:class:`fleetcheck.remediate.apply.Remediator`)."""

    @property
    def run_id(self) -> str: ...

    def apply_host(self, host: HostSpec, scan: HostResult, plan: HostPlan, *, force: bool = False) -> HostFix: ...


@dataclass(frozen=True)
class CampaignOptions:
    """How to run: dry run or apply, batch sizes, parallelism, the planner's options."""

    apply: bool = False
    force: bool = False  # override the guard (audited by the applier)
    canary: int | None = None
    wave: int | None = None
    forks: int = DEFAULT_FORKS
    plan: PlanOptions = field(default_factory=PlanOptions)
    # The waivers the probe evaluated with (sweep_probe(waivers=...)): a waived check is never planned;
    # an expired one is not honoured and the plan says so.
    waivers: tuple[Waiver, ...] = ()


def _ignore(*_: object) -> None:
    return None


@dataclass(frozen=True)
class CampaignHooks:
    """Progress callbacks (rendering, job messages); each defaults to doing nothing.

    ``planned`` gets every host after planning (in the hosts' order);
    ``batch`` the number and hosts of a batch before it is applied; ``fixed``
    each host the applier finished (batch hosts as their batch ends, then the
    settled ones); ``stopped`` why the campaign stopped early.
    """

    planned: Callable[[HostOutcome], None] = _ignore
    batch: Callable[[int, Sequence[str]], None] = _ignore
    fixed: Callable[[HostOutcome], None] = _ignore
    stopped: Callable[[Text], None] = _ignore


@dataclass
class HostOutcome:
    """One host through the campaign."""

    name: str
    scan: HostResult | None  # None: the probe returned nothing for it
    plan: HostPlan | None = None  # None: not probed
    decision: GuardDecision | None = None  # the guard's answer at planning time (change hosts only)
    fix: HostFix | None = None  # what the applier did (apply only)
    batch: int | None = None  # index of its batch (change hosts that were applied)

    @property
    def category(self) -> Category:
        if self.plan is None:
            return "unreachable"
        if self.plan.steps:
            return "change"
        if self.plan.manual:
            return "manual"
        if self.not_evaluated():
            return "not_evaluated"
        return "compliant"

    def not_evaluated(self) -> list[Text]:
        """Why some checks were not evaluated (distinct reasons), empty when all were."""
        if self.scan is None:
            return []
        reasons: list[Text] = []
        for finding in self.scan.findings:
            if finding.status not in (FindingStatus.not_evaluated, FindingStatus.error):
                continue
            why = finding.message or (NO_OPERATOR if self.plan is not None and self.plan.operator is None
                                      else T("无法评估", "could not be evaluated"))
            text = T(f"{finding.check_id}：{why.zh}", f"{finding.check_id}: {why.en}")
            if text not in reasons:
                reasons.append(text)
        return reasons

    @property
    def unreachable_reason(self) -> Text:
        if self.scan is not None and self.scan.error is not None:
            return self.scan.error
        return T("未返回探测结果", "no probe result")


@dataclass
class CampaignOutcome:
    """What a campaign did: every host (in the order given), its batches, and why it stopped."""

    hosts: dict[str, HostOutcome]
    applied: bool
    run_id: str | None = None  # the fix run (apply only)
    batches: list[list[str]] = field(default_factory=list)
    stopped_after: int | None = None  # index of the batch that stopped the campaign
    stop_reason: Text | None = None

    def by_category(self, category: Category) -> list[HostOutcome]:
        return [h for h in self.hosts.values() if h.category == category]

    @property
    def not_applied(self) -> list[HostOutcome]:
        """Hosts that had something to change but were never attempted (the campaign stopped first)."""
        return [h for h in self.by_category("change") if self.applied and h.fix is None]

    @property
    def fixes(self) -> list[HostFix]:
        return [h.fix for h in self.hosts.values() if h.fix is not None]

    def observations(self, now: datetime, *, policies: Sequence[str], inventory: str | None) -> RunResult | None:
        """What the campaign saw of each host, as a run to record (scope ``verify``; None: nothing probed).

        A host the applier changed is shown by its verification probe (its
        findings after the change, observed ``now``); every other probed host
        by the campaign's own probe. So the office state (dashboard, report,
        ``certs``) shows what ``fix`` just did, not the scan before it.
        """
        hosts: list[HostResult] = []
        for host in self.hosts.values():
            if host.scan is None:
                continue
            seen = host.scan.model_copy(update={"facts": None})
            if host.fix is not None and host.fix.after:
                seen = seen.model_copy(update={"findings": list(host.fix.after), "started": now, "finished": now})
            hosts.append(seen)
        if not hosts:
            return None
        return RunResult(run_id=self.run_id or uuid.uuid4().hex[:12], started=now, finished=now,
                         policies=list(policies), inventory=inventory, scope="verify",
                         hosts_planned=len(self.hosts), hosts=hosts)


def plan_scan(scan: HostResult, spec: HostSpec, policies: Sequence[object], options: PlanOptions,
              clock: Clock, *, waivers: Sequence[Waiver] = ()) -> HostPlan | None:
    """The fix plan of one probed host; None when it was not probed (no facts).

    ``waivers``: the ones the scan was evaluated with; those expired but naming a
    failing check of the host are added to the plan's notes (not honoured).
    """
    if scan.status is not HostStatus.ok or scan.facts is None:
        return None
    now = clock()
    plan = plan_host(scan.findings, scan.facts, policies, host=scan.host, host_vars=spec.host_vars,
                     now=now, options=options)
    expired = expired_waiver_notes(scan.findings, waivers, host=spec.name, groups=spec.groups, today=office_date(now))
    return replace(plan, waivers=plan.waivers + expired) if expired else plan


def batches(order: Sequence[str], canary: int | None, wave: int | None) -> list[list[str]]:
    """Canary hosts first, then waves (the rest at once without ``wave``); no empty batch."""
    out: list[list[str]] = []
    rest = list(order)
    if canary:
        out.append(rest[:canary])
        rest = rest[canary:]
    size = wave or len(rest) or 1
    out += [rest[i:i + size] for i in range(0, len(rest), size)]
    return [b for b in out if b]


def sweep_probe(policies: Sequence[object], *, forks: int = DEFAULT_FORKS, timeout_s: float = DEFAULT_TIMEOUT_S,
                clock: Clock = utc_now, inventory: str | None = None, waivers: Sequence[Waiver] = ()) -> ProbeHosts:
    """The real probe: :func:`fleetcheck.runner.policy_sweep` over the hosts (read-only), evaluated with ``waivers``."""

    def probe(hosts: Sequence[HostSpec]) -> Sequence[HostResult]:
        if not hosts:
            return []
        return policy_sweep(list(policies), list(hosts), forks=forks, timeout_s=timeout_s, clock=clock,
                            inventory=inventory, waivers=tuple(waivers)).run().run.hosts

    return probe


class Campaign:
    """One fix campaign over some hosts (see the module docstring)."""

    def __init__(self, policies: Sequence[object], guard: Guard, options: CampaignOptions, *, probe: ProbeHosts,
                 applier: FixApplier | None = None, clock: Clock = utc_now,
                 hooks: CampaignHooks | None = None, planner: Planner | None = None) -> None:
        if options.apply and applier is None:
            raise ValueError("an applying campaign needs an applier")
        self.policies = list(policies)
        self.guard = guard
        self.options = options
        self.probe = probe
        self.applier = applier
        self.clock = clock
        self.hooks = hooks or CampaignHooks()
        self.planner: Planner = planner or self._plan_scan

    def _plan_scan(self, scan: HostResult, spec: HostSpec) -> HostPlan | None:
        return plan_scan(scan, spec, self.policies, self.options.plan, self.clock, waivers=self.options.waivers)

    def run(self, hosts: Sequence[HostSpec]) -> CampaignOutcome:
        """Sweep, plan, and (``apply``) carry out the plans batch by batch."""
        outcome = self.plan(hosts)
        if not self.options.apply:
            return outcome
        assert self.applier is not None  # checked in __init__
        outcome.run_id = self.applier.run_id
        specs = {h.name: h for h in hosts}
        self._apply_batches(outcome, specs)
        settle = [h for h in outcome.hosts.values() if h.plan is not None and h.category != "change"]
        self._apply(settle, specs)
        return outcome

    def plan(self, hosts: Sequence[HostSpec]) -> CampaignOutcome:
        """Steps 1–5: sweep, plan, sort, guard and draw the batches; nothing is changed."""
        scans = {r.host: r for r in self.probe(hosts)}
        outcome = CampaignOutcome(hosts={}, applied=self.options.apply)
        for spec in hosts:
            scan = scans.get(spec.name)
            host = HostOutcome(spec.name, scan)
            if scan is not None:
                host.plan = self.planner(scan, spec)
            if host.category == "change" and scan is not None:
                host.decision = self.guard.check(scan.facts)  # pure: what --apply would meet now
            outcome.hosts[spec.name] = host
            self.hooks.planned(host)
        order = [h.name for h in outcome.hosts.values() if h.category == "change"]
        outcome.batches = batches(order, self.options.canary, self.options.wave)
        return outcome

    def _apply_batches(self, outcome: CampaignOutcome, specs: dict[str, HostSpec]) -> None:
        staged = self.options.canary is not None or self.options.wave is not None
        for index, names in enumerate(outcome.batches):
            self.hooks.batch(index, names)
            members = [outcome.hosts[n] for n in names]
            for host in members:
                host.batch = index
            self._apply(members, specs)
            failed = any(h.fix is not None and h.fix.status in ("failed", "error") for h in members)
            if failed and staged and index < len(outcome.batches) - 1:
                outcome.stopped_after = index
                outcome.stop_reason = STOPPED
                self.hooks.stopped(STOPPED)
                return

    def _apply(self, members: Sequence[HostOutcome], specs: dict[str, HostSpec]) -> None:
        """Apply each member's plan (``forks`` at a time); results reported in the members' order."""
        applier = self.applier
        if not members or applier is None:
            return

        def one(host: HostOutcome) -> HostFix:
            assert host.scan is not None and host.plan is not None
            return applier.apply_host(specs[host.name], host.scan, host.plan, force=self.options.force)

        workers = max(1, min(self.options.forks, len(members)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(one, members))
        for host, result in zip(members, done, strict=True):
            host.fix = result
            self.hooks.fixed(host)
