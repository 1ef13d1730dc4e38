"""What the dashboard does to the fleet: read the store, rescan hosts, preview and apply fixes.

No HTTP here: :class:`Fleet` is the dashboard's domain layer, used by the
routes (:mod:`fleetcheck.web.app`) and by the background jobs. It shares every
rule with the CLI: the same policies and inventory, the same sweep
(:func:`fleetcheck.runner.policy_sweep`), and its Fix is the CLI's fix
campaign (:class:`fleetcheck.remediate.campaign.Campaign`: plan, guard, apply
through :class:`fleetcheck.remediate.apply.Remediator`, verify) for one host,
with the same audit log.

Decisions:

* **A rescan records a run of the rescanned hosts only** (scope ``rescan``).
  The pages show the office state (each PC's latest observation from any run),
  so the rescanned PCs change and every other PC keeps its last result. Its
  start time is never earlier than the newest recorded run's (a clock behind
  the recorded run must not hide the rescan).
* **Fresh facts for the plan.** The store keeps no raw facts, so the planned
  fix (dry-run diff) and the guard's process check need a fresh read-only
  probe; its answer is cached for :data:`FACTS_TTL_S` seconds. The fix itself
  always probes again right before it applies anything.
* **Who.** Every audit entry written from the dashboard names the logged-in
  user as ``web:<user>``.
* **Waivers.** With a waivers file (``waivers:`` in the serve config), every
  probe is evaluated with it, as ``scan --waivers`` and ``fix --waivers`` are:
  a waived check is never planned nor changed by Fix, the preview lists it
  ("waived until DATE: reason"), and an expired waiver is not honoured and
  the preview says so.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fleetcheck.errors import FleetcheckError
from fleetcheck.findings import FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import T, Text
from fleetcheck.inventory import Inventory, InventoryError, PasswordSources, load_inventory
from fleetcheck.inventory.model import HostSpec
from fleetcheck.officetime import Clock, utc_now
from fleetcheck.policy.loader import PolicyError, WaiverError, load_policy_files, load_waivers
from fleetcheck.policy.waivers import Waiver
from fleetcheck.readiness import run_certificates
from fleetcheck.remediate.apply import Remediator
from fleetcheck.remediate.campaign import (
    Campaign,
    CampaignHooks,
    CampaignOptions,
    HostOutcome,
    plan_scan,
)
from fleetcheck.remediate.guard import (
    DEFAULT_TRADING_PROCESSES,
    Guard,
    GuardDecision,
    TradingCalendar,
)
from fleetcheck.remediate.plan import HostPlan, PlanOptions
from fleetcheck.runner import DEFAULT_TIMEOUT_S, policy_sweep
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog
from fleetcheck.web.jobs import Job, JobState

__all__ = ["DashboardError", "Fleet", "FleetSettings", "Preview"]

FACTS_TTL_S = 120.0
RESCAN_FORKS = 16


class DashboardError(FleetcheckError):
    """A configuration problem the person starting the dashboard can fix; ``text`` is bilingual."""


@dataclass(frozen=True)
class FleetSettings:
    """How the dashboard reaches the fleet. ``inventory=None``: read-only (no rescan, no fix)."""

    db_url: str | None = None
    inventory: Path | None = None
    policy_paths: tuple[str, ...] = ()
    clock: Clock = utc_now
    calendar: TradingCalendar = field(default_factory=TradingCalendar)
    trading_processes: tuple[str, ...] = DEFAULT_TRADING_PROCESSES
    timeout_s: float = DEFAULT_TIMEOUT_S
    literal_passwords_ok: bool = False  # the demo's own inventory
    waivers: Path | None = None  # the waivers file: waived checks are never planned nor changed


@dataclass(frozen=True)
class Preview:
    """What the host page shows before anyone confirms a fix."""

    host: str
    decision: GuardDecision | None
    plan: HostPlan | None
    probed_at: datetime | None
    error: Text | None = None  # could not probe / plan

    @property
    def can_fix(self) -> bool:
        return self.error is None and self.plan is not None and bool(self.plan.steps) and \
            self.decision is not None and self.decision.allowed


def _load_policies(paths: Sequence[str]) -> list[Any]:
    try:
        return load_policy_files(paths)
    except PolicyError as exc:
        raise DashboardError(T(exc.format("zh"), exc.format("en"))) from None


def _load_waivers(path: Path | None, policies: Sequence[Any]) -> tuple[Waiver, ...]:
    """The waivers file checked against the policies; a problem is a DashboardError at its file:line:col."""
    if path is None:
        return ()
    try:
        return tuple(load_waivers(path, policies))
    except WaiverError as exc:
        raise DashboardError(T(exc.format("zh"), exc.format("en"))) from None


class Fleet:
    """The dashboard's view of one store, one inventory and one policy set."""

    def __init__(self, settings: FleetSettings) -> None:
        self.settings = settings
        self.clock = settings.clock
        self.store = Store.open(settings.db_url)
        self.policies = _load_policies(settings.policy_paths)
        try:
            self.waivers = _load_waivers(settings.waivers, self.policies)
        except DashboardError:
            self.store.close()
            raise
        self.inventory: Inventory | None = None
        if settings.inventory is not None:
            try:
                self.inventory = load_inventory(settings.inventory,
                                                PasswordSources(literal_ok=settings.literal_passwords_ok))
            except InventoryError as exc:
                self.store.close()
                raise DashboardError(T(exc.format("zh"), exc.format("en"))) from None
        self.guard = Guard(settings.calendar, settings.trading_processes, clock=self.clock)
        self._facts: dict[str, tuple[float, HostResult]] = {}
        self._facts_lock = threading.Lock()
        self._record_lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ reading
    def host_spec(self, name: str) -> HostSpec | None:
        return self.inventory.hosts.get(name) if self.inventory is not None else None

    def why_read_only(self) -> Text | None:
        if self.inventory is None:
            return T("未指定清单（-i），仪表盘只读：不能重新扫描或修复",
                     "no inventory given (-i): the dashboard is read-only, no rescan or fix")
        return None

    # ------------------------------------------------------------------ scanning
    def probe(self, names: Sequence[str], on_result: Callable[[HostResult], None] | None = None) -> list[HostResult]:
        """Sweep ``names`` now (read-only probe + evaluation); caches the facts for previews."""
        specs = [s for n in names if (s := self.host_spec(n)) is not None]
        if not specs:
            return []
        sweep = policy_sweep(self.policies, specs, forks=min(RESCAN_FORKS, len(specs)),
                             timeout_s=self.settings.timeout_s, clock=self.clock,
                             inventory=str(self.settings.inventory), waivers=self.waivers)
        results = sweep.run(on_result=on_result).run.hosts
        stamp = time.monotonic()
        with self._facts_lock:
            for r in results:
                if r.status is HostStatus.ok and r.facts is not None:
                    self._facts[r.host] = (stamp, r)
                else:
                    self._facts.pop(r.host, None)
        return results

    def fresh_scan(self, name: str) -> HostResult | None:
        """A scan of ``name`` no older than :data:`FACTS_TTL_S`, probing when there is none."""
        with self._facts_lock:
            cached = self._facts.get(name)
        if cached is not None and time.monotonic() - cached[0] < FACTS_TTL_S:
            return cached[1]
        results = self.probe([name])
        return results[0] if results else None

    def forget_facts(self, name: str) -> None:
        with self._facts_lock:
            self._facts.pop(name, None)

    def record(self, results: Sequence[HostResult]) -> str | None:
        """Record rescanned hosts as a run of their own (see the module docstring); returns its id."""
        if not results:
            return None
        with self._record_lock:
            newest = self.store.list_runs(limit=1)
            hosts = [r.model_copy(update={"facts": None}) for r in results]
            started = self.clock()
            if newest and started <= newest[0].started:
                started = newest[0].started + timedelta(seconds=1)
            run = RunResult(run_id=uuid.uuid4().hex[:12], started=started, finished=started,
                            policies=[getattr(p, "id", str(p)) for p in self.policies],
                            inventory=str(self.settings.inventory), scope="rescan",
                            hosts_planned=len(hosts), hosts=hosts)
            return self.store.record_run(run, certificates=run_certificates(run))

    def rescan(self, job: Job, names: Sequence[str]) -> None:
        """Job body: rescan hosts, record the run, report each host as it finishes."""
        from fleetcheck.web.views import host_line

        job.say(T(f"正在扫描 {len(names)} 台主机…", f"scanning {len(names)} hosts…"))
        results = self.probe(names, on_result=lambda r: job.say(host_line(r)))
        run_id = self.record(results)
        ok = sum(1 for r in results if r.compliant)
        job.finish("done", T(f"扫描完成：{ok}/{len(results)} 台合规；已记录为扫描 {run_id}",
                             f"scan finished: {ok}/{len(results)} compliant; recorded as run {run_id}"),
                   run_id=run_id, compliant=ok, hosts=len(results))

    # ------------------------------------------------------------------ fixing
    def preview(self, name: str) -> Preview:
        """Guard decision and planned fix of one host, from fresh facts (probes when needed)."""
        if self.host_spec(name) is None:
            return Preview(name, None, None, None, self.why_read_only() or T(
                f"清单中没有主机 {name}", f"host {name} is not in the inventory"))
        scan = self.fresh_scan(name)
        if scan is None or scan.status is not HostStatus.ok or scan.facts is None:
            why = scan.error if scan is not None and scan.error else T("无法探测", "could not probe")
            return Preview(name, None, None, None, T(f"无法读取主机的当前状态：{why.zh}",
                                                    f"cannot read the host's current state: {why.en}"))
        return Preview(name, self.guard.check(scan.facts), self._plan(scan), scan.finished)

    def _plan_options(self) -> PlanOptions:
        return PlanOptions(calendar=self.settings.calendar)

    def _plan(self, scan: HostResult) -> HostPlan:
        spec = self.host_spec(scan.host)
        assert spec is not None
        plan = plan_scan(scan, spec, self.policies, self._plan_options(), self.clock, waivers=self.waivers)
        assert plan is not None  # the caller checked the scan has facts
        return plan

    def _fresh_probe(self, specs: Sequence[HostSpec]) -> list[HostResult]:
        """The campaign's probe: always a new read (the fix must not act on cached facts)."""
        for spec in specs:
            self.forget_facts(spec.name)
        return self.probe([s.name for s in specs])

    def fix(self, job: Job, name: str, who: str) -> None:
        """Job body: the fix campaign for one host (fresh probe, plan, guard, apply, verify), then rescan and record."""
        from fleetcheck.web.views import fix_step_lines

        spec = self.host_spec(name)
        if spec is None:
            job.finish("failed", self.why_read_only() or T(f"清单中没有主机 {name}", f"host {name} is not in the inventory"))
            return
        job.say(T("正在读取主机当前状态…", "reading the host's current state…"))
        applier = Remediator(self.policies, AuditLog(self.store), ChangeLog(self.store), self.guard,
                             who=who, timeout_s=self.settings.timeout_s, clock=self.clock)
        hooks = CampaignHooks(batch=lambda _i, names: job.say(
            T("检查交易时段与交易软件，正在应用修复…", "checking trading hours and trading clients; applying the fixes…")),
            planned=lambda host: _say_planned(job, host))
        campaign = Campaign(self.policies, self.guard, CampaignOptions(apply=True, forks=1, plan=self._plan_options(),
                                                                  waivers=self.waivers),
                            probe=self._fresh_probe, applier=applier, clock=self.clock, hooks=hooks)
        host = campaign.run([spec]).hosts[name]
        if host.scan is None or host.plan is None:
            why = host.unreachable_reason if host.scan is not None else T("无法探测", "could not probe")
            job.finish("failed", T(f"无法探测主机：{why.zh}", f"cannot probe the host: {why.en}"))
            return
        outcome = host.fix
        if host.category != "change" or outcome is None:
            self.record([host.scan])
            job.finish("done", _nothing_to_fix(host), compliant=bool(host.scan.compliant), category=host.category)
            return
        if outcome.status == "refused":
            reasons = outcome.decision.summary() if outcome.decision else T("已拒绝", "refused")
            job.finish("refused", T(f"已拒绝，未做任何修改：{reasons.zh}", f"refused, nothing changed: {reasons.en}"),
                       fix_run=applier.run_id)
            return
        for line in fix_step_lines(outcome):
            job.say(line)
        if outcome.status == "error":  # connection lost while applying: state unknown, say so plainly
            job.finish("failed", outcome.error or T("应用修复时出错", "applying the fixes failed"),
                       fix_run=applier.run_id, status=outcome.status)
            return
        job.say(T("正在重新扫描并记录…", "rescanning and recording…"))
        after = self.probe([name])
        run_id = self.record(after)
        compliant = bool(after and after[0].compliant)
        verified = outcome.status == "fixed"
        state: JobState = "done" if verified else "failed"
        verdict = T("已修复并验证", "fixed and verified") if verified else T("部分修复失败", "some fixes failed")
        now_state = T("主机现已合规", "the host is now compliant") if compliant else T("主机仍不合规（见下方检查结果）",
                                                                                   "the host is still non-compliant (see the findings)")
        job.finish(state, T(f"{verdict}；{now_state}", f"{verdict}; {now_state}"), run_id=run_id,
                   fix_run=applier.run_id, compliant=compliant, status=outcome.status)

    def failing_hosts(self, run: RunResult) -> list[str]:
        return [h.host for h in run.hosts if h.status is HostStatus.ok and any(
            f.status is FindingStatus.fail for f in h.findings)]


def _nothing_to_fix(host: HostOutcome) -> Text:
    """Why a Fix changed nothing (compliant / by hand / not evaluated), and which checks it left alone as waived."""
    why = _why_nothing(host)
    waived = [w.check_id for w in host.plan.waivers if not w.expired] if host.plan is not None else []
    if not waived:
        return why
    return T(f"{why.zh}；已豁免、未修改：{', '.join(waived)}", f"{why.en}; waived, left alone: {', '.join(waived)}")


def _why_nothing(host: HostOutcome) -> Text:
    """Why a Fix changed nothing, as truthfully as the CLI's summary (compliant / by hand / not evaluated)."""
    if host.category == "manual" and host.plan is not None:
        items = ", ".join(m.check_id for m in host.plan.manual)
        return T(f"没有可自动修复的项目；需人工处理：{items}", f"nothing to fix automatically; to do by hand: {items}")
    if host.category == "not_evaluated":
        why = host.not_evaluated()
        return T(f"已检查的项无需修改，但 {len(why)} 项未评估：{'；'.join(t.zh for t in why)}",
                 f"nothing to change in what was checked, but {len(why)} not evaluated: "
                 f"{'; '.join(t.en for t in why)}")
    return T("没有可自动修复的项目", "nothing to fix automatically")


def _say_planned(job: Job, host: HostOutcome) -> None:
    if host.plan is not None and host.plan.steps:
        job.say(T(f"计划 {len(host.plan.steps)} 项修复", f"{len(host.plan.steps)} fixes planned"))
