"""``fix --canary`` / ``--wave`` on a simulated office (issue 14: "fix tells the truth").

The office's first PCs are compliant; the others have the operator's zone
flags wrong and no Feitian driver. The policy (the shipped pack with the
driver check made ``fix: auto``) installs the driver from ``--installer``:
a path that does not exist on the PC makes the canary fail for real (the
agent answers "installer not found"), no monkeypatching. The canary must be
a PC that needs the fix, the failure must stop the run there, and every
other PC must be untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.policy.loader import shipped_policy_paths
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office

pytestmark = pytest.mark.sim

AT_1630 = "2026-03-04T16:30:00+08:00"  # a Wednesday, after the close
COMPLIANT = ["CN-01", "CN-02"]
BROKEN = ["CN-03", "CN-04", "CN-05"]
HOSTS = COMPLIANT + BROKEN
MISSING_INSTALLER = r"feitian-driver=C:\Installers\ePass2003-Setup.exe"  # not on the PCs
SHARE_INSTALLER = r"feitian-driver=\\fileserver\soft\ePass2003-Setup.exe"
NO_DRIVER_ZONES_WRONG = """\
description: "zone flags wrong (R3-R5) and no Feitian driver or CSP (R9), for fix tests"
extends: win10-zone-flags-wrong
uninstall:
  'ePass2003': null
registry:
  'SOFTWARE\\Microsoft\\Cryptography\\Defaults\\Provider\\EnterSafe ePass2003 CSP v1.0': null
  'SOFTWARE\\WOW6432Node\\Microsoft\\Cryptography\\Defaults\\Provider\\EnterSafe ePass2003 CSP v1.0': null
files:
  'C:\\Windows\\system32\\eps2003csp11.dll': null
  'C:\\Windows\\SysWOW64\\eps2003csp11.dll': null
"""


def _auto_driver_policy(path: Path) -> Path:
    """The shipped pack with ``feitian-driver`` made ``fix: auto`` (an installer is then run from --installer)."""
    text = Path(shipped_policy_paths()[0]).read_text(encoding="utf-8")
    head, sep, rest = text.partition("  - id: feitian-driver\n")
    assert sep, "the shipped pack has a feitian-driver check"
    rest = rest.replace("    fix: manual\n", "    fix: auto\n", 1)
    path.write_text(head + sep + rest, encoding="utf-8")
    return path


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[RunningOffice, Path, Path]]:
    image = tmp_path / "no-driver-zones-wrong.yaml"
    image.write_text(NO_DRIVER_ZONES_WRONG, encoding="utf-8")
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Canary-2026"},
                     "faults": {"latency_ms": 0, "agent_ms": 0},
                     "vars": {"gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"}},
        "groups": [
            {"name": "good", "image": "win10-compliant", "count": len(COMPLIANT), "vars": {"hostname": "CN-${index:02}"}},
            {"name": "bad", "image": str(image), "count": len(BROKEN),
             "vars": {"hostname": "CN-${index:02}"}},
        ],
    })
    with start_office(spec, tmp_path / "state", first_address=worker_address("127.0.172.1"),
                      now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        assert sorted(running.hosts) == HOSTS
        yield running, running.write_inventory(tmp_path / "inventory.yaml"), _auto_driver_policy(tmp_path / "p.yaml")


def _state(running: RunningOffice, name: str) -> Any:
    snap = running.hosts[name].host.snapshot()
    return snap["hklm"], [(p["sid"], p["hive"]) for p in snap["profiles"]], sorted(snap["files"])


def _fix(inventory: Path, policy: Path, db: Path, *extra: str, lang: str = "en") -> Result:
    return CliRunner().invoke(main, ["--lang", lang, "fix", "--limit", "all", "-i", str(inventory), "-p", str(policy),
                                     "--db", str(db), "--now", AT_1630, *extra], catch_exceptions=False)


def test_the_canary_is_a_pc_that_needs_it_and_its_failure_stops_the_run(
        office: tuple[RunningOffice, Path, Path], tmp_path: Path) -> None:
    running, inventory, policy = office
    before = {name: _state(running, name) for name in HOSTS}
    result = _fix(inventory, policy, tmp_path / "fix.db", "--apply", "--canary", "1", "--installer", MISSING_INSTALLER)
    assert result.exit_code == 1, result.output
    changed = [name for name in HOSTS if _state(running, name) != before[name]]
    assert changed == ["CN-03"], result.output  # exactly one PC, the first that needed it
    lines = result.output.splitlines()
    assert any(line.startswith("CN-03: failed") for line in lines), result.output
    assert "installer not found" in result.output
    assert "a host in this batch failed: stopping, the other hosts are untouched" in lines
    assert "not applied (stopped) 2" in result.output
    assert "  stopped after a failure, not changed: CN-04, CN-05" in lines
    assert "  compliant, nothing to change: 2 (CN-01, CN-02)" in lines
    assert "  also to do by hand: CN-04 [feitian-driver]" not in lines  # auto here: the installer was given
    assert not any(line.startswith(("CN-04:", "CN-05:")) for line in lines)


def test_the_dry_run_summary_separates_compliant_from_what_needs_a_change(
        office: tuple[RunningOffice, Path, Path], tmp_path: Path) -> None:
    _, inventory, policy = office
    dry = _fix(inventory, policy, tmp_path / "dry.db", "--canary", "1", "--installer", SHARE_INSTALLER)
    assert dry.exit_code == 1, dry.output
    assert "on 3 hosts (add --apply to carry them out); compliant 2; nothing to fix automatically 0; " \
           "not evaluated 0; not probed 0" in dry.output
    zh = _fix(inventory, policy, tmp_path / "dry.db", "--installer", SHARE_INSTALLER, lang="zh")
    assert "预演：3 台主机共" in zh.output and "合规 2 台" in zh.output
    assert "  合规，无需修改 2 台：CN-01, CN-02" in zh.output.splitlines()
    report = json.loads(_fix(inventory, policy, tmp_path / "dry.db", "--format", "json",
                             "--installer", SHARE_INSTALLER).stdout)
    assert report["summary"]["change"] == BROKEN and report["summary"]["compliant"] == COMPLIANT


def test_after_a_passing_canary_the_waves_go_on(office: tuple[RunningOffice, Path, Path], tmp_path: Path) -> None:
    running, inventory, _ = office
    before = {name: _state(running, name) for name in HOSTS}
    table = _fix(inventory, Path(shipped_policy_paths()[0]), tmp_path / "fix.db")
    assert "  also to do by hand: CN-03 [feitian-driver]" in table.output.splitlines(), table.output
    # Without the driver check's installer, the zone flags alone are fixed everywhere they are wrong.
    waves = _fix(inventory, Path(shipped_policy_paths()[0]), tmp_path / "fix.db", "--apply", "--canary", "1",
                 "--wave", "1", "--format", "json")
    assert waves.exit_code == 1, waves.output  # the driver is still a manual item
    report = json.loads(waves.stdout)
    assert {n: h["batch"] for n, h in report["hosts"].items() if h["batch"] is not None} == \
        {"CN-03": 0, "CN-04": 1, "CN-05": 2}
    assert not report["stopped"] and report["summary"]["not_applied"] == []
    after = _fix(inventory, Path(shipped_policy_paths()[0]), tmp_path / "fix.db").output.splitlines()
    assert "  nothing to fix automatically, to do by hand: CN-03 [feitian-driver]" in after
    assert [n for n in HOSTS if _state(running, n) != before[n]] == BROKEN
