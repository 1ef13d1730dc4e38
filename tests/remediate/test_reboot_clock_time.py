"""A planned reboot is shown as a clock time in the office's zone, not "in 1031 minutes" (issue 14).

The CertEnroll reinstall (win10-certenroll-old) schedules a reboot at the
plan's reboot time (19:00 Shanghai by default) or, when that has passed, soon
after now — never inside a trading session. The diff says when, zone named.
"""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from fleetcheck.agent.contract import ScheduleReboot
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.remediate.plan import PlanOptions, plan_host
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import instantiate

VARS = {"hostname": "PC1", "operator": "TRADE\\t01", "operator_name": "t01",
        "operator_sid": "S-1-5-21-1-2-3-1001", "gateway_cert": "F00504Y0007#0", "cert_kind": "file"}
POLICIES = load_policies(shipped_policy_paths())


def _reboot_lines(now: datetime, options: PlanOptions) -> tuple[int, list[str], list[str]]:
    img = instantiate("win10-certenroll-old", VARS, now)
    facts, _ = execute(img, compile_request(POLICIES))
    findings = evaluate_host(POLICIES, facts, host_vars=VARS, now=now).findings
    plan = plan_host(findings, facts, POLICIES, host_vars=VARS, now=now, options=options)
    [reboot] = [a for a in plan.actions if isinstance(a, ScheduleReboot)]
    diff = [d for s in plan.steps for d in s.diff]
    return (reboot.delay_s, [d.zh for d in diff if "重启" in d.zh], [d.en for d in diff if "reboot" in d.en])


@pytest.mark.parametrize(("now", "options", "shown"), [
    # Wed 2026-03-04 16:00 Shanghai: today's 19:00 is ahead
    (datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc), PlanOptions(), "2026-03-04 19:00 Asia/Shanghai"),
    # Wed 2026-12-02 06:00 Shanghai (still Dec 1 in UTC), reboot at 07:30: that morning, office date
    (datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc), PlanOptions(reboot_at=time(7, 30)),
     "2026-12-02 07:30 Asia/Shanghai"),
    # 22:59:30 Shanghai, reboot at 07:30 has passed today: soon (5 minutes on), to the nearest minute
    (datetime(2026, 12, 1, 14, 59, 30, tzinfo=timezone.utc), PlanOptions(reboot_at=time(7, 30)),
     "2026-12-01 23:05 Asia/Shanghai"),
])
def test_the_reboot_is_a_clock_time_with_the_zone(now: datetime, options: PlanOptions, shown: str) -> None:
    delay, zh, en = _reboot_lines(now, options)
    assert zh == [f"将于 {shown} 重启（交易时段之外）"]
    assert en == [f"reboot at {shown} (outside trading hours)"]
    assert "分钟" not in zh[0] and " min" not in en[0]
    assert delay > 0
