"""The fix campaign (remediate/campaign.py) with injected probe, planner and applier: no network, no monkeypatching.

What is pinned here: canary and waves are drawn only from hosts with something
to change; a failing batch stops the campaign and later hosts are never
attempted; every host falls in exactly one category (change, manual,
not_evaluated, compliant, unreachable); a dry run never calls the applier; the
other probed hosts are settled (empty plan) so an earlier run's undecided
changes are decided, but never in a batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from fleetcheck.agent.contract import OsFacts, ProbeResponse, RegValue, SetValue
from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, Severity
from fleetcheck.i18n import T
from fleetcheck.inventory.model import HostSpec
from fleetcheck.remediate.apply import HostFix, HostFixStatus, StepOutcome
from fleetcheck.remediate.campaign import (
    Campaign,
    CampaignHooks,
    CampaignOptions,
    HostOutcome,
    batches,
)
from fleetcheck.remediate.guard import Guard, TradingCalendar
from fleetcheck.remediate.plan import FixStep, HostPlan, ManualStep

AFTER_CLOSE = datetime(2026, 3, 4, 8, 30, tzinfo=timezone.utc)  # Wed 16:30 Shanghai
FACTS = ProbeResponse(agent_version="test", elapsed_ms=1, os=OsFacts(
    version="10.0.19045", build=19045, caption="Windows 10", arch="x64", ps_version="5.1", clr_version="4.0",
    acp=936, oem_cp=936, hostname="PC"))
STEP = FixStep("p", "zone-flags", T("区域", "zone"), (SetValue(id="a1", hive="HKLM", path="SOFTWARE\\X", name="v",
                                                             value=RegValue(t="DWORD", v=0)),), ())
MANUAL = ManualStep("p", "feitian-driver", T("驱动", "driver"), T("安装", "install"), T("人工", "by hand"))


def _finding(check: str, status: FindingStatus) -> Finding:
    return Finding(policy_id="p", check_id=check, check_type="registry_value", status=status,
                   severity=Severity.high, title=T(check, check),
                   message=T("没有操作员登录", "no operator logged on") if status is FindingStatus.not_evaluated else None)


class Office:
    """Hosts by kind; a probe that answers for the reachable ones and a planner that reads the kind."""

    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds
        self.specs = [HostSpec(name=n, address="127.0.0.1") for n in kinds]

    def probe(self, hosts: Sequence[HostSpec]) -> list[HostResult]:
        out = []
        for h in hosts:
            kind = self.kinds[h.name]
            if kind == "down":
                out.append(HostResult(host=h.name, status=HostStatus.refused, error=T("拒绝连接", "connection refused")))
                continue
            status = FindingStatus.not_evaluated if kind == "blind" else FindingStatus.passed
            out.append(HostResult(host=h.name, status=HostStatus.ok, facts=FACTS,
                                  findings=[_finding("zone-flags", status)]))
        return out

    def plan(self, scan: HostResult, spec: HostSpec) -> HostPlan | None:
        if scan.facts is None:
            return None
        kind = self.kinds[spec.name]
        if kind in ("broken", "fails"):
            return HostPlan(spec.name, None, steps=(STEP,))
        if kind == "manual":
            return HostPlan(spec.name, None, manual=(MANUAL,))
        return HostPlan(spec.name, None)


class Applier:
    """Records every host it is asked to apply; ``fails`` hosts fail."""

    run_id = "run-test"

    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds
        self.calls: list[tuple[str, int]] = []  # (host, steps in its plan)
        self._lock = threading.Lock()

    def apply_host(self, host: HostSpec, scan: HostResult, plan: HostPlan, *, force: bool = False) -> HostFix:
        with self._lock:
            self.calls.append((host.name, len(plan.steps)))
        if not plan.steps:
            return HostFix(host.name, plan, "nothing")
        status: HostFixStatus = "failed" if self.kinds[host.name] == "fails" else "fixed"
        return HostFix(host.name, plan, status, steps=[StepOutcome(s, "applied" if status == "fixed" else "failed")
                                                       for s in plan.steps])


def _campaign(office: Office, applier: Applier | None, **options: object) -> Campaign:
    guard = Guard(TradingCalendar(), clock=lambda: AFTER_CLOSE)
    return Campaign([], guard, CampaignOptions(apply=applier is not None, **options),  # type: ignore[arg-type]
                    probe=office.probe, applier=applier, planner=office.plan, clock=lambda: AFTER_CLOSE)


def _changed(applier: Applier) -> list[str]:
    return [name for name, steps in applier.calls if steps]


def test_the_canary_is_drawn_from_hosts_that_need_a_change_not_the_first_compliant_ones() -> None:
    kinds = {"PC-01": "ok", "PC-02": "ok", "PC-03": "fails", "PC-04": "broken", "PC-05": "broken"}
    office, applier = Office(kinds), Applier(kinds)
    outcome = _campaign(office, applier, canary=1, wave=2).run(office.specs)
    assert outcome.batches == [["PC-03"], ["PC-04", "PC-05"]]
    assert _changed(applier) == ["PC-03"]  # exactly one PC changed, one that needed it, then the stop
    assert outcome.stopped_after == 0 and outcome.stop_reason is not None
    assert [h.name for h in outcome.not_applied] == ["PC-04", "PC-05"]
    assert outcome.hosts["PC-04"].fix is None and outcome.hosts["PC-04"].batch is None
    assert outcome.run_id == "run-test"


def test_a_passing_canary_goes_on_wave_by_wave_and_a_failing_wave_stops_the_rest() -> None:
    kinds = {"A": "broken", "B": "broken", "C": "fails", "D": "broken", "E": "broken"}
    office, applier = Office(kinds), Applier(kinds)
    outcome = _campaign(office, applier, canary=1, wave=2).run(office.specs)
    assert outcome.batches == [["A"], ["B", "C"], ["D", "E"]]
    assert sorted(_changed(applier)) == ["A", "B", "C"]
    assert outcome.stopped_after == 1 and [h.name for h in outcome.not_applied] == ["D", "E"]
    assert outcome.hosts["B"].batch == 1 and outcome.hosts["A"].batch == 0


def test_without_canary_or_wave_a_failure_does_not_stop_the_others() -> None:
    kinds = {"A": "fails", "B": "broken"}
    office, applier = Office(kinds), Applier(kinds)
    outcome = _campaign(office, applier).run(office.specs)
    assert outcome.batches == [["A", "B"]] and outcome.stopped_after is None
    assert sorted(_changed(applier)) == ["A", "B"]


def test_every_host_falls_in_one_category() -> None:
    kinds = {"ok": "ok", "man": "manual", "blind": "blind", "down": "down", "fix": "broken"}
    office = Office(kinds)
    outcome = _campaign(office, None).run(office.specs)
    assert {n: h.category for n, h in outcome.hosts.items()} == {
        "ok": "compliant", "man": "manual", "blind": "not_evaluated", "down": "unreachable", "fix": "change"}
    blind = outcome.hosts["blind"].not_evaluated()
    assert [t.en for t in blind] == ["zone-flags: no operator logged on"]
    assert outcome.hosts["down"].unreachable_reason.en == "connection refused"
    assert outcome.hosts["fix"].decision is not None and outcome.hosts["fix"].decision.allowed
    assert outcome.hosts["ok"].decision is None  # the guard is asked only where something would change


def test_a_dry_run_never_calls_the_applier_and_an_apply_needs_one() -> None:
    kinds = {"A": "broken"}
    office = Office(kinds)
    outcome = _campaign(office, None, canary=1).run(office.specs)
    assert not outcome.applied and outcome.batches == [["A"]] and outcome.hosts["A"].fix is None
    assert outcome.not_applied == []  # a dry run leaves nothing "not applied"
    with pytest.raises(ValueError, match="applier"):
        Campaign([], Guard(), CampaignOptions(apply=True), probe=office.probe)


def test_hosts_with_nothing_to_change_are_settled_after_the_batches_never_inside_them() -> None:
    kinds = {"ok": "ok", "fails": "fails", "later": "broken", "man": "manual", "down": "down"}
    office, applier = Office(kinds), Applier(kinds)
    seen: list[str] = []
    hooks = CampaignHooks(batch=lambda i, names: seen.append(f"batch {i}: {','.join(names)}"),
                          fixed=lambda h: seen.append(f"fixed {h.name}"), stopped=lambda why: seen.append("stopped"))
    campaign = _campaign(office, applier, canary=1)
    campaign.hooks = hooks
    outcome = campaign.run(office.specs)
    assert seen == ["batch 0: fails", "fixed fails", "stopped", "fixed ok", "fixed man"]
    assert applier.calls == [("fails", 1), ("ok", 0), ("man", 0)]  # unreachable hosts are not contacted again
    assert outcome.hosts["ok"].fix is not None and outcome.hosts["ok"].fix.status == "nothing"
    assert outcome.hosts["ok"].category == "compliant"


def test_planned_hook_sees_every_host_in_order() -> None:
    kinds = {"B": "down", "A": "broken", "C": "ok"}
    office = Office(kinds)
    names: list[str] = []

    def planned(host: HostOutcome) -> None:
        names.append(host.name)

    campaign = _campaign(office, None)
    campaign.hooks = CampaignHooks(planned=planned)
    campaign.run(office.specs)
    assert names == ["B", "A", "C"]


@pytest.mark.parametrize(("canary", "wave", "expected"), [
    (None, None, [["a", "b", "c", "d", "e"]]),
    (2, None, [["a", "b"], ["c", "d", "e"]]),
    (None, 2, [["a", "b"], ["c", "d"], ["e"]]),
    (1, 3, [["a"], ["b", "c", "d"], ["e"]]),
    (9, 2, [["a", "b", "c", "d", "e"]]),
])
def test_batches(canary: int | None, wave: int | None, expected: list[list[str]]) -> None:
    assert batches(list("abcde"), canary, wave) == expected
    assert batches([], canary, wave) == []
