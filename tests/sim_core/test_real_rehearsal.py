"""Rehearsal on a copy of a real PC: a real user's exported Internet Settings (a .reg made
from a hive saved on a real Windows machine) as the operator's settings of a simulated PC;
scan, ``fix --apply``, rescan, ``rollback`` over WinRM restores the copy exactly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.findings import FindingStatus
from fleetcheck.inventory import PasswordSources, load_inventory
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.runner import policy_sweep
from fleetcheck.sim import regimport
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office

pytestmark = pytest.mark.sim

HIVES = Path(__file__).resolve().parents[1] / "data" / "real-hives"
IS = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings"
AT_1600 = "2026-03-04T16:00:00+08:00"  # a Wednesday, after hours
USER_ZONE_CHECKS = ("portal-trusted-site", "trusted-activex-prompt", "trusted-unsigned-activex")


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOffice, Path]]:
    state = tmp_path_factory.mktemp("rehearsal")
    # What an admin runs on the real PC: reg export "HKCU\...\Internet Settings" user.reg
    hive = regimport.read_hive(HIVES / "NTUSER_with_winscp.DAT.xz")
    settings = hive.root.find(IS)
    assert settings is not None
    (state / "user.reg").write_bytes(regimport.encode_reg_text(
        regimport.format_reg([("HKEY_CURRENT_USER\\" + IS, settings)])
    ))
    (state / "real-pc.yaml").write_text(
        "extends: win10-compliant\n"
        "profiles:\n  - sid: ${operator_sid}\n    registry: null\n"
        "registry_import:\n  - {file: user.reg, profile: '${operator_sid}'}\n",
        encoding="utf-8",
    )
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": "Rehearse-2026"},
            "faults": {"latency_ms": 0, "agent_ms": 0},
            "vars": {"gateway_cert": "F00504Y0007#0"},
        },
        "groups": [{"name": "real", "image": str(state / "real-pc.yaml"), "count": 1,
                    "vars": {"hostname": "REAL-PC07"}}],
    })
    with start_office(spec, state, first_address=worker_address("127.0.99.1"),
                      now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        yield running, running.write_inventory(state / "inventory.yaml")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["--lang", "en", *args], catch_exceptions=False)


def registry(running: RunningOffice) -> dict[str, Any]:
    snap = next(iter(running.hosts.values())).host.snapshot()
    return {"hklm": snap["hklm"], "hives": [(p["sid"], p["hive"]) for p in snap["profiles"]]}


def statuses(inventory: Path) -> dict[str, FindingStatus]:
    inv = load_inventory(inventory, PasswordSources())
    run = policy_sweep(load_policies(shipped_policy_paths()), list(inv.hosts.values()),
                       timeout_s=30).run().run
    (host,) = run.hosts
    return {f.check_id: f.status for f in host.findings}


def test_scan_fix_rollback_on_a_copy_of_a_real_pc(
    office: tuple[RunningOffice, Path], tmp_path: Path
) -> None:
    running, inventory = office
    before = registry(running)
    image = next(iter(running.hosts.values())).host.image
    operator = next(p for p in image.profiles if p.console)
    assert operator.hive.find(IS + r"\ZoneMap\Domains\sharepoint.com") is not None  # real data

    found = statuses(inventory)
    assert {c: found[c] for c in USER_ZONE_CHECKS} == dict.fromkeys(USER_ZONE_CHECKS, FindingStatus.fail)
    assert FindingStatus.error not in found.values()

    db = str(tmp_path / "fix.db")
    applied = cli("fix", "-i", str(inventory), "--apply", "--db", db, "--now", AT_1600,
                  "--trading-process", "XtItClient.exe")
    assert applied.exit_code == 0, applied.output
    run_id = applied.output.strip().rsplit("--run ", 1)[1].split(")")[0]
    fixed = statuses(inventory)
    assert {c: fixed[c] for c in USER_ZONE_CHECKS} == dict.fromkeys(USER_ZONE_CHECKS, FindingStatus.passed)
    # the real user's own entries are untouched by the fix
    assert operator.hive.find(IS + r"\ZoneMap\Domains\sharepoint.com") is not None

    undone = cli("rollback", "--run", run_id, "-i", str(inventory), "--db", db, "--apply", "--now", AT_1600,
                 "--trading-process", "XtItClient.exe")
    assert undone.exit_code == 0, undone.output
    assert registry(running) == before
    assert statuses(inventory) == found
