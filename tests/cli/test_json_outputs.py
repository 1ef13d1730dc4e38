"""``--format json`` of history, certs, diff and inventory check: valid against the shipped schema, same bytes in every language."""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

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
    return run.model_copy(update={"hosts": hosts})


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


@pytest.mark.parametrize("name", ["history", "certs", "diff", "inventory-check", "renew"])
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
