"""``fleetcheck host NAME``: one PC's timeline on the command line (issue 14, "A host's timeline").

End to end on a simulated PC: scan (failing), fix, scan (passing), rollback,
scan (failing again); the timeline lists both state changes, the fix and the
rollback, newest first. ``--format json`` is valid against
``reports_templates/host.schema.json`` and the same bytes in both languages.
An unknown host and an empty store are bilingual errors (exit 2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.findings import FindingStatus
from fleetcheck.resources import templates_dir
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord
from fleetcheck.store.renewals import RENEWAL_COLUMNS, RenewalTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from report_factory import T0, golden_run  # type: ignore[import-not-found]

PC = "HT-01"
AT_1600 = "2026-03-04T16:00:00+08:00"  # a Wednesday after the close
NOT_RUNNING = ["--trading-process", "XtItClient.exe"]
ZONE_CHECKS = {"trusted-activex-prompt", "trusted-unsigned-activex", "trusted-file-download"}  # R3-R5, wrong in the image


def cli(*args: str, lang: str = "en") -> Result:
    return CliRunner().invoke(main, ["--lang", lang, *args], catch_exceptions=False)


def validator() -> Draft202012Validator:
    document = json.loads((templates_dir() / "host.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document)


def host_json(*args: str) -> dict[str, Any]:
    """``host … --format json`` in both languages: the same bytes, valid against the schema, parsed."""
    outputs = []
    for lang in ("zh", "en"):
        result = cli("host", *args, "--format", "json", lang=lang)
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout_bytes)
    assert outputs[0] == outputs[1]
    data = json.loads(outputs[0])
    errors = [e.message for e in validator().iter_errors(data)]
    assert not errors, errors
    assert isinstance(data, dict)
    return data


# --------------------------------------------------------------------------- end to end on a simulated PC


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOffice, Path]]:
    state = tmp_path_factory.mktemp("hostoffice")
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": "Host-Secret-2026"},
            "faults": {"latency_ms": 0, "agent_ms": 0},
            "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
                     "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}",
                     "gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"},
        },
        "groups": [{"name": "zones", "image": "win10-zone-flags-wrong", "count": 1, "vars": {"hostname": PC}}],
    })
    with start_office(spec, state, first_address=worker_address("127.0.141.1"),
                      now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        yield running, running.write_inventory(state / "inventory.yaml")


def _zone_changes(entry: dict[str, Any]) -> set[tuple[str, str | None, str | None]]:
    return {(c["check_id"], c["before"], c["after"]) for c in entry["check_changes"] if c["check_id"] in ZONE_CHECKS}


@pytest.mark.sim
def test_scan_fix_scan_rollback_scan_shows_both_state_changes_the_fix_and_the_rollback(
        office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    _, inventory = office
    db = str(tmp_path / "host.db")
    assert cli("scan", "-i", str(inventory), "--db", db).exit_code == 1  # the zone flags are wrong
    applied = cli("fix", "-i", str(inventory), "--apply", "--db", db, "--now", AT_1600, *NOT_RUNNING)
    assert applied.exit_code == 0, applied.output
    fix_run = applied.output.strip().rsplit("--run ", 1)[1].split(")")[0]
    cli("scan", "-i", str(inventory), "--db", db)
    undone = cli("rollback", "--run", fix_run, "-i", str(inventory), "--db", db, "--apply", "--now", AT_1600,
                 *NOT_RUNNING)
    assert undone.exit_code == 0, undone.output
    assert cli("scan", "-i", str(inventory), "--db", db).exit_code == 1
    with Store.open(db) as store:
        scans = [r.run_id for r in store.list_runs() if any(h.host == PC for h in store.load_run(r.run_id).hosts)]

    data = host_json(PC, "--db", db)
    assert data["host"] == PC
    kinds = [(e["kind"], e["run_id"]) for e in data["entries"]]
    rollback_at = kinds.index(("rollback", fix_run))
    fix_at = kinds.index(("fix", fix_run))
    observations = [e for e in data["entries"] if e["kind"] == "observation"]
    assert [e["run_id"] for e in observations] == scans  # every scan, newest first
    after_rollback, after_fix, first = observations[0], observations[-2], observations[-1]
    assert _zone_changes(after_fix) == {(c, "fail", "pass") for c in ZONE_CHECKS}
    assert _zone_changes(after_rollback) == {(c, "pass", "fail") for c in ZONE_CHECKS}
    assert first["previous_run_id"] is None and first["check_changes"] == []
    assert kinds.index(("observation", after_rollback["run_id"])) < rollback_at < fix_at
    assert kinds.index(("observation", after_fix["run_id"])) < fix_at  # the scan after the fix is newer
    fix = data["entries"][fix_at]
    assert fix["details"] and all(d["en"].endswith("rolled back") or "rolled back (" in d["en"] for d in fix["details"])
    rollback = data["entries"][rollback_at]
    assert rollback["summary"]["en"].startswith(f"rollback of fix {fix_run}: ")
    assert "Host-Secret-2026" not in json.dumps(data)

    table = cli("host", PC, "--db", db)
    assert table.exit_code == 0, table.output
    assert "Asia/Shanghai" in table.output and fix_run in table.output
    assert "Trusted sites: download unsigned ActiveX controls enabled (trusted-unsigned-activex): pass → fail" in table.output
    zh = cli("host", PC, "--db", db, lang="zh")
    assert "通过 → 不通过" in zh.output and "回滚" in zh.output and "修复" in zh.output

    newest = host_json(PC, "--db", db, "--last", "2")
    assert [e["run_id"] for e in newest["entries"]] == [e["run_id"] for e in data["entries"][:2]]


# --------------------------------------------------------------------------- JSON of every kind, errors


@pytest.fixture()
def recorded(tmp_path: Path) -> str:
    """Two scans of the golden office an hour apart (pc-sz-003 fixed in between), a fix, a rollback, a renewal."""
    url = f"sqlite:///{tmp_path / 'history.db'}"
    second = golden_run("run-2", T0 + timedelta(hours=1))
    hosts = []
    for original in second.hosts:
        h = original.model_copy(update={"started": T0 + timedelta(hours=1),
                                        "finished": T0 + timedelta(hours=1, seconds=3)})
        if h.host == "pc-sz-003":
            h.findings = [f.model_copy(update={"status": FindingStatus.passed})
                          if f.check_id == "zone2-unsigned-activex" else f for f in h.findings]
        hosts.append(h)
    with Store.open(url) as store:
        store.record_run(golden_run("run-1", T0), certificates=())
        ChangeLog(store).record(ChangeRecord(
            action_id="fix-1-0", run_id="fix-1", position=0, host="pc-sz-003", check_id="zone2-unsigned-activex",
            kind="set_registry_value", action={"id": "fix-1-0"}, before={"value": {"t": "DWORD", "v": 3}},
            after={"value": {"t": "DWORD", "v": 0}}, status="applied", who="TRADE\\admin",
            applied_at=(T0 + timedelta(minutes=30)).isoformat()))
        store.record_run(second.model_copy(update={"hosts": hosts}), certificates=())
        AuditLog(store).append("TRADE\\admin", "pc-sz-003", "rollback_failed", run_id="fix-1", action_id="fix-1-0",
                               at=T0 + timedelta(hours=2), result="read-back differs",
                               details={"rollback": True, "result_text": {"zh": "读回不符", "en": "read-back differs"}})
        row: dict[str, object] = dict.fromkeys(RENEWAL_COLUMNS)
        row.update(run_id="renew-1", host="pc-sz-003", cn="F00504Y0003#0", file_name="new.pfx", state="pending",
                   reasons=[{"code": "no_operator", "zh": "没有操作员登录", "en": "no operator logged on"}],
                   forced=False, who="TRADE\\admin", created_at=(T0 + timedelta(hours=3)).isoformat())
        RenewalTable(store).insert([row])
    return url


def test_host_json_of_every_entry_kind_matches_its_schema_in_every_language(recorded: str) -> None:
    data = host_json("pc-sz-003", "--db", recorded)
    assert [(e["kind"], e["run_id"]) for e in data["entries"]] == [
        ("renewal", "renew-1"), ("rollback", "fix-1"), ("observation", "run-2"), ("fix", "fix-1"),
        ("observation", "run-1")]
    renewal, rollback, scan, fix, _ = data["entries"]
    assert renewal["at"] == "2025-03-03T04:30:00+00:00" and renewal["summary"]["zh"] == "F00504Y0003#0：待操作员登录"
    assert {"zh": "没有操作员登录", "en": "no operator logged on"} in renewal["details"]
    assert rollback["details"] == [{"zh": "fix-1-0：回滚失败（读回不符）", "en": "fix-1-0: rollback failed (read-back differs)"}]
    assert scan["check_changes"] == [{
        "policy_id": "sccc-gateway-cert", "check_id": "zone2-unsigned-activex", "before": "fail", "after": "pass",
        "title": {"zh": "受信任站点：下载未签名的 ActiveX 控件 已启用", "en": "Trusted zone: download unsigned ActiveX enabled"}}]
    assert scan["previous_run_id"] == "run-1" and scan["host_status"] == "ok"
    assert fix["who"] == "TRADE\\admin" and fix["check_changes"] == [] and fix["compliant"] is None
    down = host_json("pc-sz-004", "--db", recorded)  # timed out in both runs
    assert [(e["host_status"], e["compliant"]) for e in down["entries"]] == [("timeout", None), ("timeout", None)]


def test_an_unknown_host_names_itself_and_where_to_look_exit_2(recorded: str) -> None:
    for lang, words in (("zh", ("PC-NOWHERE", "fleetcheck inventory list", "fleetcheck certs", "没有主机")),
                        ("en", ("PC-NOWHERE", "fleetcheck inventory list", "fleetcheck certs", "is not in"))):
        result = cli("host", "PC-NOWHERE", "--db", recorded, lang=lang)
        assert result.exit_code == 2
        assert all(w in result.stderr for w in words), result.stderr
        assert "Traceback" not in result.output


def test_an_empty_store_says_nothing_is_recorded_yet_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    for lang, words in (("zh", ("还没有任何记录", "fleetcheck scan")), ("en", ("nothing is recorded", "fleetcheck scan"))):
        result = cli("host", "PC-01", "--db", url, "--format", "json", lang=lang)
        assert result.exit_code == 2 and result.stdout == ""
        assert all(w in result.stderr for w in words), result.stderr


def test_an_unknown_name_that_differs_only_in_case_suggests_the_recorded_one(recorded: str) -> None:
    result = cli("host", "PC-SZ-003", "--db", recorded)
    assert result.exit_code == 2
    assert "Did you mean: pc-sz-003?" in result.stderr and "case-sensitive" in result.stderr
    zh = cli("host", "PC-SZ-003", "--db", recorded, lang="zh")
    assert "是否指的是：pc-sz-003？" in zh.stderr
