"""``fleetcheck fix`` / ``rollback`` / ``audit`` end to end on a small simulated office (issue 6 acceptance).

One host per broken image the planner can fix, plus a compliant one. The
guard's clock is fixed with ``--now``. The shipped images are after hours (no
trading client), but FX-00 is still trading: its image (this module's
``TRADING_ZONE_FLAGS_IMAGE``) runs ``TdxW.exe`` (通达信), so tests that must be
allowed there name another trading-client process.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.findings import FindingStatus, FixMode
from fleetcheck.inventory import PasswordSources, load_inventory
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.runner import policy_sweep
from fleetcheck.sim.faults import FaultSpec
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office
from fleetcheck.store import Store

pytestmark = pytest.mark.sim

IMAGES = [
    "win10-zone-flags-wrong",
    "win10-no-trusted-site",
    "win10-no-ie-mode",
    "win10-certenroll-old",
    "win10-activex-disabled",
    "win10-download-restricted",
    "win10-machine-policy",
    "win7-no-2200",
    "win10-compliant",
]
AT_1600 = "2026-03-04T16:00:00+08:00"  # a Wednesday
AT_1000 = "2026-03-04T10:00:00+08:00"
NOT_RUNNING = ["--trading-process", "XtItClient.exe"]
TRADING_ZONE_FLAGS_IMAGE = """\
description: Windows 10, zone 2 flags wrong (R3-R5), trading client TdxW.exe running (fix tests)
extends: win10-zone-flags-wrong
processes:
  - {name: TdxW.exe, user: '${operator}'}
  - {name: msedge.exe, user: '${operator}'}
"""


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOffice, Path]]:
    state = tmp_path_factory.mktemp("fixoffice")
    trading = state / "trading-zone-flags-wrong.yaml"
    trading.write_text(TRADING_ZONE_FLAGS_IMAGE, encoding="utf-8")
    images = [str(trading) if img == "win10-zone-flags-wrong" else img for img in IMAGES]  # FX-00 trades
    groups = [{"name": img.replace("-", "_"), "image": path, "count": 1, "vars": {"hostname": f"FX-{i:02}"}}
              for i, (img, path) in enumerate(zip(IMAGES, images, strict=True))]
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": "Fix-Secret-2026"},
            "faults": {"latency_ms": 0, "agent_ms": 0},
            "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
                     "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}",
                     "gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"},
        },
        "groups": groups,
    })
    with start_office(spec, state, first_address=worker_address("127.0.93.1"), now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        yield running, running.write_inventory(state / "inventory.yaml")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["--lang", "en", *args], catch_exceptions=False)


def registry_and_files(running: RunningOffice) -> dict[str, Any]:
    """What rollback must restore exactly: each host's whole snapshot (scheduled reboots and tasks too)."""
    return {name: office_host.host.snapshot() for name, office_host in running.hosts.items()}


def scan(inventory: Path) -> dict[str, Any]:
    policies = load_policies(shipped_policy_paths())
    inv = load_inventory(inventory, PasswordSources())
    run = policy_sweep(policies, list(inv.hosts.values()), timeout_s=30).run().run
    return {h.host: h for h in run.hosts}


def test_fix_apply_converges_then_rollback_restores_exactly(office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    running, inventory = office
    db = str(tmp_path / "fix.db")
    before = registry_and_files(running)

    dry = cli("fix", "-i", str(inventory), "--db", db, "--now", AT_1600)
    assert dry.exit_code == 1, dry.output
    assert "3 (DWORD) → 0 (DWORD)" in dry.output and "dry run" in dry.output
    assert registry_and_files(running) == before  # a dry run changes nothing

    applied = cli("fix", "-i", str(inventory), "--apply", "--db", db, "--now", AT_1600, *NOT_RUNNING)
    assert "Fix-Secret-2026" not in applied.output
    assert applied.exit_code == 0, applied.output
    run_id = applied.output.strip().rsplit("--run ", 1)[1].split(")")[0]
    changed = registry_and_files(running)
    assert [n for n in before if changed[n] != before[n]] == [f"FX-{i:02}" for i in range(8)]  # not the compliant one

    # What fix verified is the office state's newest observation of the PCs it changed: the
    # dashboard, report and certs (which read the office state) show the fixed PCs as fixed.
    with Store.open(db) as store:
        state = store.office_state()
        assert store.run_summary(run_id).scope == "verify"
    assert state is not None and sorted(state.observations) == sorted(before)
    assert {n for n, o in state.observations.items() if o.run_id == run_id} == set(before)
    for host in state.run.hosts:
        for f in host.findings:
            if f.fix is FixMode.auto and f.check_type != "activex":
                assert f.status in (FindingStatus.passed, FindingStatus.not_applicable), (host.host, f.check_id)

    after = scan(inventory)
    for host in after.values():
        for f in host.findings:
            if f.fix is FixMode.auto and f.check_type != "activex":
                assert f.status in (FindingStatus.passed, FindingStatus.not_applicable), (host.host, f.check_id, f.message)
    # The stale CertEnroll registration is gone and a reboot is pending: IE reinstalls it from the portal.
    stale = {f.check_id: f for f in after["FX-03"].findings}["certenroll-control"]
    assert stale.observed is not None and "not installed" in stale.observed
    assert running.hosts["FX-03"].host.image.scheduled_reboots
    enabled = {f.check_id: f.status for f in after["FX-04"].findings}
    assert enabled["certenroll-control"] is FindingStatus.passed and enabled["jitvctk-control"] is FindingStatus.passed

    again = cli("fix", "-i", str(inventory), "--db", db, "--now", AT_1600, "--format", "json")
    assert '"actions": 0' in again.output, again.output

    undone = cli("rollback", "--run", run_id, "-i", str(inventory), "--db", db, "--apply", "--now", AT_1600, *NOT_RUNNING)
    assert undone.exit_code == 0, undone.output
    restored = registry_and_files(running)
    # The one thing rollback leaves: the folders write_file created for the site list it created on FX-02
    # (an image without C:\ProgramData). Undoing a created file deletes the file only, as File.Delete does;
    # the now empty folders stay. Nothing else may differ.
    leftover = {n: sorted(set(restored[n]["dirs"]) - set(before[n]["dirs"])) for n in before}
    assert {n: d for n, d in leftover.items() if d} == {"FX-02": ["C:\\ProgramData", "C:\\ProgramData\\fleetcheck"]}
    assert set(before["FX-02"]["dirs"]) <= set(restored["FX-02"]["dirs"])
    restored["FX-02"]["dirs"] = before["FX-02"]["dirs"]
    assert restored == before
    verified = cli("audit", "verify", "--db", db)
    assert verified.exit_code == 0 and "intact" in verified.output
    shown = cli("audit", "show", "--db", db, "--run", run_id)
    assert "rolled_back" in shown.output and "applied" in shown.output


def test_guard_refuses_in_session_and_with_trading_client_force_is_audited(
        office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    running, inventory = office
    db = str(tmp_path / "guard.db")
    before = registry_and_files(running)
    in_session = cli("fix", "FX-00", "-i", str(inventory), "--apply", "--db", db, "--now", AT_1000, *NOT_RUNNING)
    assert in_session.exit_code == 1 and "refused" in in_session.output and "trading session" in in_session.output
    trading = cli("fix", "FX-00", "-i", str(inventory), "--apply", "--db", db, "--now", AT_1600)
    assert trading.exit_code == 1 and "TdxW.exe" in trading.output
    assert registry_and_files(running) == before
    forced = cli("fix", "FX-00", "-i", str(inventory), "--apply", "--force", "--db", db, "--now", AT_1000)
    assert forced.exit_code == 0, forced.output
    assert "--force" in forced.output
    shown = cli("audit", "show", "--db", db, "--host", "FX-00")
    lines = shown.output.splitlines()
    assert sum(" refused " in line for line in lines) == 6  # 3 steps x 2 refused attempts
    assert any(" applied FORCED " in line for line in lines)
    run_id = forced.output.strip().rsplit("--run ", 1)[1].split(")")[0]
    assert cli("rollback", "--run", run_id, "-i", str(inventory), "--db", db, "--apply", "--now", AT_1600, *NOT_RUNNING).exit_code == 0
    assert registry_and_files(running) == before


def test_editing_an_audit_entry_is_named(office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    _, inventory = office
    db = tmp_path / "tamper.db"
    cli("fix", "FX-01", "-i", str(inventory), "--apply", "--db", str(db), "--now", AT_1000)  # refused: 1 entry
    cli("fix", "FX-05", "-i", str(inventory), "--apply", "--db", str(db), "--now", AT_1000)  # refused: 1 entry
    assert cli("audit", "verify", "--db", str(db)).exit_code == 0
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE audit_log SET forced = 1 WHERE seq = 1")
    result = cli("audit", "verify", "--db", str(db))
    assert result.exit_code == 1 and "entry #1" in result.output and "edited" in result.output


def test_reset_mid_apply_leaves_host_consistent_and_rerun_converges(
        office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    running, inventory = office
    db = str(tmp_path / "reset.db")
    endpoint = next(e for e in running.server.endpoints if e.name == "FX-02")
    original = endpoint.faults
    # Scan (clean), then every Receive with output is cut: the apply round trip breaks.
    from fleetcheck.remediate.apply import Remediator

    real_apply = Remediator.apply_host

    def apply_with_reset(self: Any, *args: Any, **kwargs: Any) -> Any:
        real_probe = self.probe

        def probe(host: Any, request: Any, *rest: Any) -> Any:
            # The write-ahead read goes through; the round trip carrying the actions is cut.
            endpoint.faults = FaultSpec(reset_mid_receive=True) if request.actions else original
            try:
                return real_probe(host, request, *rest)
            finally:
                endpoint.faults = original

        self.probe = probe
        try:
            return real_apply(self, *args, **kwargs)
        finally:
            self.probe = real_probe

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Remediator, "apply_host", apply_with_reset)
        broken = cli("fix", "FX-02", "-i", str(inventory), "--apply", "--db", db, "--now", AT_1600, *NOT_RUNNING)
    assert broken.exit_code == 3, broken.output
    assert "connection lost while applying" in broken.output
    # Consistent: the agent ran all of its actions (one process), nothing half-written.
    snap = running.hosts["FX-02"].host.snapshot()
    assert "c:\\programdata\\fleetcheck\\sccc-sites.xml" in {p.lower() for p in snap["files"]}
    rerun = cli("fix", "FX-02", "-i", str(inventory), "--apply", "--db", db, "--now", AT_1600, *NOT_RUNNING)
    assert rerun.exit_code == 0, rerun.output
    final = scan(inventory)["FX-02"]
    assert all(f.status is not FindingStatus.fail for f in final.findings if f.fix is FixMode.auto)
    assert cli("audit", "verify", "--db", db).exit_code == 0
