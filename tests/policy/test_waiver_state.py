"""Waiver states (expired / expiring / unused / active) against an office's findings, at a fixed ``now``."""

from __future__ import annotations

from datetime import date, datetime, timezone

from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, RunResult, Severity
from fleetcheck.i18n import T
from fleetcheck.policy.waivers import Waiver
from fleetcheck.policy.waiverstate import attention, classify_waivers, expires_label

# 2026-12-01 23:30 UTC is already 2026-12-02 07:30 in Shanghai: the office date decides.
NOW = datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc)


def _finding(check: str, status: FindingStatus, policy: str = "sccc") -> Finding:
    return Finding(policy_id=policy, check_id=check, check_type="registry_value", status=status,
                   severity=Severity.high, title=T("标题", "title"))


def _host(name: str, *findings: Finding, groups: tuple[str, ...] = (), status: HostStatus = HostStatus.ok) -> HostResult:
    return HostResult(host=name, groups=list(groups), status=status, findings=list(findings))


def _waiver(check: str, expires: date, *, hosts: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> Waiver:
    return Waiver(check=check, hosts=list(hosts), groups=list(groups), reason="只做查询", approver="张三",
                  expires=expires)


def _run(*hosts: HostResult) -> RunResult:
    return RunResult(run_id="r1", started=NOW, hosts=list(hosts))


def test_each_state_at_a_fixed_now() -> None:
    run = _run(
        _host("PC-1", _finding("ie-mode", FindingStatus.waived), _finding("zone", FindingStatus.fail)),
        _host("PC-2", _finding("ie-mode", FindingStatus.passed), groups=("shenzhen",)),
        _host("PC-3", _finding("usb", FindingStatus.error), groups=("shanghai",)),
    )
    waivers = [
        _waiver("ie-mode", date(2026, 12, 1), hosts=("PC-1",)),     # last day was yesterday (office date 12-02)
        _waiver("ie-mode", date(2026, 12, 2), hosts=("PC-1",)),     # last day is today: expiring, 0 left
        _waiver("zone", date(2026, 12, 16), hosts=("PC-1",)),       # 14 days left: expiring
        _waiver("zone", date(2026, 12, 17), hosts=("PC-1",)),       # 15 days left: active
        _waiver("ie-mode", date(2027, 6, 30), groups=("shenzhen",)),  # PC-2 passes: unused
        _waiver("usb", date(2027, 6, 30), groups=("shanghai",)),    # an error finding counts as used
        _waiver("sccc/zone", date(2027, 6, 30), hosts=("PC-1",)),   # policy-id/check-id form
        _waiver("zone", date(2027, 6, 30), hosts=("PC-GONE",)),     # host not in the office: unused
    ]
    states = classify_waivers(waivers, run, NOW)
    assert [(s.number, s.state, s.days_left) for s in states] == [
        (1, "expired", -1),
        (2, "expiring", 0),
        (3, "expiring", 14),
        (4, "active", 15),
        (5, "unused", 210),
        (6, "active", 210),
        (7, "active", 210),
        (8, "unused", 210),
    ]
    assert states[0].hosts == ("PC-1",) and states[4].hosts == ()


def test_expiring_window_is_configurable() -> None:
    run = _run(_host("PC-1", _finding("zone", FindingStatus.fail)))
    waiver = _waiver("zone", date(2026, 12, 20), hosts=("PC-1",))  # 18 days left
    assert classify_waivers([waiver], run, NOW)[0].state == "active"
    assert classify_waivers([waiver], run, NOW, expiring_days=30)[0].state == "expiring"


def test_unprobed_host_is_not_called_unused() -> None:
    # The findings of an unreachable PC are unknown: its waiver may still be needed.
    run = _run(_host("PC-1", status=HostStatus.unreachable))
    state, = classify_waivers([_waiver("zone", date(2027, 1, 31), hosts=("PC-1",))], run, NOW)
    assert state.state == "active"


def test_unused_wins_over_expiring_and_expired_over_all() -> None:
    run = _run(_host("PC-1", _finding("zone", FindingStatus.passed)))
    soon = _waiver("zone", date(2026, 12, 5), hosts=("PC-1",))
    gone = _waiver("zone", date(2026, 11, 1), hosts=("PC-1",))
    assert [s.state for s in classify_waivers([soon, gone], run, NOW)] == ["unused", "expired"]


def test_attention_order_and_text_name_the_zone() -> None:
    run = _run(_host("PC-1", _finding("zone", FindingStatus.fail)))
    waivers = [
        _waiver("zone", date(2027, 6, 30), hosts=("PC-9",)),   # unused
        _waiver("zone", date(2026, 12, 3), hosts=("PC-1",)),   # expiring
        _waiver("zone", date(2027, 6, 30), hosts=("PC-1",)),   # active: not listed
        _waiver("zone", date(2026, 11, 30), hosts=("PC-1",)),  # expired
    ]
    listed = attention(classify_waivers(waivers, run, NOW))
    assert [(s.number, s.state) for s in listed] == [(4, "expired"), (2, "expiring"), (1, "unused")]
    assert expires_label(waivers[1]) == "2026-12-03 Asia/Shanghai"
    assert listed[1].text.en == ("waiver #2 (zone, PC-1) expires on 2026-12-03 Asia/Shanghai (1 day left): "
                                 "只做查询 (approver 张三)")
    assert listed[0].text.zh.startswith("豁免 #4（zone，PC-1）已于 2026-11-30 Asia/Shanghai 过期")
