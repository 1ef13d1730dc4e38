"""The systemd unit's comment and the README name the same WinRM password variable."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

from fleetcheck import schedule as sched

README = Path(__file__).resolve().parents[2] / "README.md"
VARIABLE = re.compile(r"\b[A-Z][A-Z0-9_]*WINRM_PASSWORD\b")


def test_unit_and_readme_name_the_same_winrm_password_variable(tmp_path: Path) -> None:
    spec = sched.ScheduleSpec("fc", time(7, 30), (0,), tmp_path, tmp_path / "l", tmp_path / "k", ["/x"])
    service = sched.render_systemd(spec).service
    in_unit = set(VARIABLE.findall(service))
    in_readme = set(VARIABLE.findall(README.read_text(encoding="utf-8")))
    assert in_unit, service  # the unit tells the admin which variable to put in the env file
    assert in_readme
    assert in_unit <= in_readme and len(in_readme) == 1, (in_unit, in_readme)
