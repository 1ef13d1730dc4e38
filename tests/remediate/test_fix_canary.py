"""``fix --canary`` / ``--wave``: a failing batch stops the run and leaves every later host untouched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fleetcheck.cli import main
from fleetcheck.commands import fix as fix_module
from fleetcheck.sim.faults import FaultSpec
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office

AT_1630 = "2026-03-04T16:30:00+08:00"  # a Wednesday, after the close
HOSTS = ["CN-01", "CN-02", "CN-03", "CN-04"]


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[RunningOffice, Path]]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Canary-2026"},
                     "faults": {"latency_ms": 0, "agent_ms": 0}},
        "groups": [{"name": "zones", "image": "win10-zone-flags-wrong", "count": len(HOSTS),
                    "vars": {"hostname": "CN-${n:02}"}}],
    })
    with start_office(spec, tmp_path / "state", first_address="127.0.91.1",
                      now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        yield running, running.write_inventory(tmp_path / "inventory.yaml")


def _hklm_and_hives(running: RunningOffice, name: str) -> Any:
    snap = running.hosts[name].host.snapshot()
    return snap["hklm"], [(p["sid"], p["hive"]) for p in snap["profiles"]]


def _fix(inventory: Path, db: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["--lang", "en", "fix", "--limit", "all", "-i", str(inventory), "--apply",
                                     "--db", str(db), "--now", AT_1630, *extra], catch_exceptions=False)


def test_a_failing_canary_stops_the_run_and_later_hosts_are_untouched(
        office: tuple[RunningOffice, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running, inventory = office
    before = {name: _hklm_and_hives(running, name) for name in HOSTS}
    canary = next(e for e in running.server.endpoints if e.name == "CN-01")
    real_apply = fix_module.Remediator.apply_host

    def apply_breaking_the_canary(self: Any, host: Any, *args: Any, **kwargs: Any) -> Any:
        if host.name != "CN-01":
            return real_apply(self, host, *args, **kwargs)
        canary.faults = FaultSpec(reset_mid_receive=True)  # the connection drops during the apply
        try:
            return real_apply(self, host, *args, **kwargs)
        finally:
            canary.faults = FaultSpec()

    monkeypatch.setattr(fix_module.Remediator, "apply_host", apply_breaking_the_canary)
    result = _fix(inventory, tmp_path / "fix.db", "--canary", "1", "--wave", "2")
    assert result.exit_code == 3, result.output
    assert "stopping, the other hosts are untouched" in result.output
    for name in HOSTS[1:]:
        assert _hklm_and_hives(running, name) == before[name], f"{name} was changed after the canary failed"

    monkeypatch.setattr(fix_module.Remediator, "apply_host", real_apply)
    waves = _fix(inventory, tmp_path / "fix.db", "--canary", "1", "--wave", "2")
    assert waves.exit_code == 0, waves.output
    assert all(_hklm_and_hives(running, name) != before[name] for name in HOSTS[1:])
