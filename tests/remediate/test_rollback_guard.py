"""``fleetcheck rollback``: a dry run by default; ``--apply`` is guarded like ``fix``; ``--force`` is audited.

Issue 14 ("fix tells the truth"): rollback had no dry run and no trading guard.
A small simulated office: RB-00 runs the trading client TdxW.exe (通达信),
RB-01 does not; both have the zone flags a fix changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from xdist_support import worker_address

from fleetcheck.agent.contract import ProbeResponse
from fleetcheck.cli import main
from fleetcheck.commands.rollback import render_rollback
from fleetcheck.i18n import T
from fleetcheck.inventory import PasswordSources, load_inventory
from fleetcheck.remediate.guard import Guard
from fleetcheck.remediate.rollback import RollbackOptions, rollback_host
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog
from fleetcheck.transport import TransportError

pytestmark = pytest.mark.sim

AT_1600 = "2026-03-04T16:00:00+08:00"  # a Wednesday, after hours
AT_1000 = "2026-03-04T10:00:00+08:00"  # in the morning session
NOT_RUNNING = ["--trading-process", "XtItClient.exe"]
TRADING_IMAGE = """\
description: Windows 10, zone 2 flags wrong, trading client TdxW.exe running (rollback guard tests)
extends: win10-zone-flags-wrong
processes:
  - {name: TdxW.exe, user: '${operator}'}
"""


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[RunningOffice, Path]]:
    trading = tmp_path / "trading.yaml"
    trading.write_text(TRADING_IMAGE, encoding="utf-8")
    groups = [{"name": "trading", "image": str(trading), "count": 1, "vars": {"hostname": "RB-00"}},
              {"name": "idle", "image": "win10-zone-flags-wrong", "count": 1, "vars": {"hostname": "RB-01"}}]
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": "Rb-Secret-2026"},
            "faults": {"latency_ms": 0, "agent_ms": 0},
            "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
                     "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}"},
        },
        "groups": groups,
    })
    with start_office(spec, tmp_path / "state", first_address=worker_address("127.0.181.1"),
                      now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        yield running, running.write_inventory(tmp_path / "inventory.yaml")


def cli(*args: str, lang: str = "en") -> Result:
    return CliRunner().invoke(main, ["--lang", lang, *args], catch_exceptions=False)


def snapshots(running: RunningOffice) -> dict[str, Any]:
    return {name: h.host.snapshot() for name, h in running.hosts.items()}


def _fixed(office: tuple[RunningOffice, Path], db: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Fix both PCs after hours (TdxW.exe not guarded); the run id, the state before and after."""
    running, inventory = office
    before = snapshots(running)
    applied = cli("fix", "-i", str(inventory), "--apply", "--db", db, "--now", AT_1600, *NOT_RUNNING)
    assert applied.exit_code == 0, applied.output
    run_id = applied.output.strip().rsplit("--run ", 1)[1].split(")")[0]
    after = snapshots(running)
    assert all(after[n] != before[n] for n in before)
    return run_id, before, after


def test_rollback_is_a_dry_run_by_default(office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    running, inventory = office
    db = str(tmp_path / "h.db")
    run_id, _, fixed = _fixed(office, db)
    dry = cli("rollback", "--run", run_id, "-i", str(inventory), "--db", db)
    assert dry.exit_code == 0, dry.output
    assert snapshots(running) == fixed  # nothing restored
    for host in ("RB-00", "RB-01"):
        assert f"{host}: would restore " in dry.output
    assert "restore HKU\\S-1-5-21-" in dry.output and "(DWORD)" in dry.output
    assert "dry run: nothing was changed. Add --apply" in dry.output
    with Store.open(db) as store:
        assert all(r.status == "applied" for r in ChangeLog(store).for_run(run_id))
        assert not [e for e in AuditLog(store).entries() if e.event in ("rolled_back", "refused", "rollback_failed")]
    zh = cli("rollback", "--run", run_id, "-i", str(inventory), "--db", db, lang="zh")
    assert "预演：未做任何修改" in zh.output and "将恢复" in zh.output and "would restore" not in zh.output
    # One action by id: a dry run of that action only.
    with Store.open(db) as store:
        one = ChangeLog(store).for_run(run_id)[0]
    single = cli("rollback", one.action_id, "-i", str(inventory), "--db", db)
    assert single.exit_code == 0 and f"{one.host}: would restore 1, skip 0" in single.output, single.output
    assert snapshots(running) == fixed


def test_rollback_apply_is_guarded_and_force_is_audited(office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    running, inventory = office
    db = str(tmp_path / "h.db")
    run_id, before, fixed = _fixed(office, db)
    base = ["rollback", "--run", run_id, "-i", str(inventory), "--db", db, "--apply"]

    trading = cli(*base, "--now", AT_1600)  # RB-00 runs TdxW.exe; RB-01 is free
    assert trading.exit_code == 1, trading.output
    assert "RB-00: rollback refused: a trading client is running: TdxW.exe" in trading.output
    assert "RB-01: rolled back and verified" in trading.output
    now = snapshots(running)
    assert now["RB-00"] == fixed["RB-00"] and now["RB-01"] == before["RB-01"]

    session = cli(*base, "--now", AT_1000, *NOT_RUNNING)
    assert session.exit_code == 1 and "RB-00: rollback refused: inside a trading session" in session.output
    assert snapshots(running)["RB-00"] == fixed["RB-00"]

    forced = cli(*base, "--now", AT_1000, "--force")
    assert forced.exit_code == 0, forced.output
    assert "RB-00: rolled back and verified" in forced.output and "forced (--force), overriding" in forced.output
    assert snapshots(running) == before
    with Store.open(db) as store:
        log = AuditLog(store)
        rb00 = [e for e in log.entries(host="RB-00") if e.event in ("refused", "rolled_back")]
        refused = [e for e in rb00 if e.event == "refused"]
        rolled = [e for e in rb00 if e.event == "rolled_back"]
        assert refused and all(e.details and e.details.get("rollback") for e in refused)
        # Both languages kept (audit show --lang zh shows the Chinese text).
        assert {e.details["result_text"]["zh"] for e in refused} >= {"交易软件正在运行：TdxW.exe"}
        assert rolled and all(e.forced for e in rolled)
        assert not any(e.forced for e in log.entries(host="RB-01") if e.event == "rolled_back")
        assert log.verify() == []


def test_guarded_rollback_of_an_unreachable_pc_sends_nothing(office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    running, inventory = office
    db = str(tmp_path / "h.db")
    run_id, _, fixed = _fixed(office, db)
    spec = load_inventory(inventory, PasswordSources()).hosts["RB-01"]

    def down(*_: object) -> ProbeResponse:
        raise TransportError(T("连接被拒绝", "connection refused"))

    with Store.open(db) as store:
        records = [r for r in ChangeLog(store).for_run(run_id) if r.host == "RB-01"]
        result = rollback_host(spec, records, AuditLog(store), ChangeLog(store), who="t", probe=down,
                               options=RollbackOptions(guard=Guard()))
        assert not result.ok and result.decision is None and not result.restored
        assert all(r.status == "applied" for r in ChangeLog(store).for_run(run_id))
    assert render_rollback("RB-01", result, "en") == [
        "RB-01: rollback failed: host unreachable, nothing rolled back: connection refused"]
    assert snapshots(running) == fixed
