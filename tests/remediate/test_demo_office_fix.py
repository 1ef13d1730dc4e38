"""Issue 6, acceptance item 1, on the full demo office (fleetcheck/sim/offices/demo.yaml).

"``fleetcheck demo``'s office: fix every host with ``--apply`` → a new scan shows
every auto-fixable finding passing; a second ``fix`` plans 0 actions."

The office is the shipped demo file through ``start_office`` (40 PCs, on its own
loopback block so a running ``fleetcheck demo`` does not collide), driven by the
real CLI (``fleetcheck scan`` / ``fleetcheck fix``) with the guard's clock at a
weekday 16:30 Asia/Shanghai (after the close) and a throwaway ``--db``.
What the test holds, in order:

1. the dry run plans the fixes, says in Chinese (the default) that SZ-TDX-02
   would be refused (TdxW.exe runs) and that the ActiveX repair needs the
   operator's portal visit after the reboot; nothing changes;
2. ``--apply`` fixes every host with something to fix, except the PC still
   trading (refused, says why, unchanged); the ActiveX step is verified by
   what it promises (stale registration gone, reboot scheduled);
3. a new scan: every auto-fixable finding passes (or does not apply) on every
   reachable host with an operator — except SZ-TDX-02's (refused) and the
   CertEnroll control on the two SZ-CEO PCs ("not registered" until the
   operator visits the portal); PCs with nobody logged on stay "not
   evaluated", never "fail";
4. a second ``fix`` plans 0 actions on every host that was fixed;
5. after the reboot and the operator's ``visit_portal()``, CertEnroll passes;
6. ``--force`` fixes SZ-TDX-02 (audited as forced); then the whole office
   plans 0 actions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.commands.demo import demo_office_path
from fleetcheck.sim.office import RunningOffice, start_office

pytestmark = pytest.mark.sim

TRADING = "SZ-TDX-02"  # portal not a Trusted Site, TdxW.exe running
TRADING_COMPLIANT = "SZ-TDX-01"  # TdxW.exe running, nothing to fix
CERTENROLL_OLD = ["SZ-CEO-01", "SZ-CEO-02"]
NO_OPERATOR = {"BJ-NOP-01", "BJ-NOP-02"}
UNREACHABLE = {"BJ-OFF-01", "BJ-OFF-02", "SZ-PWD-01"}
CERTENROLL_CLSID = "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
FIXED_BY_APPLY = {"SZ-NTS-01", "SZ-NTS-02", "SZ-W7P-01", "BJ-NIE-01", "BJ-NIE-02", *CERTENROLL_OLD}
ALLOWED = {"pass", "not_applicable"}


def after_the_close() -> str:
    """The latest weekday 16:30 in Shanghai (never inside a session), near the office's certificates' today."""
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return f"{day.isoformat()}T16:30:00+08:00"


AT = after_the_close()


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOffice, Path, Path]]:
    root = tmp_path_factory.mktemp("demo-fix")
    with start_office(demo_office_path(), root / "sim", first_address=worker_address("127.0.147.1"),
                      now=datetime.now(timezone.utc)) as running:
        yield running, running.write_inventory(root / "inventory.yaml"), root


def cli(*args: str, lang: str = "en") -> Result:
    return CliRunner().invoke(main, ["--lang", lang, *args], catch_exceptions=False)


def scan(inventory: Path, out: Path) -> dict[str, dict[str, Any]]:
    """``fleetcheck scan`` → {host: {check_id: finding}} from its results.json (reachable hosts only)."""
    result = cli("scan", "-i", str(inventory), "--out", str(out), "--db", str(out / "history.db"))
    assert result.exit_code in (1, 3), result.output  # non-compliant / some hosts unreachable
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    hosts = {h["host"]: {f["check_id"]: f for f in h["findings"]} for h in data["hosts"] if h["status"] == "ok"}
    assert set(hosts) | UNREACHABLE == {h["host"] for h in data["hosts"]}
    return hosts


def failing_auto(hosts: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    return {(h, c) for h, fs in hosts.items() for c, f in fs.items() if f["fix"] == "auto" and f["status"] not in ALLOWED}


def planned_actions(inventory: Path, db: str) -> dict[str, int]:
    """A dry run's actions per reachable host (JSON output)."""
    result = cli("fix", "--limit", "all", "-i", str(inventory), "--db", db, "--now", AT, "--format", "json")
    report = json.loads(result.stdout)
    return {name: sum(len(s["actions"]) for s in plan["steps"]) for name, plan in report["hosts"].items()
            if plan is not None}


def test_demo_office_fix_apply_converges(office: tuple[RunningOffice, Path, Path]) -> None:
    running, inventory, root = office
    db = str(root / "fix.db")
    host = {name: running.hosts[name].host for name in running.hosts if name not in UNREACHABLE}

    before = scan(inventory, root / "scan-before")
    todo = failing_auto(before)
    assert {h for h, _ in todo if h not in NO_OPERATOR} == FIXED_BY_APPLY | {TRADING}, todo
    assert all(before[h][c]["status"] == "not_evaluated" for h, c in todo if h in NO_OPERATOR)

    # 1. Dry run, Chinese by default: the refusal to come and the operator's part are said up front.
    snapshots = {name: h.snapshot() for name, h in host.items()}
    dry = cli("fix", "--limit", "all", "-i", str(inventory), "--db", db, "--now", AT, lang="zh")
    assert dry.exit_code == 3, dry.output  # unreachable hosts win
    trading_part = dry.output.split(f"{TRADING} [", 1)[1].split("\n", 2)[1]
    assert "现在 --apply 会被拒绝（交易软件正在运行：TdxW.exe）" in trading_part, dry.output
    assert dry.output.count("还需操作员：重启后在 IE 中打开门户 https://biz.sccc.com") == len(CERTENROLL_OLD)
    assert {name: h.snapshot() for name, h in host.items()} == snapshots

    # 2. Apply: fixed everywhere but on the PC still trading, which is refused and unchanged.
    applied = cli("fix", "--limit", "all", "-i", str(inventory), "--apply", "--db", db, "--now", AT)
    assert applied.exit_code == 3, applied.output
    lines = applied.output.splitlines()
    status = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines if line[:1].isalpha() and ": " in line}
    assert all(status[name].startswith("fixed") for name in FIXED_BY_APPLY), applied.output
    assert status[TRADING] == "refused, nothing changed" and "  a trading client is running: TdxW.exe" in lines
    assert status[TRADING_COMPLIANT] == "nothing to fix"  # a running client alone refuses nothing: no change asked
    assert " failed" not in applied.output and "unknown" not in applied.output
    assert host[TRADING].snapshot() == snapshots[TRADING]
    for name in CERTENROLL_OLD:
        assert status[name] == "fixed, but the operator still has to do the step marked →"
        assert host[name].image.scheduled_reboots  # the guide's reboot, outside trading hours
    assert lines.count("  [certenroll-control] applied and verified (stale registration removed, reboot scheduled)") == 2
    assert f"still to do by the operator (after the reboot, open https://biz.sccc.com in IE to reinstall the control): " \
           f"{', '.join(CERTENROLL_OLD)}" in lines
    assert any(line.startswith("refused hosts were not changed (SZ-TDX-02)") for line in lines)

    # 3. A new scan: every auto-fixable finding passes, but for the refused PC and the portal visit to come.
    after = scan(inventory, root / "scan-after")
    still = failing_auto(after)
    assert {(h, c) for h, c in still if h not in NO_OPERATOR} == {
        (TRADING, "portal-trusted-site"), *((name, "certenroll-control") for name in CERTENROLL_OLD)}, still
    assert all(after[h][c]["status"] == "not_evaluated" for h, c in still if h in NO_OPERATOR)
    for name in CERTENROLL_OLD:
        certenroll = after[name]["certenroll-control"]
        assert certenroll["status"] == "fail" and "not installed" in certenroll["observed"]

    # 4. A second fix plans nothing for the hosts that were fixed (the refused PC still has its 1 action).
    planned = planned_actions(inventory, db)
    assert {name: n for name, n in planned.items() if n} == {TRADING: 1}
    assert set(planned) >= FIXED_BY_APPLY

    # 5. The operator's part: after the reboot, IE reinstalls CertEnroll from the portal; nothing else is touched.
    assert host["SZ-W10-01"].visit_portal() == []  # every control already registered
    for name in CERTENROLL_OLD:
        host[name].reboot()
        assert host[name].visit_portal() == [CERTENROLL_CLSID]
    visited = scan(inventory, root / "scan-visited")
    for name in CERTENROLL_OLD:
        assert visited[name]["certenroll-control"]["status"] == "pass", visited[name]["certenroll-control"]
    assert {h for h, _ in failing_auto(visited) if h not in NO_OPERATOR} == {TRADING}

    # 6. --force on the trading PC (audited), then the whole office plans 0 actions.
    forced = cli("fix", TRADING, "-i", str(inventory), "--apply", "--force", "--db", db, "--now", AT)
    assert forced.exit_code == 0, forced.output
    assert f"{TRADING}: fixed (--force: a trading client is running: TdxW.exe)" in forced.output
    shown = cli("audit", "show", "--db", db, "--host", TRADING)
    assert " refused " in shown.output and " applied FORCED " in shown.output
    assert not any(planned_actions(inventory, db).values())
    final = scan(inventory, root / "scan-final")
    assert {h for h, _ in failing_auto(final)} <= NO_OPERATOR
