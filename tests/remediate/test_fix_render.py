"""``fix``'s rendering of a campaign (issue 14, "fix tells the truth"), both languages, no network.

A host whose checks were not all evaluated is never "nothing to change"; the
summary separates compliant, nothing auto-fixable (the manual items named),
not evaluated (with why) and not probed, and names the hosts a stopped
campaign never touched.
"""

from __future__ import annotations

from fleetcheck.agent.contract import OsFacts, ProbeResponse, RegValue, SetValue
from fleetcheck.commands.fix import exit_code, render_campaign_summary, render_plan
from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, Severity
from fleetcheck.i18n import T
from fleetcheck.remediate.apply import HostFix
from fleetcheck.remediate.campaign import CampaignOutcome, HostOutcome
from fleetcheck.remediate.plan import FixStep, HostPlan, ManualStep

FACTS = ProbeResponse(agent_version="test", elapsed_ms=1, os=OsFacts(
    version="10.0.19045", build=19045, caption="Windows 10", arch="x64", ps_version="5.1", clr_version="4.0",
    acp=936, oem_cp=936, hostname="PC"))
STEP = FixStep("p", "zone-flags", T("区域", "zone"), (SetValue(id="a1", hive="HKLM", path="SOFTWARE\\X", name="v",
                                                             value=RegValue(t="DWORD", v=0)),), ())

NO_OPERATOR = T("没有操作员登录：用户设置未检查", "no operator logged on: user settings not checked")
MANUAL = ManualStep("p", "feitian-driver", T("驱动", "driver"), T("安装驱动", "install the driver"),
                    T("策略规定需人工处理", "the policy says fix: manual"))


def _scan(name: str, *statuses: FindingStatus) -> HostResult:
    findings = [Finding(policy_id="p", check_id=f"c{i}", check_type="registry_value", status=s, severity=Severity.high,
                        title=T("检查", "check"), message=NO_OPERATOR if s is FindingStatus.not_evaluated else None)
                for i, s in enumerate(statuses)]
    return HostResult(host=name, status=HostStatus.ok, facts=FACTS, findings=findings)


def _office(applied: bool) -> CampaignOutcome:
    down = HostResult(host="PC-DOWN", status=HostStatus.refused, error_class="Refused",
                      error=T("连接被拒绝", "connection refused"))
    hosts = {
        "PC-OK": HostOutcome("PC-OK", _scan("PC-OK", FindingStatus.passed), HostPlan("PC-OK", None)),
        "PC-MAN": HostOutcome("PC-MAN", _scan("PC-MAN", FindingStatus.fail), HostPlan("PC-MAN", None, manual=(MANUAL,))),
        "PC-BLIND": HostOutcome("PC-BLIND", _scan("PC-BLIND", FindingStatus.passed, FindingStatus.not_evaluated),
                                HostPlan("PC-BLIND", None)),
        "PC-DOWN": HostOutcome("PC-DOWN", down),
        "PC-FIX": HostOutcome("PC-FIX", _scan("PC-FIX", FindingStatus.fail), HostPlan("PC-FIX", None, steps=(STEP,))),
        "PC-LATER": HostOutcome("PC-LATER", _scan("PC-LATER", FindingStatus.fail),
                                HostPlan("PC-LATER", None, steps=(STEP,))),
    }
    outcome = CampaignOutcome(hosts=hosts, applied=applied, batches=[["PC-FIX"], ["PC-LATER"]])
    if applied:
        fix = hosts["PC-FIX"]
        assert fix.plan is not None
        fix.fix, fix.batch = HostFix("PC-FIX", fix.plan, "failed"), 0
        outcome.run_id, outcome.stopped_after = "run1", 0
    return outcome


def test_a_host_with_unevaluated_checks_is_not_nothing_to_change() -> None:
    scan = _scan("PC-BLIND", FindingStatus.passed, FindingStatus.not_evaluated)
    en = render_plan(scan, HostPlan("PC-BLIND", None), "en")
    assert en[0] == "PC-BLIND [no operator logged on: user settings not checked]: " \
                    "nothing to change in what was checked; 1 not evaluated"
    zh = render_plan(scan, HostPlan("PC-BLIND", None), "zh")
    assert zh[0].endswith("已检查的项无需修改；1 项未评估") and "无需修改" not in zh[0].split("：", 1)[0]
    clean = render_plan(_scan("PC-OK", FindingStatus.passed), HostPlan("PC-OK", None), "en")
    assert clean[0].endswith(": nothing to change")


def test_a_diff_shows_absence_in_one_language() -> None:
    step = FixStep("p", "zone-flags", T("区域", "zone"), STEP.actions,
                   (T("HKU\\S-1\\Zones\\2\\1004: (不存在 absent) → 0 (DWORD)",
                      "HKU\\S-1\\Zones\\2\\1004: (不存在 absent) → 0 (DWORD)"),))
    plan = HostPlan("PC", None, steps=(step,))
    en = render_plan(_scan("PC", FindingStatus.fail), plan, "en")
    zh = render_plan(_scan("PC", FindingStatus.fail), plan, "zh")
    assert "      HKU\\S-1\\Zones\\2\\1004: (absent) → 0 (DWORD)" in en
    assert "      HKU\\S-1\\Zones\\2\\1004: (不存在) → 0 (DWORD)" in zh


def test_dry_run_summary_separates_every_kind_of_host() -> None:
    en = render_campaign_summary(_office(applied=False), "en")
    assert en[0] == ("dry run: 2 actions in all on 2 hosts (add --apply to carry them out); compliant 1; "
                     "nothing to fix automatically 1; not evaluated 1; not probed 1")
    assert "  compliant, nothing to change: 1 (PC-OK)" in en
    assert "  nothing to fix automatically, to do by hand: PC-MAN [feitian-driver]" in en
    assert "  not evaluated (cannot say nothing to change): PC-BLIND (c1: no operator logged on: user settings not " \
           "checked)" in en
    assert "  not probed: PC-DOWN (connection refused)" in en
    zh = render_campaign_summary(_office(applied=False), "zh")
    assert zh[0] == "预演：2 台主机共 2 个动作（加 --apply 执行）；合规 1 台；没有可自动修复的项 1 台；未评估 1 台；无法检查 1 台"
    assert "  未评估（不能说无需修改）：PC-BLIND（c1：没有操作员登录：用户设置未检查）" in zh
    assert "  无法检查：PC-DOWN（连接被拒绝）" in zh
    assert exit_code(_office(applied=False)) == 3  # an unreachable host wins


def test_apply_summary_names_what_a_stop_left_untouched() -> None:
    en = render_campaign_summary(_office(applied=True), "en")
    assert en[0] == ("summary: failed 1, not applied (stopped) 1, compliant 1, nothing to fix automatically 1, "
                     "not evaluated 1, not probed 1")
    assert "  stopped after a failure, not changed: PC-LATER" in en
    assert en[-1] == "fix run run1 (undo: fleetcheck rollback --run run1)"
    zh = render_campaign_summary(_office(applied=True), "zh")
    assert zh[0].startswith("汇总：失败 1 台，未执行（已停止）1 台，合规 1 台")
    assert "  因修复失败而停止，未修改：PC-LATER" in zh


def test_exit_code_is_one_while_anything_is_left_for_a_person() -> None:
    only_blind = CampaignOutcome(hosts={"B": HostOutcome("B", _scan("B", FindingStatus.not_evaluated),
                                                         HostPlan("B", None))}, applied=False)
    assert exit_code(only_blind) == 1  # not evaluated is not "nothing left to fix"
    clean = CampaignOutcome(hosts={"A": HostOutcome("A", _scan("A", FindingStatus.passed), HostPlan("A", None))},
                            applied=True)
    assert exit_code(clean) == 0
    fixed_with_manual = HostPlan("F", None, steps=(STEP,), manual=(MANUAL,))
    host = HostOutcome("F", _scan("F", FindingStatus.fail), fixed_with_manual)
    host.fix = HostFix("F", fixed_with_manual, "fixed")
    assert exit_code(CampaignOutcome(hosts={"F": host}, applied=True)) == 1
