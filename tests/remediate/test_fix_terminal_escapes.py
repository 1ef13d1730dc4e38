"""The ``fix`` dry run prints host-supplied strings with terminal escapes made visible (issue 13 finding 7).

A PC reports the processes it runs; a process name holding ``ESC ] 0 ; … BEL``
(window title), or the one-character C1 CSI, used to reach the operator's
terminal raw in the guard's "a trading client is running: …" note.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.sim.office import OfficeSpec, start_office

pytestmark = pytest.mark.sim

HOSTILE = "TdxW\x1b]0;PWNED\x07\x9b31m.exe"
IMAGE = (
    "description: zone flags wrong, a trading client with a hostile name\n"
    "extends: win10-zone-flags-wrong\n"
    "processes:\n"
    "  - {name: \"TdxW\\e]0;PWNED\\a\\x9b31m.exe\", user: '${operator}'}\n"
)


def test_dry_run_escapes_a_hostile_process_name(tmp_path: Path) -> None:
    image = tmp_path / "evil.yaml"
    image.write_text(IMAGE, encoding="utf-8")
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": "Fix-Secret-2026"},
            "faults": {"latency_ms": 0, "agent_ms": 0},
            "vars": {"operator_name": "op", "operator": "TRADE\\${operator_name}",
                     "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}",
                     "gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"},
        },
        "groups": [{"name": "g", "image": str(image), "count": 1, "vars": {"hostname": "FX-00"}}],
    })
    with start_office(spec, tmp_path, first_address=worker_address("127.0.94.1"),
                      now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        inventory = running.write_inventory(tmp_path / "inventory.yaml")
        result = CliRunner().invoke(main, [
            "--lang", "en", "fix", "-i", str(inventory), "--db", f"sqlite:///{tmp_path / 'h.db'}",
            "--now", "2026-03-04T10:00:00+08:00", "--trading-process", HOSTILE,
        ], catch_exceptions=False)
    assert "a trading client is running: TdxW\\x1b]0;PWNED\\x07\\x9b31m.exe" in result.output
    assert "\x1b" not in result.output and "\x9b" not in result.output and "\x07" not in result.output
