"""``--format json`` of every listing/reporting command: valid against the shipped schema, same bytes in every language.

history, certs, diff, inventory check/list and audit show from a store or a
file; scan, fix (dry run and applied) and the audit entries a fix writes from
a small simulated office.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.findings import FindingStatus, HostStatus, RunResult
from fleetcheck.report.model import build_report
from fleetcheck.report.render import render_csv, render_junit
from fleetcheck.resources import templates_dir
from fleetcheck.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from report_factory import T0, golden_run  # type: ignore[import-not-found]

REPO = Path(__file__).resolve().parents[2]


def _newer_run() -> RunResult:
    """The golden office a day later: one PC gone, one finding fixed, one new failure."""
    run = golden_run("run-2", T0 + timedelta(days=1))
    hosts = [h for h in run.hosts if h.host != "pc-sz-001"]
    for h in hosts:
        if h.host == "pc-sz-002":  # a new failure
            h.findings = [f.model_copy(update={"status": FindingStatus.fail}) if i == 0 else f
                          for i, f in enumerate(h.findings)]
        if h.host == "pc-sz-003":  # fixed
            h.findings = [f.model_copy(update={"status": FindingStatus.passed})
                          if f.check_id == "zone2-unsigned-activex" else f for f in h.findings]
    return run.model_copy(update={"hosts": hosts, "scope": "office"})  # a full sweep: pc-sz-001 left the office


@pytest.fixture()
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store.open(url) as store:
        store.record_run(golden_run("run-1", T0), certificates=())
        store.record_run(_newer_run(), certificates=())
    return url


def schema(name: str) -> Draft202012Validator:
    document = json.loads((templates_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document)


def run_json(*args: str) -> object:
    """The command's stdout in both languages: the same bytes, parsed once."""
    outputs = []
    for lang in ("zh", "en"):
        result = CliRunner().invoke(main, ["--lang", lang, *args, "--format", "json"])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout_bytes)
    assert outputs[0] == outputs[1]
    return json.loads(outputs[0])


def valid(name: str, data: object) -> None:
    errors = [e.message for e in schema(name).iter_errors(data)]
    assert not errors, errors


def test_history_json_matches_its_schema_in_every_language(db: str) -> None:
    data = run_json("history", "--db", db)
    valid("history", data)
    assert isinstance(data, dict)
    assert [r["run_id"] for r in data["runs"]] == ["run-2", "run-1"]
    assert data["runs"][1]["started"] == "2025-03-03T01:30:00+00:00"  # UTC, with its offset
    assert data["runs"][1]["compliance_pct"] == 14.3 and data["runs"][1]["hosts_total"] == 9


def test_history_json_of_an_empty_store_is_an_empty_list(tmp_path: Path) -> None:
    data = run_json("history", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    valid("history", data)
    assert isinstance(data, dict) and data["runs"] == []


def test_certs_json_matches_its_schema_in_every_language(db: str) -> None:
    data = run_json("certs", "--db", db, "--run", "run-1")
    valid("certs", data)
    assert isinstance(data, dict) and data["run_id"] == "run-1"
    expired = next(c for c in data["certificates"] if c["host"] == "pc-sh-006")
    assert expired["days_left"] == -3 and expired["expiry_class"] == "expired"
    assert expired["readiness"] == "blocked" and expired["readiness_label"] == {"zh": "受阻", "en": "blocked"}
    assert [b["check_id"] for b in expired["blockers"]] == ["gateway-cert-due"]
    assert expired["not_after"].endswith("+00:00")
    soon = run_json("certs", "--db", db, "--run", "run-1", "--expiring", "7")
    assert isinstance(soon, dict) and {c["host"] for c in soon["certificates"]} == {"pc-sh-006", "pc-sz-003"}


def test_diff_json_matches_its_schema_in_every_language(db: str) -> None:
    data = run_json("diff", "run-1", "run-2", "--db", db)
    valid("diff", data)
    assert isinstance(data, dict) and data["empty"] is False
    assert data["hosts_disappeared"] == ["pc-sz-001"] and data["hosts_appeared"] == []
    assert [(c["host"], c["check_id"], c["before"], c["after"]) for c in data["fixed"]] == [
        ("pc-sz-003", "zone2-unsigned-activex", "fail", "pass")]
    assert [(c["host"], c["after"]) for c in data["new_failures"]] == [("pc-sz-002", "fail")]
    assert set(data["new_failures"][0]["title"]) == {"zh", "en"}
    same = run_json("diff", "run-1", "run-1", "--db", db)
    valid("diff", same)
    assert isinstance(same, dict) and same["empty"] is True


def test_inventory_check_json_matches_its_schema_in_every_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FC_WINRM_PASSWORD", "not-a-real-one")
    monkeypatch.chdir(REPO)
    data = run_json("inventory", "check", "inventory.example.yaml", "--limit", "shenzhen:nosuch")
    valid("inventory-check", data)
    assert isinstance(data, dict)
    assert data["hosts"] == ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"] and data["connections"] == {"ntlm/http": 3}
    assert data["warnings"] == [{"zh": "--limit：'nosuch' 没有匹配任何主机或组",
                                 "en": "--limit: 'nosuch' matches no host or group"}]
    assert "not-a-real-one" not in json.dumps(data)


def test_the_status_enums_in_the_diff_schema_are_the_code_s() -> None:
    document = json.loads((templates_dir() / "diff.schema.json").read_text(encoding="utf-8"))
    change = document["$defs"]["change"]["properties"]
    assert set(change["after"]["enum"]) == {s.value for s in FindingStatus} | {None}
    hosts = document["properties"]["host_status_changed"]["items"]["properties"]
    assert set(hosts["before"]["enum"]) == {s.value for s in HostStatus}


SCHEMAS = ["history", "certs", "diff", "inventory-check", "inventory-list", "inventory-host", "renew", "renew-rollback",
           "scan", "fix", "audit-show"]


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_schema_is_shipped_as_package_data(name: str) -> None:
    assert (REPO / "reports_templates" / f"{name}.schema.json").is_file()
    schema(name)  # a valid draft 2020-12 schema


def test_csv_header_is_fixed_english_and_cells_follow_the_language() -> None:
    tables = {lang: list(csv.reader(io.StringIO(render_csv(build_report(golden_run(), lang=lang))[1:])))
              for lang in ("zh", "en")}
    assert tables["zh"][0] == tables["en"][0]
    assert tables["en"][0][:3] == ["Run ID", "Host", "Address"] and "Result" in tables["en"][0]
    result = tables["zh"][0].index("Result")
    assert {r[result] for r in tables["zh"][1:]} != {r[result] for r in tables["en"][1:]}  # cells translated
    assert len(tables["zh"]) == len(tables["en"])


def test_junit_names_are_the_same_in_every_language() -> None:
    def names(lang: str) -> list[tuple[str, ...]]:
        root = ET.fromstring(render_junit(build_report(golden_run(), lang=lang)))
        return [(el.tag, el.get("name") or "", el.get("classname") or "")
                for el in root.iter() if el.tag in ("testsuites", "testsuite", "testcase", "property")]

    assert names("zh") == names("en")
    root = ET.fromstring(render_junit(build_report(golden_run(), lang="zh")))
    case = next(c for c in root.iter("testcase") if c.get("name") == "zone2-unsigned-activex")
    title = case.find("properties/property[@name='title']")
    assert title is not None and any("\u4e00" <= ch <= "\u9fff" for ch in title.get("value", ""))  # the title: Chinese


def test_history_json_stays_pure_json_when_pruning(db: str) -> None:
    result = CliRunner().invoke(main, ["--lang", "en", "history", "--db", db, "--keep-runs", "1", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # the "removed N old run(s)" note went to stderr
    valid("history", data)
    assert [r["run_id"] for r in data["runs"]] == ["run-2"] and "removed 1 old run(s)" in result.stderr


# --------------------------------------------------------------------------- inventory list


def test_inventory_list_json_matches_its_schemas_in_every_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FC_WINRM_PASSWORD", "not-a-real-one")
    monkeypatch.chdir(REPO)
    data = run_json("inventory", "list", "inventory.example.yaml")
    valid("inventory-list", data)
    assert isinstance(data, dict) and "PC-SZ-001" in data["_meta"]["hostvars"]
    assert "not-a-real-one" not in json.dumps(data)
    host = run_json("inventory", "list", "inventory.example.yaml", "--host", "PC-SZ-001")
    valid("inventory-host", host)
    assert host == data["_meta"]["hostvars"]["PC-SZ-001"]
    with pytest.raises(AssertionError):  # the schema can fail: an unmasked password is refused
        valid("inventory-host", {**host, "ansible_password": "not-a-real-one"})


# --------------------------------------------------------------------------- scan, fix, audit show (a simulated office)

AT_1600 = "2026-03-04T16:00:00+08:00"  # a Wednesday after the close: the guard allows the fix
NOT_RUNNING = ["--trading-process", "XtItClient.exe"]
OFFICE_PASSWORD = "Json-Office-5150"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Four PCs: zone flags to fix, compliant, no certificate (a person's job), one refusing connections."""
    from fleetcheck.sim.office import OfficeSpec, start_office

    groups = [
        {"name": "flags", "image": "win10-zone-flags-wrong", "count": 1, "vars": {"hostname": "JS-FLAGS-${n}"}},
        {"name": "ok", "image": "win10-compliant", "count": 1, "vars": {"hostname": "JS-OK-${n}"}},
        {"name": "nocert", "image": "win10-no-cert", "count": 1, "vars": {"hostname": "JS-NOCERT-${n}"}},
        {"name": "down", "image": "win10-compliant", "count": 1, "faults": {"refuse": True},
         "vars": {"hostname": "JS-DOWN-${n}"}},
    ]
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": OFFICE_PASSWORD}, "scheme": "http",
            "faults": {"latency_ms": 0, "agent_ms": 1},
            "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
                     "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}",
                     "gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"},
        },
        "groups": groups,
    })
    state = tmp_path_factory.mktemp("json-office")
    with start_office(spec, state, first_address=worker_address("127.0.177.1"), now=datetime.now(timezone.utc)) as running:
        yield running.write_inventory(state / "inventory.yaml")


def _invoke(lang: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--lang", lang, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _volatile_free(data: dict[str, object]) -> dict[str, object]:
    """A scan document without what differs between two sweeps (run id, times, where the files went)."""
    hosts = [{k: v for k, v in h.items() if k not in ("started", "finished")}
             for h in data["host_results"]]  # type: ignore[attr-defined]
    return {**{k: v for k, v in data.items() if k not in ("run_id", "started", "finished", "results")},
            "host_results": hosts}


def test_scan_json_is_one_document_matching_its_schema_in_every_language(office: Path, tmp_path: Path) -> None:
    docs = {}
    for lang in ("zh", "en"):
        out = tmp_path / lang
        result = _invoke(lang, "scan", "-i", str(office), "--out", str(out), "--db", str(out / "h.db"),
                         "--timeout", "10", "--format", "json")
        assert result.exit_code == 3, result.output  # a host could not be probed
        data = json.loads(result.stdout)  # stdout is the document and nothing else
        valid("scan", data)
        assert "[1/4]" in result.stderr  # the progress stays on stderr
        assert OFFICE_PASSWORD not in result.stdout + result.stderr
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        assert data["run_id"] == results["run_id"] and data["results"] == str(out / "results.json")
        docs[lang] = data
    assert _volatile_free(docs["zh"]) == _volatile_free(docs["en"])  # nothing in it follows --lang
    data = docs["en"]
    assert (data["hosts"], data["swept"], data["compliant"], data["noncompliant"], data["not_probed"]) == (4, 4, 1, 2, 1)
    assert data["unprobed"] == {"Refused": 1} and data["exit_code"] == 3 and data["interrupted"] is False
    assert data["started"].endswith("+00:00") and data["finished"].endswith("+00:00")
    verdicts = {h["host"]: (h["status"], h["verdict"]) for h in data["host_results"]}
    assert verdicts == {"JS-FLAGS-1": ("ok", "noncompliant"), "JS-OK-1": ("ok", "compliant"),
                        "JS-NOCERT-1": ("ok", "noncompliant"), "JS-DOWN-1": ("refused", "not_probed")}
    down = next(h for h in data["host_results"] if h["host"] == "JS-DOWN-1")
    assert down["error_class"] == "Refused" and set(down["error"]) == {"zh", "en"} and down["failing"] == []
    flags = next(h for h in data["host_results"] if h["host"] == "JS-FLAGS-1")
    assert flags["findings"]["fail"] == len([f for f in flags["failing"] if f["status"] == "fail"]) > 0
    assert all(set(f["title"]) == {"zh", "en"} for f in flags["failing"])
    assert data["top_failing_checks"] and set(data["top_failing_checks"][0]["title"]) == {"zh", "en"}


def test_scan_json_of_the_golden_run_matches_the_schema() -> None:
    from fleetcheck.report.summary import scan_json, summarize

    run = golden_run()
    data = scan_json(summarize(run, len(run.hosts) + 1, {}), Path("out/results.json"), run)
    valid("scan", data)
    assert data["hosts"] == len(run.hosts) + 1 and data["exit_code"] == 3  # one host never swept
    assert all(c["not_after"] is None or c["not_after"].endswith("+00:00") for c in data["expiring_certificates"])
    assert data["expiring_certificates"], "the golden office has certificates due"


def test_fix_json_dry_run_and_apply_match_their_schema_and_audit_show_too(office: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "fix.db")
    dry = [_invoke(lang, "fix", "-i", str(office), "--db", db, "--now", AT_1600, "--timeout", "10", "--format", "json")
           for lang in ("zh", "en")]
    assert [r.exit_code for r in dry] == [3, 3]  # JS-DOWN-1 is unreachable
    assert dry[0].stdout_bytes == dry[1].stdout_bytes
    plan = json.loads(dry[0].stdout)
    valid("fix", plan)
    assert plan["apply"] is False and plan["run_id"] is None and plan["actions"] > 0
    assert plan["summary"]["change"] == ["JS-FLAGS-1"] and plan["summary"]["unreachable"] == ["JS-DOWN-1"]
    assert plan["hosts"]["JS-DOWN-1"] is None and set(plan["summary"]["unreachable_why"]["JS-DOWN-1"]) == {"zh", "en"}
    step = plan["hosts"]["JS-FLAGS-1"]["steps"][0]
    assert set(step["title"]) == {"zh", "en"} and all(set(d) == {"zh", "en"} for d in step["diff"])
    assert {a["kind"] for s in plan["hosts"]["JS-FLAGS-1"]["steps"] for a in s["actions"]} == {"set_value"}

    applied = _invoke("en", "fix", "-i", str(office), "--db", db, "--now", AT_1600, "--timeout", "10", "--apply",
                      "--format", "json", *NOT_RUNNING)
    assert applied.exit_code == 3, applied.output
    done = json.loads(applied.stdout)
    valid("fix", done)
    assert done["apply"] is True and done["run_id"] and done["stopped"] is False and done["stop_reason"] is None
    assert done["hosts"]["JS-FLAGS-1"]["status"] == "fixed" and done["hosts"]["JS-FLAGS-1"]["category"] == "change"
    assert {s["status"] for s in done["hosts"]["JS-FLAGS-1"]["steps"]} == {"applied"}
    assert done["summary"]["not_applied"] == []
    assert OFFICE_PASSWORD not in applied.output

    shown = [_invoke(lang, "audit", "show", "--db", db, "--format", "json") for lang in ("zh", "en")]
    assert [r.exit_code for r in shown] == [0, 0] and shown[0].stdout_bytes == shown[1].stdout_bytes
    entries = json.loads(shown[0].stdout)
    valid("audit-show", entries)
    assert entries and {e["host"] for e in entries} == {"JS-FLAGS-1"}
    assert all(e["run_id"] == done["run_id"] and e["at"].endswith("+00:00") for e in entries)
    assert {e["result_text"]["zh"] != e["result_text"]["en"] for e in entries} == {True}  # both languages
    assert _invoke("en", "audit", "verify", "--db", db).exit_code == 0


def test_collect_import_json_is_the_scan_document(tmp_path: Path) -> None:
    from fleetcheck.agent import POWERSHELL, build_payload, command_line
    from fleetcheck.evaluate import compile_request
    from fleetcheck.policy.loader import load_policy_files
    from fleetcheck.sim.host import SimulatedHost

    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC-01"}, datetime.now(timezone.utc))
    answer = host.run(POWERSHELL, command_line()[1], build_payload(compile_request(load_policy_files(()))))
    assert answer.exit_code == 0, answer.stderr
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "PC-01-20261201T080000Z.json").write_text(answer.stdout, encoding="utf-8")
    docs = []
    for lang in ("zh", "en"):
        result = _invoke(lang, "collect", "import", str(folder), "--out", str(tmp_path / lang),
                         "--db", f"sqlite:///{tmp_path / lang / 'h.db'}", "--format", "json")
        assert result.exit_code == 1, result.output  # no inventory variables: the certificate checks fail
        data = json.loads(result.stdout)  # the import notes went to stderr
        valid("scan", data)
        docs.append(data)
    assert _volatile_free(docs[0]) == _volatile_free(docs[1])
    [pc] = docs[1]["host_results"]
    assert (pc["host"], pc["status"], pc["verdict"]) == ("PC-01", "ok", "noncompliant") and pc["findings"]["pass"] > 0
    assert docs[1]["exit_code"] == 1 and docs[1]["noncompliant"] == 1


def test_the_enums_in_the_scan_and_fix_schemas_are_the_code_s() -> None:
    import typing

    from fleetcheck.agent import contract
    from fleetcheck.remediate.apply import HostFixStatus, StepStatus
    from fleetcheck.remediate.campaign import CATEGORIES

    scan = json.loads((templates_dir() / "scan.schema.json").read_text(encoding="utf-8"))["$defs"]["host"]["properties"]
    assert set(scan["status"]["enum"]) == {s.value for s in HostStatus}
    assert set(scan["findings"]["required"]) == {s.value for s in FindingStatus}
    fix = json.loads((templates_dir() / "fix.schema.json").read_text(encoding="utf-8"))["$defs"]
    kinds = {m.model_fields["kind"].default for m in typing.get_args(typing.get_args(contract.Action)[0])}
    action = fix["plan"]["properties"]["steps"]["items"]["properties"]["actions"]["items"]
    assert set(action["properties"]["kind"]["enum"]) == kinds
    assert set(fix["fixed"]["properties"]["status"]["enum"]) == set(typing.get_args(HostFixStatus))
    step = fix["fixed"]["properties"]["steps"]["items"]["properties"]
    assert set(step["status"]["enum"]) == set(typing.get_args(StepStatus))
    assert set(fix["fixed"]["properties"]["category"]["enum"]) == set(CATEGORIES)
