"""``--format json`` of doctor, selftest, rollback, evaluate, policy lint/explain, audit verify and schedule show.

Each output is valid against its shipped schema (reports_templates/<name>.schema.json)
and is the same bytes under ``--lang zh`` and ``--lang en``. The last test walks every
registered command: a command whose ``--format`` offers json has a schema that some test
validates against; the commands without JSON are listed with the reason.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from xdist_support import worker_address

from fleetcheck.cli import COMMANDS, load_command, main
from fleetcheck.resources import templates_dir

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


def schema_document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((templates_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))
    return document


def valid(name: str, data: object) -> None:
    document = schema_document(name)
    Draft202012Validator.check_schema(document)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(document).iter_errors(data)]
    assert not errors, errors


def invalid(name: str, data: object) -> None:
    """The schema can fail: ``data`` is refused."""
    assert list(Draft202012Validator(schema_document(name)).iter_errors(data)), f"{name} accepted {data!r}"


def both(*args: str, code: int = 0) -> Any:
    """The command's stdout under --lang zh and en: the same bytes, exit ``code``, parsed once."""
    outputs = []
    for lang in ("zh", "en"):
        result = CliRunner().invoke(main, ["--lang", lang, *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == code, result.output
        outputs.append(result.stdout_bytes)
    assert outputs[0] == outputs[1]
    return json.loads(outputs[0])


# --------------------------------------------------------------------------- doctor (a simulated office)

DOCTOR_PASSWORD = "Doctor-Json-7731"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three PCs: a healthy one, one that refuses connections, one with zone flags to fix (and roll back)."""
    from fleetcheck.sim.office import OfficeSpec, start_office

    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": DOCTOR_PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 0, "agent_ms": 0},
                     "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
                              "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}",
                              "gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"}},
        "groups": [
            {"name": "ok", "image": "win10-compliant", "count": 1, "vars": {"hostname": "DJ-OK-${n}"}},
            {"name": "down", "image": "win10-compliant", "count": 1, "faults": {"refuse": True},
             "vars": {"hostname": "DJ-DOWN-${n}"}},
            {"name": "flags", "image": "win10-zone-flags-wrong", "count": 1, "vars": {"hostname": "DJ-FLAGS-${n}"}},
        ],
    })
    state = tmp_path_factory.mktemp("doctor-json")
    with start_office(spec, state, first_address=worker_address("127.0.191.1"),
                      now=datetime.now(timezone.utc)) as running:
        yield running.write_inventory(state / "inventory.yaml")


def test_doctor_json_matches_its_schema_in_every_language(office: Path) -> None:
    data = both("doctor", "-i", str(office), "DJ-OK-1", "DJ-DOWN-1", "--timeout", "10", "--format", "json", code=3)
    valid("doctor", data)
    healthy, down = data["hosts"]
    assert (healthy["host"], healthy["ok"], healthy["failed_step"], healthy["exit_code"]) == ("DJ-OK-1", True, None, 0)
    assert {s["status"] for s in healthy["steps"]} <= {"pass", "not_applicable"}
    assert (down["host"], down["ok"], down["failed_step"], down["exit_code"]) == ("DJ-DOWN-1", False, "tcp", 3)
    tcp = next(s for s in down["steps"] if s["step"] == "tcp")
    assert tcp["reason"] == "connection_refused" and set(tcp["cause"]) == set(tcp["remedy"]) == {"zh", "en"}
    assert tcp["cause"]["zh"] != tcp["cause"]["en"]  # both languages, whatever --lang is
    assert [s["status"] for s in down["steps"][2:]] == ["not_run"] * (len(down["steps"]) - 2)
    assert DOCTOR_PASSWORD not in json.dumps(data)
    english_only = [{**s, "cause": s["cause"]["en"]} if s["step"] == "tcp" else s for s in down["steps"]]
    invalid("doctor", {**data, "hosts": [healthy, {**down, "steps": english_only}]})  # user text is {zh, en}


def test_the_enums_in_the_doctor_schema_are_the_code_s() -> None:
    from fleetcheck.doctor import StepId, StepStatus

    step = schema_document("doctor")["$defs"]["step"]["properties"]
    assert step["step"]["enum"] == [s.value for s in StepId]  # in walking order
    assert set(step["status"]["enum"]) == {s.value for s in StepStatus}


def test_selftest_json_matches_its_schema_in_every_language(office: Path) -> None:
    data = both("selftest", "DJ-OK-1", "-i", str(office), "--timeout", "10", "--format", "json")
    valid("selftest", data)
    assert (data["host"], data["exit_code"], data["error"], data["failed"]) == ("DJ-OK-1", 0, None, 0)
    assert data["passed"] == len([i for i in data["items"] if i["status"] == "pass"]) > 0
    assert data["passed"] + data["not_observable"] == len(data["items"])
    assert all(set(i["name"]) == set(i["detail"]) == {"zh", "en"} for i in data["items"])
    down = both("selftest", "DJ-DOWN-1", "-i", str(office), "--timeout", "10", "--format", "json", code=3)
    valid("selftest", down)
    assert down["items"] == [] and set(down["error"]) == {"zh", "en"} and down["exit_code"] == 3
    invalid("selftest", {**data, "items": [{**data["items"][0], "status": "ok"}]})


AT_1600 = "2026-03-04T16:00:00+08:00"  # a Wednesday after the close: the guard allows the change
AT_1000 = "2026-03-04T10:00:00+08:00"  # inside the morning session: the guard refuses
NOT_RUNNING = ["--trading-process", "XtItClient.exe"]


def test_rollback_json_dry_run_refusal_and_apply_match_the_schema(office: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "fix.db")
    fixed = CliRunner().invoke(main, ["--lang", "en", "fix", "-i", str(office), "--limit", "DJ-FLAGS-1", "--db", db,
                                      "--now", AT_1600, "--timeout", "10", "--apply", "--format", "json", *NOT_RUNNING])
    assert fixed.exit_code == 0, fixed.output
    run_id = json.loads(fixed.stdout)["run_id"]
    base = ["rollback", "--run", run_id, "-i", str(office), "--db", db, "--timeout", "10", "--format", "json"]

    plan = both(*base)
    valid("rollback", plan)
    assert (plan["apply"], plan["kind"], plan["run_id"], plan["exit_code"], plan["note"]) == (False, "fix", run_id, 0, None)
    [host] = plan["hosts"]
    assert host["host"] == "DJ-FLAGS-1" and host["status"] == "would_restore" and host["restore"]
    assert all(set(r["undo"]) == {"zh", "en"} and r["undo"]["en"].startswith("restore ") for r in host["restore"])
    one = both("rollback", host["restore"][0]["action_id"], *base[3:])
    valid("rollback", one)
    assert one["action_id"] == host["restore"][0]["action_id"] and len(one["hosts"][0]["restore"]) == 1

    refused = both(*base, "--apply", "--now", AT_1000, *NOT_RUNNING, code=1)
    valid("rollback", refused)
    assert refused["hosts"][0]["status"] == "refused" and refused["hosts"][0]["restored"] == []
    assert "trading session" in refused["hosts"][0]["refused_because"]["en"]

    undone = CliRunner().invoke(main, ["--lang", "en", *base, "--apply", "--now", AT_1600, *NOT_RUNNING])
    assert undone.exit_code == 0, undone.output
    done = json.loads(undone.stdout)
    valid("rollback", done)
    [host] = done["hosts"]
    assert (done["apply"], host["status"], host["error"], host["failed"]) == (True, "rolled_back", None, [])
    assert sorted(host["restored"]) == sorted(r["action_id"] for r in plan["hosts"][0]["restore"])
    again = both(*base)  # everything already rolled back: nothing left to restore
    valid("rollback", again)
    assert again["hosts"][0]["status"] == "nothing_to_restore" and again["note"]["en"] == "nothing to roll back"
    assert DOCTOR_PASSWORD not in undone.output
    invalid("rollback", {**plan, "hosts": [{**plan["hosts"][0], "status": "rolled_back"}]})  # a dry run restores nothing


def test_rollback_json_of_a_renewal_run_lists_its_certificates(office: Path, tmp_path: Path) -> None:
    from fleetcheck.renew.plan import RenewalItem, RenewalState
    from fleetcheck.renew.records import RenewalLog
    from fleetcheck.store import Store

    url = f"sqlite:///{tmp_path / 'renew.db'}"
    with Store.open(url) as store:
        RenewalLog(store).record("renew-1", [
            RenewalItem(file_name="DJ-OK-1.pfx", cn="F00504Y0001", state=RenewalState.installed, host="DJ-OK-1",
                        operator_sid="S-1-5-21-1004336348-1177238915-682003330-1001", new_thumbprint="AB" * 20),
        ], who="ops")
        RenewalLog(store).record("renew-2", [
            RenewalItem(file_name="x.pfx", cn="F00504Y0002", state=RenewalState.refused, host="DJ-OK-1"),
        ], who="ops")
    plan = both("rollback", "--run", "renew-1", "-i", str(office), "--db", url, "--format", "json")
    valid("rollback", plan)
    assert (plan["kind"], plan["apply"], plan["hosts"], plan["note"]) == ("renewal", False, [], None)
    assert plan["certificates"] == [{"host": "DJ-OK-1", "cn": "F00504Y0001", "new_thumbprint": "AB" * 20,
                                     "removed_old": None, "ok": None, "message": None}]
    nothing = both("rollback", "--run", "renew-2", "-i", str(office), "--db", url, "--format", "json")
    valid("rollback", nothing)
    assert nothing["certificates"] == [] and "imported no certificate" in nothing["note"]["en"]


# --------------------------------------------------------------------------- evaluate (recorded facts)

@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One agent answer of a simulated compliant PC, as a scan records it."""
    from fleetcheck.agent import POWERSHELL, build_payload, command_line
    from fleetcheck.evaluate import compile_request
    from fleetcheck.policy.loader import load_policy_files
    from fleetcheck.sim.host import SimulatedHost

    host = SimulatedHost.from_image("win10-compliant", {"hostname": "EV-01"}, datetime(2026, 3, 4, tzinfo=timezone.utc))
    answer = host.run(POWERSHELL, command_line()[1], build_payload(compile_request(load_policy_files(()))))
    assert answer.exit_code == 0, answer.stderr
    path = tmp_path_factory.mktemp("evaluate-json") / "EV-01.json"
    path.write_text(answer.stdout, encoding="utf-8")
    return path


def test_evaluate_json_matches_its_schema_in_every_language(facts: Path) -> None:
    now = "2026-03-04T10:00:00+08:00"
    data = both("evaluate", "--facts", str(facts), "--now", now, "--format", "json", code=1)
    valid("evaluate", data)
    assert data["host"] == "EV-01" and data["now"] == "2026-03-04T02:00:00+00:00"  # UTC, with its offset
    assert data["policies"] == ["sccc-gateway-cert"] and data["missing_answers"] == 0
    assert data["compliant"] is False and data["exit_code"] == 1  # no gateway_cert variable: those checks err
    assert sum(data["counts"].values()) == len(data["findings"]) > 0
    assert data["counts"]["error"] == len([f for f in data["findings"] if f["status"] == "error"]) == 3
    assert data["counts"]["pass"] > 10 and data["counts"]["fail"] == 0
    assert all(set(f["title"]) == {"zh", "en"} for f in data["findings"])
    erring = next(f for f in data["findings"] if f["status"] == "error")
    assert erring["check_id"] == "gateway-cert-present" and "host.gateway_cert" in erring["message"]["en"]
    assert erring["message"]["zh"] != erring["message"]["en"]
    invalid("evaluate", {**data, "counts": {**data["counts"], "fail": -1}})


def test_the_enums_in_the_evaluate_schema_are_the_code_s() -> None:
    from fleetcheck.findings import FindingStatus, FixMode, Severity

    document = schema_document("evaluate")
    finding = document["$defs"]["finding"]["properties"]
    assert set(finding["status"]["enum"]) == {s.value for s in FindingStatus}
    assert set(finding["severity"]["enum"]) == {s.value for s in Severity}
    assert set(finding["fix"]["enum"]) == {s.value for s in FixMode}
    assert set(document["properties"]["counts"]["required"]) == {s.value for s in FindingStatus}


# --------------------------------------------------------------------------- policy lint / explain

BAD_POLICY = """\
id: bad-one
title: 坏策略
version: 1
colour: red
checks:
  - id: portal-site
    type: trusted_site
    title: 门户
    severity: urgent
    site: https://example.invalid
"""

WAIVERS = """\
waivers:
  - check: trusted-unsigned-activex
    hosts: [PC1]
    reason: r
    approver: a
    expires: 2099-12-31
  - check: trusted-unsigned-activex
    groups: [shenzhen]
    reason: old
    approver: b
    expires: 2020-01-01
"""


def test_policy_lint_json_of_the_shipped_pack_counts_valid_and_expired_waivers(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS, encoding="utf-8")
    policies = str(REPO / "policies")
    data = both("policy", "lint", policies, "--waivers", str(waivers), "--format", "json")
    valid("policy-lint", data)
    assert (data["ok"], data["exit_code"], data["failed_stage"], data["problems"]) == (True, 0, None, [])
    assert data["counts"]["files"] == 1 and data["counts"]["policies"] == 1 and data["counts"]["checks"] > 10
    [policy] = data["policies"]
    assert policy["id"] == "sccc-gateway-cert" and "trusted-unsigned-activex" in policy["checks"]
    assert data["files"] == [{"path": str(REPO / "policies" / "sccc-gateway-cert.yaml"), "problems": 0}]
    counted = data["waivers"]
    assert (counted["checked"], counted["total"], counted["valid"]) == (True, 2, 1)
    assert [(w["index"], w["groups"], w["expires"]) for w in counted["expired"]] == [(2, ["shenzhen"], "2020-01-01")]
    without = both("policy", "lint", policies, "--format", "json")
    valid("policy-lint", without)
    assert without["waivers"] is None
    invalid("policy-lint", {**data, "exit_code": 2})  # ok means exit 0


def test_policy_lint_json_lists_every_problem_at_its_position_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_POLICY, encoding="utf-8")
    data = both("policy", "lint", str(bad), str(REPO / "policies"), "--format", "json", code=2)
    valid("policy-lint", data)
    assert (data["ok"], data["exit_code"], data["failed_stage"]) == (False, 2, "policy")
    assert data["counts"]["problems"] == len(data["problems"]) >= 2
    positions = {(p["file"], p["line"], p["col"]) for p in data["problems"]}
    assert (str(bad), 4, 1) in positions  # the unknown key 'colour'
    assert {p["stage"] for p in data["problems"]} == {"policy"}
    assert all(set(p["message"]) == {"zh", "en"} for p in data["problems"])
    colour = next(p for p in data["problems"] if p["line"] == 4)
    assert "colour" in colour["message"]["en"] and colour["source_line"] == "colour: red"
    assert (colour["policy"], colour["check"]) == ("bad-one", None)  # a top-level key: in no check
    severity = next(p for p in data["problems"] if p["line"] == 9)
    assert (severity["policy"], severity["check"]) == ("bad-one", "portal-site") and "urgent" in severity["message"]["en"]
    per_file = {f["path"]: f["problems"] for f in data["files"]}
    assert per_file[str(bad)] == len(data["problems"]) and per_file[str(REPO / "policies" / "sccc-gateway-cert.yaml")] == 0


def test_policy_lint_json_names_a_waiver_problem_as_its_stage(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS.replace("trusted-unsigned-activex", "no-such-check", 1), encoding="utf-8")
    data = both("policy", "lint", str(REPO / "policies"), "--waivers", str(waivers), "--format", "json", code=2)
    valid("policy-lint", data)
    assert data["failed_stage"] == "waivers" and data["waivers"]["checked"] is False
    [problem] = data["problems"]
    assert (problem["file"], problem["line"]) == (str(waivers), 2) and "no-such-check" in problem["message"]["en"]


def test_policy_explain_json_matches_its_schema_in_every_language() -> None:
    data = both("policy", "explain", "trusted-unsigned-activex", "--format", "json")
    valid("policy-explain", data)
    [check] = data["checks"]
    assert data["check_id"] == "trusted-unsigned-activex" and check["policy"]["id"] == "sccc-gateway-cert"
    assert (check["type"], check["scope"], check["fix"], check["severity"]) == ("zone_action", "user", "auto", "high")
    assert check["severity_label"] == {"zh": "高", "en": "high"} and set(check["remedy"]) == {"zh", "en"}
    assert any("Zones\\2 [1004]" in w for w in check["where"]) and check["expected"]
    conditional = both("policy", "explain", "sccc-gateway-cert/trusted-download-prompt", "--format", "json")
    valid("policy-explain", conditional)
    assert conditional["checks"][0]["when"]["os_family"] == ["win7"]
    unknown = CliRunner().invoke(main, ["--lang", "en", "policy", "explain", "no-such", "--format", "json"])
    assert unknown.exit_code == 2 and "unknown check 'no-such'" in unknown.stderr and unknown.stdout == ""


def test_the_enums_in_the_policy_schemas_are_the_code_s() -> None:
    from fleetcheck.checks.base import CheckBase
    from fleetcheck.findings import FixMode, Severity

    check = schema_document("policy-explain")["$defs"]["check"]["properties"]
    assert set(check["severity"]["enum"]) == {s.value for s in Severity}
    assert set(check["fix"]["enum"]) == {s.value for s in FixMode}
    assert set(check["scope"]["enum"]) == set(typing.get_args(CheckBase.model_fields["scope"].annotation))
    stages = schema_document("policy-lint")["properties"]["failed_stage"]["enum"]
    assert set(stages) == {"policy", "inventory", "template", "waivers", None}


# --------------------------------------------------------------------------- audit verify

def _tamper(url: str, statement: str) -> None:
    """Edit the database behind fleetcheck's back."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


def test_audit_verify_json_says_intact_or_where_the_chain_breaks(tmp_path: Path) -> None:
    from fleetcheck.store import Store
    from fleetcheck.store.audit import AuditLog

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    empty = both("audit", "verify", "--db", url, "--format", "json")
    valid("audit-verify", empty)
    assert (empty["intact"], empty["entries"], empty["newest"], empty["head"]["seq"]) == (True, 0, None, 0)
    with Store.open(url) as store:
        log = AuditLog(store)
        for i in range(4):
            log.append("ops\\alice", f"PC-{i}", "applied", action={"kind": "set_value", "name": "1803"},
                       result="ok", run_id="r1", action_id=f"a{i}")
        head = log.head()
    data = both("audit", "verify", "--db", url, "--format", "json")
    valid("audit-verify", data)
    assert (data["intact"], data["exit_code"], data["entries"], data["first_broken_seq"]) == (True, 0, 4, None)
    assert data["newest"] == data["head"] == {"seq": head[0], "hash": head[1]}
    kept = both("audit", "verify", "--db", url, "--expect-head", f"{head[0]}:{head[1]}", "--format", "json")
    assert kept["intact"] is True and kept["expected_head"] == f"{head[0]}:{head[1]}"

    _tamper(url, "UPDATE audit_log SET result = 'error' WHERE seq = 2")
    broken = both("audit", "verify", "--db", url, "--format", "json", code=1)
    valid("audit-verify", broken)
    assert (broken["intact"], broken["exit_code"], broken["first_broken_seq"]) == (False, 1, 2)
    assert [p["seq"] for p in broken["problems"]] == [2] and "#2" in broken["problems"][0]["text"]["en"]
    assert broken["problems"][0]["text"]["zh"] != broken["problems"][0]["text"]["en"]
    invalid("audit-verify", {**broken, "exit_code": 0})

    wrong = both("audit", "verify", "--db", url, "--expect-head", "0" * 64, "--format", "json", code=1)
    valid("audit-verify", wrong)
    assert any(p["seq"] is None for p in wrong["problems"])  # the log as a whole: the head is not the one kept


# --------------------------------------------------------------------------- schedule show

SHOW = ["schedule", "show", "--at", "07:30", "--days", "mon-fri", "--machine-tz", "UTC",
        "--now", "2026-12-04T00:00:00+00:00"]


def test_schedule_show_json_has_each_definition_the_zone_and_the_next_three_runs(tmp_path: Path) -> None:
    xml = tmp_path / "task.xml"
    data = both(*SHOW, "--workdir", str(tmp_path), "--xml-out", str(xml), "--format", "json",
                "--", "scan", "-i", "清单 1.yaml")
    valid("schedule-show", data)
    assert (data["zone"], data["machine_zone"], data["at"], data["days"]) == (
        "Asia/Shanghai", "UTC", "07:30", ["mon", "tue", "wed", "thu", "fri"])
    assert data["command"][-3:] == ["scan", "-i", "清单 1.yaml"] and data["workdir"] == str(tmp_path)
    assert data["next_runs"] == [  # Friday 2026-12-04 08:00 office time: the next runs are Mon-Wed
        {"at": f"2026-12-0{d - 1}T23:30:00+00:00", "office": f"2026-12-0{d}T07:30:00+08:00",
         "machine": f"2026-12-0{d - 1}T23:30:00+00:00"} for d in (7, 8, 9)]
    kinds = [d["kind"] for d in data["definitions"]]
    assert kinds == ["cron", "cron_tz", "systemd_service", "systemd_timer", "windows_task", "windows_create_command"]
    by_kind = {d["kind"]: d for d in data["definitions"]}
    assert by_kind["cron"]["text"].startswith("30 23 * * 0-4 ")  # converted to this machine's UTC clock
    assert set(by_kind["cron"]["note"]) == {"zh", "en"}
    assert by_kind["cron_tz"]["text"].splitlines()[0] == "CRON_TZ=Asia/Shanghai"
    assert "OnCalendar=Mon..Fri *-*-* 07:30:00 Asia/Shanghai" in by_kind["systemd_timer"]["text"]
    assert by_kind["systemd_timer"]["file"].endswith("fleetcheck-scan.timer")
    assert by_kind["windows_task"]["file"] == str(xml) and by_kind["windows_task"]["placeholder_paths"] is True
    assert xml.read_text(encoding="utf-16") == by_kind["windows_task"]["text"]
    assert data["not_generated"] == []
    invalid("schedule-show", {**data, "next_runs": data["next_runs"][:2]})


def test_schedule_show_json_says_why_a_definition_was_not_generated(tmp_path: Path) -> None:
    data = both(*SHOW, "--workdir", str(tmp_path), "--format", "json", "--", "scan", "--note", "100%")
    valid("schedule-show", data)
    assert [d["kind"] for d in data["definitions"]][:1] == ["cron"]
    assert "windows_task" not in {d["kind"] for d in data["definitions"]}
    [missing] = data["not_generated"]
    assert missing["kind"] == "windows_task" and set(missing["reason"]) == {"zh", "en"}
    only = CliRunner().invoke(main, ["--lang", "en", *SHOW, "--target", "windows", "--format", "json",
                                     "--", "scan", "--note", "100%"])
    assert only.exit_code == 2 and only.stdout == ""


def test_the_definition_kinds_in_the_schedule_schema_are_the_ones_shown(tmp_path: Path) -> None:
    kinds = schema_document("schedule-show")["$defs"]["definition"]["properties"]["kind"]["enum"]
    data = both(*SHOW, "--workdir", str(tmp_path), "--format", "json", "--", "scan")
    assert [d["kind"] for d in data["definitions"]] == kinds


# --------------------------------------------------------------------------- every command

#: Commands whose JSON document has another command's schema (same document).
SCHEMA_OF = {"collect-import": "scan"}

#: Commands that offer no --format json, each with the reason (decided per command).
NO_JSON = {
    "collect-script": "writes the collection kit (collect.cmd + collect.ps1) into a folder; prints only where",
    "demo": "a walkthrough for a person; its sweep's machine-readable results are results.json in --out",
    "inventory-import": "its output is an inventory (YAML), itself the machine-readable document",
    "policy-schema": "its output is a JSON Schema already",
    "schedule-install": "an action (writes units or the crontab, asks first); schedule show --format json is the listing",
    "serve": "a long-running web server (the dashboard)",
    "sim-serve": "a long-running simulated office; it writes the inventory file",
    "sim-image-from-reg": "converts a .reg export into an image file (the output is the file)",
    "sim-image-to-reg": "converts an image into a .reg file (the output is the file)",
    "winrm-setup": "writes the WinRM enablement kit (scripts and the Group Policy notes) into a folder",
    "worker": "a long-running Celery worker",
}

#: Listing/reporting commands that should have --format json and do not yet (known gaps, not decisions).
NOT_YET: dict[str, str] = {}


def _leaves(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _leaves(sub, (*path, name))
    else:
        yield "-".join(path), command


def _formats(command: click.Command) -> list[str]:
    option = next((p for p in command.params if isinstance(p, click.Option) and "--format" in p.opts), None)
    if option is None:
        return []
    assert isinstance(option.type, click.Choice), command.name
    return [str(c) for c in option.type.choices]


def _validated_in_tests(schema: str) -> bool:
    """Some test validates a document against ``schema``: it names the file or passes the name to valid()."""
    pattern = re.compile(rf"""(\bvalid|\bschema)\(\s*["']{re.escape(schema)}["']|["']{re.escape(schema)}\.schema\.json["']""")
    return any(pattern.search(path.read_text(encoding="utf-8")) for path in TESTS.rglob("test_*.py"))


def test_every_command_with_json_output_has_a_schema_a_test_validates() -> None:
    commands = dict(leaf for name in COMMANDS for leaf in _leaves(load_command(name), (name,)))
    with_json = {name for name, command in commands.items() if "json" in _formats(command)}
    assert with_json, "the walk found no command with --format json"
    for name in sorted(with_json):
        schema = SCHEMA_OF.get(name, name)
        assert (templates_dir() / f"{schema}.schema.json").is_file(), f"{name}: no reports_templates/{schema}.schema.json"
        Draft202012Validator.check_schema(schema_document(schema))
        assert _validated_in_tests(schema), f"{name}: no test validates output against {schema}.schema.json"
    without = set(commands) - with_json
    assert without == set(NO_JSON) | set(NOT_YET), (
        f"decide for each command without --format json: {sorted(without - set(NO_JSON) - set(NOT_YET))}; "
        f"now has JSON (remove from the lists): {sorted((set(NO_JSON) | set(NOT_YET)) - without)}")
    assert not set(NO_JSON) & set(NOT_YET)


def test_the_walk_finds_the_commands_this_change_gave_json() -> None:
    commands = dict(leaf for name in COMMANDS for leaf in _leaves(load_command(name), (name,)))
    for name in ("doctor", "evaluate", "policy-lint", "policy-explain", "audit-verify", "schedule-show", "selftest",
                 "rollback"):
        assert "json" in _formats(commands[name]), name


def test_the_new_schemas_are_shipped_as_package_data() -> None:
    from fleetcheck.resources import templates_dir as shipped

    for name in ("doctor", "evaluate", "policy-lint", "policy-explain", "audit-verify", "schedule-show", "selftest",
                 "rollback"):
        assert (REPO / "reports_templates" / f"{name}.schema.json").is_file()
        assert (shipped() / f"{name}.schema.json").is_file()
