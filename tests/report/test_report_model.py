"""Report view model (golden), readiness rule, run diff."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from report_factory import T0, finding, golden_run, host  # type: ignore[import-not-found]

from fleetcheck.findings import FindingStatus, HostStatus
from fleetcheck.readiness import ReadinessState, host_readiness
from fleetcheck.report.diff import diff_runs
from fleetcheck.report.model import TrendPoint, build_report, expiry_class, report_json_schema

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("FLEETCHECK_REGEN_GOLDEN") == "1"  # FLEETCHECK_REGEN_GOLDEN=1 pytest tests/report
TREND = [TrendPoint("run-20250224-0930", "2025-02-24T01:30:00+00:00", 50.0),
         TrendPoint("run-20250301-0930", "2025-03-01T01:30:00+00:00", None)]


def _golden(name: str, data: object) -> None:
    path = GOLDEN / name
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with FLEETCHECK_REGEN_GOLDEN=1"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_view_model_golden(lang: str) -> None:
    model = build_report(golden_run(), lang=lang, trend=TREND)  # type: ignore[arg-type]
    _golden(f"golden_run.{lang}.json", dataclasses.asdict(model))


def test_json_schema_checked_in_matches_model(repo_root: Path) -> None:
    # The documented schema (shipped in reports_templates/) is the model's schema.
    path = repo_root / "reports_templates" / "report.schema.json"
    schema = report_json_schema()
    if REGEN:
        path.write_text(json.dumps(schema, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert _same_meaning(json.loads(path.read_text(encoding="utf-8"))) == _same_meaning(schema)


def _same_meaning(schema: Any) -> Any:
    """The schema without what pydantic versions spell differently for the same meaning.

    pydantic 2.8 (the declared floor) writes ``enum: [x]`` beside ``const: x``, leaves out
    ``additionalProperties: true`` (JSON Schema's default) and a dataclass's docstring as
    ``description``; later releases do the opposite. Types, names and required fields must agree.
    """
    if isinstance(schema, dict):
        kept = {k: _same_meaning(v) for k, v in schema.items() if k != "description"}
        if "const" in kept and kept.get("enum") == [kept["const"]]:
            del kept["enum"]
        if kept.get("additionalProperties") is True:
            del kept["additionalProperties"]
        return kept
    if isinstance(schema, list):
        return [_same_meaning(v) for v in schema]
    return schema


def test_overview_numbers_a_user_reads() -> None:
    m = build_report(golden_run(), trend=TREND)
    o = m.overview
    assert (o.hosts, o.probed, o.compliant, o.not_probed) == (9, 7, 1, 2)
    assert o.pct == 14.3
    branches = {b.name: (b.hosts, b.probed, b.compliant) for b in o.by_branch}
    assert branches == {"上海分公司": (5, 4, 0), "深圳总部": (4, 3, 1)}
    worst = o.by_check[0]
    assert worst.check_id == "gateway-cert-due" and worst.failed == 4
    assert [p.run_id for p in m.trend][-1] == "run-20250303-0930" and m.trend[-1].pct == 14.3
    assert [h.state for h in m.hosts][:6] == ["failing"] * 6
    assert m.failed_hosts[0].host == "pc-sh-007" and m.failed_hosts[0].error_class == "AuthFailed"


def test_certificate_table_sorted_and_classed() -> None:
    certs = build_report(golden_run()).certificates
    assert [(c.days_left, c.expiry_class) for c in certs] == [
        (-3, "expired"), (5, "lt7"), (12, "lt30"), (25, "lt30"), (90, "ok"), (200, "ok")]
    assert [expiry_class(d) for d in (None, -1, 0, 6, 7, 29, 30)] == [
        "unknown", "expired", "lt7", "lt7", "lt30", "lt30", "ok"]


def test_fix_command_only_for_failing_auto_findings() -> None:
    m = build_report(golden_run(), lang="en")
    by_host = {h.host: h for h in m.hosts}
    f = next(x for x in by_host["pc-sz-003"].findings if x.check_id == "zone2-unsigned-activex")
    assert f.fix_command == "fleetcheck fix pc-sz-003 -i inventory.yaml"
    assert f.remedy and f.remedy.startswith("Set Trusted zone action 1004")
    manual = [x for h in m.hosts for x in h.findings if x.fix != "auto" or x.status != "fail"]
    assert all(x.fix_command is None for x in manual)


def test_readiness_states() -> None:
    run = golden_run()
    states = {h.host: host_readiness(h).state for h in run.hosts}
    assert states == {
        "pc-sz-001": ReadinessState.not_due, "pc-sz-002": ReadinessState.ready,
        "pc-sz-003": ReadinessState.blocked, "pc-sz-004": ReadinessState.unknown,
        "pc-sh-005": ReadinessState.unknown, "pc-sh-006": ReadinessState.blocked,
        "pc-sh-007": ReadinessState.unknown, "pc-sh-008": ReadinessState.blocked,
        "pc-sh-009": ReadinessState.blocked,
    }
    expired = host_readiness(run.hosts[5])
    assert [b.status for b in expired.blockers] == ["expired"]
    blocked = host_readiness(run.hosts[2])
    assert [b.check_id for b in blocked.blockers] == ["zone2-unsigned-activex"]
    assert blocked.days_left == 5


def test_readiness_waived_prerequisite_does_not_block_and_requirement_from_details() -> None:
    waived = host("pc-x-010", days_left=10, overrides={
        "feitian-driver": finding("feitian-driver", FindingStatus.waived)})
    assert host_readiness(waived).state is ReadinessState.ready
    # an older finding that carries its R-number only in details
    due = finding("gateway-cert-due", FindingStatus.fail, details={"days_left": 3, "requirement": "R14"})
    legacy = host("pc-x-011", overrides={"gateway-cert-due": due.model_copy(update={"requirement": None})})
    assert host_readiness(legacy).state is ReadinessState.ready
    no_r14 = host("pc-x-012", checks=["portal-trusted-site"])
    assert host_readiness(no_r14).state is ReadinessState.unknown


def test_diff_two_runs_that_differ() -> None:
    a = golden_run("a", T0 - timedelta(days=7))
    b = golden_run("b", T0)
    a.hosts[0] = host("pc-sz-001", overrides={
        "zone2-file-download": finding("zone2-file-download", FindingStatus.fail, observed="3")})
    b.hosts[1] = host("pc-sz-002", days_left=12, overrides={
        "portal-ie-mode": finding("portal-ie-mode", FindingStatus.fail, observed="Edge")})
    b.hosts[3] = host("pc-sz-004")  # was timed out, now probed
    del b.hosts[6]  # pc-sh-007 gone
    b.hosts.append(host("pc-sz-010"))
    d = diff_runs(a, b)
    assert [(c.host, c.check_id) for c in d.new_failures] == [("pc-sz-002", "portal-ie-mode")]
    assert [(c.host, c.check_id, c.before, c.after) for c in d.fixed] == [
        ("pc-sz-001", "zone2-file-download", "fail", "pass")]
    assert d.hosts_appeared == ["pc-sz-010"] and d.hosts_disappeared == ["pc-sh-007"]
    assert [(s.host, s.before, s.after) for s in d.host_status_changed] == [("pc-sz-004", "timeout", "ok")]
    assert diff_runs(a, a).empty


def test_trend_with_two_stored_runs(tmp_path: Path) -> None:
    from fleetcheck.report.publish import trend_points
    from fleetcheck.store import Store

    older = golden_run("a", T0 - timedelta(days=7))
    older.hosts[1] = host("pc-sz-002", days_left=200)  # compliant then: 2 of 7
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        store.record_run(older, certificates=())
        store.record_run(golden_run("b", T0), certificates=())
        points = trend_points(store.trend("b"))
    m = build_report(golden_run("b", T0), trend=points)
    assert [(p.run_id, p.pct) for p in m.trend] == [("a", 28.6), ("b", 14.3)]


def test_unreachable_host_is_not_counted_as_probed() -> None:
    run = golden_run()
    run.hosts[0] = run.hosts[0].model_copy(update={"status": HostStatus.refused, "findings": []})
    assert build_report(run).overview.probed == 6
