"""``fix --waivers FILE``: a waived finding is never planned nor changed, and fix says so (issue 14).

WV-00 (image win10-zone-flags-wrong) fails three auto-fixable checks:
trusted-activex-prompt (zone 2 value 2201), trusted-unsigned-activex (1004)
and trusted-file-download. One is waived (until 2026-12-31), one has
an expired waiver (2026-03-01, not honoured), the third has none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.findings import Finding, FindingStatus, FixMode
from fleetcheck.inventory import PasswordSources, load_inventory
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.policy.waivers import Waiver
from fleetcheck.remediate.plan import expired_waiver_notes
from fleetcheck.runner import policy_sweep
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog

AT_1600 = "2026-03-04T16:00:00+08:00"  # a Wednesday after hours; office date 2026-03-04
NOT_RUNNING = ["--trading-process", "XtItClient.exe"]
WAIVED, EXPIRED, PLAIN = "trusted-unsigned-activex", "trusted-file-download", "trusted-activex-prompt"
WAIVERS = f"""\
waivers:
  - check: {WAIVED}
    hosts: [WV-00]
    reason: 该机运行旧版网银控件
    approver: 张三
    expires: 2026-12-31
  - check: {EXPIRED}
    groups: [zoneflags]
    reason: 临时豁免
    approver: 李四
    expires: 2026-03-01
"""


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[RunningOffice, Path]]:
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": "Wv-Secret-2026"},
            "faults": {"latency_ms": 0, "agent_ms": 0},
            "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
                     "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}"},
        },
        "groups": [{"name": "zoneflags", "image": "win10-zone-flags-wrong", "count": 1, "vars": {"hostname": "WV-00"}}],
    })
    with start_office(spec, tmp_path / "state", first_address=worker_address("127.0.185.1"),
                      now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        yield running, running.write_inventory(tmp_path / "inventory.yaml")


def cli(*args: str, lang: str = "en") -> Result:
    return CliRunner().invoke(main, ["--lang", lang, *args], catch_exceptions=False)


def statuses(inventory: Path) -> dict[str, Finding]:
    """A fresh scan without waivers: what the PC really holds now (read back over WinRM)."""
    policies = load_policies(shipped_policy_paths())
    inv = load_inventory(inventory, PasswordSources())
    run = policy_sweep(policies, list(inv.hosts.values()), timeout_s=30).run().run
    return {f.check_id: f for f in run.hosts[0].findings}


def test_fix_apply_leaves_a_waived_check_unchanged_and_fixes_the_rest(
        office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    _, inventory = office
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS, encoding="utf-8")
    db = str(tmp_path / "h.db")
    before = statuses(inventory)
    assert {before[c].status for c in (WAIVED, EXPIRED, PLAIN)} == {FindingStatus.fail}
    assert all(before[c].fix is FixMode.auto for c in (WAIVED, EXPIRED, PLAIN))

    dry = cli("fix", "-i", str(inventory), "--waivers", str(waivers), "--now", AT_1600, "--format", "json")
    plan: dict[str, Any] = json.loads(dry.stdout)["hosts"]["WV-00"]
    assert sorted(s["check"] for s in plan["steps"]) == sorted([EXPIRED, PLAIN])
    assert {w["check"]: w["expired"] for w in plan["waivers"]} == {WAIVED: False, EXPIRED: True}
    table = cli("fix", "-i", str(inventory), "--waivers", str(waivers), "--now", AT_1600)
    assert f"[{WAIVED}] waived until 2026-12-31: 该机运行旧版网银控件 (approver 张三); not changed" in table.output
    assert f"[{EXPIRED}] waiver expired on 2026-03-01: not honoured, fixed as usual" in table.output
    zh = cli("fix", "-i", str(inventory), "--waivers", str(waivers), "--now", AT_1600, lang="zh")
    assert f"[{WAIVED}] 已豁免至 2026-12-31：该机运行旧版网银控件" in zh.output
    assert f"[{EXPIRED}] 豁免已于 2026-03-01 过期，不再生效" in zh.output

    applied = cli("fix", "-i", str(inventory), "--waivers", str(waivers), "--apply", "--db", db, "--now", AT_1600,
                  *NOT_RUNNING)
    assert applied.exit_code == 0, applied.output
    assert f"[{WAIVED}] waived until 2026-12-31" in applied.output
    after = statuses(inventory)
    assert after[PLAIN].status is FindingStatus.passed and after[EXPIRED].status is FindingStatus.passed
    # The waived setting is as it was: same failing status and the same value read back from the PC.
    assert after[WAIVED].status is FindingStatus.fail and after[WAIVED].observed == before[WAIVED].observed
    with Store.open(db) as store:  # nothing recorded or audited for the waived check
        changed = {str(r.check_id).rsplit("/", 1)[-1] for r in ChangeLog(store).for_host("WV-00")}
        audited = [e for e in AuditLog(store).entries() if WAIVED in json.dumps(e.action, ensure_ascii=False)]
    assert changed == {EXPIRED, PLAIN} and audited == []


def test_without_waivers_fix_plans_the_waived_check(office: tuple[RunningOffice, Path]) -> None:
    """The contrast: the same PC without --waivers gets all three checks planned."""
    _, inventory = office
    dry = cli("fix", "-i", str(inventory), "--now", AT_1600, "--format", "json")
    plan = json.loads(dry.stdout)["hosts"]["WV-00"]
    assert {WAIVED, EXPIRED, PLAIN} <= {s["check"] for s in plan["steps"]} and plan["waivers"] == []


def test_bad_waivers_file_is_a_positioned_error(office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    _, inventory = office
    bad = tmp_path / "bad.yaml"
    bad.write_text("waivers:\n  - check: no-such-check\n    hosts: [WV-00]\n    reason: r\n    approver: a\n"
                   "    expires: 2026-12-31\n", encoding="utf-8")
    result = cli("fix", "-i", str(inventory), "--waivers", str(bad), "--now", AT_1600)
    assert result.exit_code == 2 and "bad.yaml:2:" in result.stderr and "no-such-check" in result.stderr, result.output


def _finding(check: str, status: FindingStatus) -> Finding:
    return Finding(policy_id="p", check_id=check, check_type="registry_value", title="t", severity="high",
                   status=status, fix=FixMode.auto)


def test_expired_waiver_notes_name_only_failing_checks_the_expired_waiver_matches() -> None:
    old = Waiver(check="a", hosts=["H"], reason="r", approver="x", expires=date(2026, 3, 1))
    live = Waiver(check="b", hosts=["H"], reason="r", approver="x", expires=date(2026, 12, 31))
    other = Waiver(check="p/c", groups=["g"], reason="r", approver="x", expires=date(2026, 3, 3))
    findings = [_finding("a", FindingStatus.fail), _finding("b", FindingStatus.fail),
                _finding("c", FindingStatus.error), _finding("d", FindingStatus.passed)]
    notes = expired_waiver_notes(findings, [old, live, other], host="H", groups=["g"], today=date(2026, 3, 4))
    assert [(n.check_id, n.expires, n.expired) for n in notes] == [("a", date(2026, 3, 1), True),
                                                                   ("c", date(2026, 3, 3), True)]
    # The last day of a waiver still holds it (expires is inclusive).
    assert expired_waiver_notes(findings, [old], host="H", groups=[], today=date(2026, 3, 1)) == ()
    assert expired_waiver_notes(findings, [old], host="OTHER", groups=[], today=date(2026, 3, 4)) == ()
