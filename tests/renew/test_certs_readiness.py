"""Readiness in ``fleetcheck certs``: READY, or BLOCKED with the blocking checks (issue 7)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, RunResult, Severity
from fleetcheck.i18n import T
from fleetcheck.readiness import ReadinessState, host_readiness
from fleetcheck.store import Store

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
PACK = "sccc-gateway-cert"


def _finding(check: str, requirement: str, status: FindingStatus, days: int | None = None) -> Finding:
    details = {}
    if days is not None:
        details = {"subject_cn": f"CN-{check}#0", "thumbprint": "AB" * 20, "days_left": days,
                   "not_after": (NOW + timedelta(days=days)).isoformat(), "issuer": "CA", "kind": "file",
                   "has_private_key": True, "store": "registry", "user": "TRADE\\t"}
    return Finding(policy_id=PACK, check_id=check, check_type="certificate" if days is not None else "zone_action",
                   status=status, severity=Severity.high, title=T(check, check), requirement=requirement,
                   details=details)


def _host(name: str, days: int, *extra: Finding) -> HostResult:
    validity = _finding("gateway-cert-validity", "R14", FindingStatus.fail if days < 30 else FindingStatus.passed, days)
    return HostResult(host=name, status=HostStatus.ok, operator="TRADE\\t", operator_sid="S-1-5-21-1",
                      findings=[_finding("zone2-activex-prompt", "R3", FindingStatus.passed), validity, *extra])


def test_certs_shows_ready_and_blocked_with_blocking_checks(tmp_path: Path) -> None:
    run = RunResult(run_id="run-ready", started=NOW, hosts=[
        _host("PC-READY", 12),
        _host("PC-BLOCKED", 12, _finding("zone2-unsigned-activex", "R4", FindingStatus.fail),
              _finding("portal-reachable", "R15", FindingStatus.error)),
        _host("PC-EXPIRED", -3),
        _host("PC-LATER", 200),
    ])
    states = {h.host: host_readiness(h).state for h in run.hosts}
    assert states == {"PC-READY": ReadinessState.ready, "PC-BLOCKED": ReadinessState.blocked,
                      "PC-EXPIRED": ReadinessState.blocked, "PC-LATER": ReadinessState.not_due}
    db = f"sqlite:///{tmp_path / 'h.db'}"
    with Store.open(db) as store:
        store.record_run(run, certificates=())
    result = CliRunner().invoke(main, ["--lang", "en", "certs", "--db", db])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[2].strip(): line for line in result.stdout.splitlines() if line.count("│") > 3}
    assert "ready" in lines["PC-READY"] and "zone2" not in lines["PC-READY"]
    assert "blocked" in lines["PC-BLOCKED"]
    assert "zone2-unsigned-activex, portal-reachable" in lines["PC-BLOCKED"]
    assert "gateway-cert-validity" in lines["PC-EXPIRED"]  # expired: online renewal impossible
    assert "not due" in lines["PC-LATER"]
