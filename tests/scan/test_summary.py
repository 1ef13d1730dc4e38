"""The post-sweep summary (pure): counts, exit codes, top failing checks, expiring certificates."""

from __future__ import annotations

from datetime import datetime, timezone

from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, RunResult, Severity
from fleetcheck.i18n import T
from fleetcheck.report.summary import render_summary, summarize


def _finding(check: str, status: FindingStatus, check_type: str = "zone_action", **details: object) -> Finding:
    return Finding(policy_id="p", check_id=check, check_type=check_type, status=status, severity=Severity.high,
                   title=T(f"标题{check}", f"title {check}"), details=details)


def _run(*hosts: HostResult) -> RunResult:
    return RunResult(run_id="r", started=datetime(2026, 5, 1, tzinfo=timezone.utc), hosts=list(hosts))


OK = FindingStatus.passed
FAIL = FindingStatus.fail
CERT = {"subject_cn": "F00504Y0007#0", "thumbprint": "AB" * 20, "not_after": "2026-05-10", "kind": "file"}


def test_counts_exit_codes_and_certificates() -> None:
    compliant = HostResult(host="A", status=HostStatus.ok, findings=[_finding("c1", OK)])
    broken = HostResult(host="B", status=HostStatus.ok, findings=[
        _finding("c1", FAIL), _finding("c2", FAIL),
        _finding("present", OK, "certificate", days_left=9, **CERT),
        _finding("validity", FAIL, "certificate", days_left=9, **CERT),
    ])
    down = HostResult(host="C", status=HostStatus.refused, error_class="Refused")
    summary = summarize(_run(compliant, broken), total=2, thresholds={"p/validity": 30})
    assert (summary.compliant, summary.noncompliant, summary.exit_code) == (1, 1, 1)
    assert [c.host for c in summary.expiring] == ["B"]  # one certificate, seen by two checks
    assert summary.failing_checks[0][:2] in (("p/c1", 1), ("p/c2", 1))
    assert summarize(_run(compliant), total=1, thresholds={}).exit_code == 0
    with_down = summarize(_run(compliant, broken, down), total=3, thresholds={})
    assert with_down.exit_code == 3 and with_down.unprobed == {"Refused": 1}
    interrupted = summarize(_run(compliant), total=5, thresholds={}, interrupted=True)
    assert interrupted.exit_code == 3
    text = render_summary(interrupted, "zh", 1.0)
    assert "已中断" in text and "4 台未检查" in text
    english = render_summary(summary, "en", 2.0)
    assert "F00504Y0007#0  9 days left" in english and "compliant 1   non-compliant 1" in english
