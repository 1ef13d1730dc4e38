"""Issue 14: `fleetcheck sim serve` runs its PCs on the real clock; the hidden --now fixes the instant for tests.

Before, the served PCs were built on a fixed 2026-01-01 clock, so a compliant PC's
certificate (200 days left at build) showed as expired months later.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import fleetcheck.commands.sim as sim_command
from fleetcheck.cli import main
from fleetcheck.sim.office import RunningOffice

from .conftest import next_block

OFFICE = (
    "name: 时钟\ndefaults:\n  credentials: {user: admin, password: pw}\n"
    "groups:\n  - {name: g, image: win10-compliant, count: 1}\n"
)


def _serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[str, list[datetime]]:
    """Run `sim serve` for a moment; return its output and the clock of the one PC it built."""
    office_file = tmp_path / "office.yaml"
    office_file.write_text(OFFICE, encoding="utf-8")
    seen: list[datetime] = []
    real_start = sim_command.start_office

    def start(*args: Any, **kwargs: Any) -> RunningOffice:
        office = real_start(*args, **kwargs)
        seen.extend(host.host.image.now for host in office.hosts.values())  # builds the PC as a scan would
        return office

    monkeypatch.setattr(sim_command, "start_office", start)
    result = CliRunner().invoke(main, [
        "sim", "serve", "--office", str(office_file), "--inventory-out", str(tmp_path / "inv.yaml"),
        "--state-dir", str(tmp_path / "state"), "--first-address", next_block(), "--duration", "0.2", *extra,
    ])
    assert result.exit_code == 0, result.output
    return result.output, seen


@pytest.mark.sim
def test_sim_serve_uses_the_real_clock_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = datetime.now(timezone.utc)
    output, seen = _serve(tmp_path, monkeypatch)
    after = datetime.now(timezone.utc)
    assert len(seen) == 1 and before - timedelta(seconds=1) <= seen[0] <= after + timedelta(seconds=1)
    assert "模拟终端的时钟：" in output and "Asia/Shanghai" in output


@pytest.mark.sim
def test_sim_serve_now_fixes_the_instant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output, seen = _serve(tmp_path, monkeypatch, "--now", "2026-05-15T02:00:00Z")
    assert seen == [datetime(2026, 5, 15, 2, 0, tzinfo=timezone.utc)]
    assert "2026-05-15 10:00:00 Asia/Shanghai" in output  # shown in office time
