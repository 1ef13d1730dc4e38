"""The engine: compile, operator choice, isolation of failures, the whole SCCC pack."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "checks"))

from case_facts import OPERATOR_SID, build_facts, compliant_host

from fleetcheck.checks.base import REGISTRY, CheckBase, Description, Outcome, register
from fleetcheck.evaluate import compile_request, evaluate_host, select_operator
from fleetcheck.findings import FindingStatus, Severity
from fleetcheck.policy.loader import load_policy
from fleetcheck.resources import policies_dir

NOW = dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
VARS = {"gateway_cert": "F00504Y0007#0"}


@pytest.fixture(scope="module")
def pack() -> Any:
    return load_policy(policies_dir() / "sccc-gateway-cert.yaml")


@dataclass
class P:
    id: str
    checks: list[CheckBase]
    vars: dict[str, Any] = field(default_factory=dict)


def test_compile_deduplicates_and_is_stable(pack: Any) -> None:
    req = compile_request([pack])
    ids = [q.id for q in req.queries]
    assert len(ids) == len(set(ids))
    assert ids == [q.id for q in compile_request([pack, pack]).queries]
    # Four zone-action checks share the layers of Zones\\2, queried once each: machine policy,
    # user policy, user preference, and the machine preference in both views (native and
    # WOW6432Node, which 32-bit IE reads on 64-bit Windows).
    zone_keys = [q for q in req.queries if getattr(q, "path", "").endswith("Zones\\2")]
    assert len(zone_keys) == 5
    assert req.want_processes is True


def test_compile_takes_no_host_vars(pack: Any) -> None:
    # One compiled request serves a whole sweep: the function has no place for host variables.
    with pytest.raises(TypeError):
        compile_request([pack], {"gateway_cert": "A"})  # type: ignore[call-arg]


def test_compliant_hosts_pass_everything(pack: Any) -> None:
    for win7 in (False, True):
        facts = build_facts(compile_request([pack]), compliant_host(win7=win7), NOW)
        result = evaluate_host([pack], facts, host_vars=VARS, now=NOW, host="PC-1")
        bad = [(f.check_id, f.status.value, f.message) for f in result.findings
               if f.status not in (FindingStatus.passed, FindingStatus.not_applicable)]
        assert bad == []
        assert result.operator is not None and result.operator.sid == OPERATOR_SID
        applicable = {f.check_id for f in result.findings if f.status is FindingStatus.passed}
        assert ("trusted-download-prompt" in applicable) is win7
        assert ("portal-ie-mode" in applicable) is not win7


def test_findings_carry_policy_metadata(pack: Any) -> None:
    desc = compliant_host()
    desc["tcp"] = {}
    facts = build_facts(compile_request([pack]), desc, NOW)
    finding = next(f for f in evaluate_host([pack], facts, host_vars=VARS, now=NOW).findings
                   if f.check_id == "portal-reachable")
    assert finding.status is FindingStatus.fail
    assert finding.policy_id == "sccc-gateway-cert"
    assert finding.guide == "三.7" and finding.remedy is not None and "常见问题 7" in finding.remedy.zh
    assert finding.title.en.startswith("The PC can reach")


def test_policy_vars_are_defaults_under_host_vars(pack: Any) -> None:
    facts = build_facts(compile_request([pack]), compliant_host(), NOW)
    with_default = P(pack.id, list(pack.checks), {"gateway_cert": "F00504Y0007#0"})
    result = evaluate_host([with_default], facts, host_vars={}, now=NOW)
    cert = next(f for f in result.findings if f.check_id == "gateway-cert-present")
    assert cert.status is FindingStatus.passed
    result = evaluate_host([with_default], facts, host_vars={"gateway_cert": "X#0"}, now=NOW)
    cert = next(f for f in result.findings if f.check_id == "gateway-cert-present")
    assert cert.status is FindingStatus.fail


class BoomSpec(CheckBase):
    type: Literal["boom_for_test"]


def _boom(spec: Any, ctx: Any) -> Outcome:
    raise ZeroDivisionError("secret-ish detail")


def test_exception_in_one_check_is_an_error_finding_only_for_it(pack: Any) -> None:
    register("boom_for_test", BoomSpec, lambda s: [], _boom, lambda s: Description([], ""))
    try:
        boom = BoomSpec(id="boom", type="boom_for_test", title="炸", severity=Severity.low)
        policy = P("mixed", [boom, *pack.checks])
        facts = build_facts(compile_request([pack]), compliant_host(), NOW)
        result = evaluate_host([policy], facts, host_vars=VARS, now=NOW)
    finally:
        REGISTRY.pop("boom_for_test", None)
    first, rest = result.findings[0], result.findings[1:]
    assert first.status is FindingStatus.error
    assert first.message is not None and "ZeroDivisionError" in first.message.en
    assert "secret-ish" not in first.message.en
    assert all(f.status in (FindingStatus.passed, FindingStatus.not_applicable) for f in rest)


def test_missing_answer_is_an_error_not_a_pass(pack: Any) -> None:
    facts = build_facts(compile_request([]), compliant_host(), NOW)  # facts for another policy
    result = evaluate_host([pack], facts, host_vars=VARS, now=NOW)
    statuses = {f.check_id: f.status for f in result.findings}
    assert statuses["portal-reachable"] is FindingStatus.error
    assert FindingStatus.passed not in statuses.values()


def test_select_operator_prefers_console_user() -> None:
    facts = build_facts(compile_request([]), {"profiles": [
        {"sid": "S-1-5-21-9-9-9-1", "user": "CORP\\a", "loaded": True, "interactive": True},
        {"sid": "S-1-5-21-9-9-9-2", "user": "CORP\\b", "loaded": True, "console": True},
        {"sid": "S-1-5-18", "user": "NT AUTHORITY\\SYSTEM", "loaded": True, "console": True},
    ]}, NOW)
    chosen = select_operator(facts, {})
    assert chosen is not None and chosen.user == "CORP\\b"
    by_name = select_operator(facts, {"operator": "a"})
    assert by_name is not None and by_name.user == "CORP\\a"
    assert select_operator(facts, {"operator": "CORP\\zz"}) is None


def test_cli_evaluate_table_json_and_bad_facts(tmp_path: Path, pack: Any) -> None:
    import json

    from click.testing import CliRunner

    from fleetcheck.cli import main

    desc = compliant_host()
    desc["tcp"] = {}
    facts = build_facts(compile_request([pack]), desc, NOW)
    facts_path = tmp_path / "facts.json"
    facts_path.write_text(facts.model_dump_json(), encoding="utf-8")
    vars_path = tmp_path / "vars.yaml"
    vars_path.write_text("gateway_cert: 'F00504Y0007#0'\n", encoding="utf-8")
    policy = str(policies_dir() / "sccc-gateway-cert.yaml")
    runner = CliRunner()
    args = ["evaluate", "--facts", str(facts_path), "--policy", policy, "--host-vars", str(vars_path),
            "--now", "2025-06-01T10:00:00+08:00"]
    res = runner.invoke(main, args)
    assert res.exit_code == 1, res.output
    assert "不合规" in res.output and "portal-reachable" in res.output
    res = runner.invoke(main, ["--lang", "en", *args, "--format", "json"])
    doc = json.loads(res.output)
    by_id = {f["check_id"]: f["status"] for f in doc["findings"]}
    assert by_id["portal-reachable"] == "fail" and by_id["gateway-cert-present"] == "pass"
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "os": {}', encoding="utf-8")
    res = runner.invoke(main, ["--lang", "en", "evaluate", "--facts", str(bad), "--policy", policy])
    assert res.exit_code == 2 and "not JSON" in res.output and "Traceback" not in res.output


def test_user_sid_prefixes_are_defined_once_in_the_contract() -> None:
    import ast

    import fleetcheck.evaluate as evaluate_module
    from fleetcheck.agent import contract

    assert evaluate_module.USER_SID_PREFIXES is contract.USER_SID_PREFIXES
    package = Path(__file__).resolve().parents[1] / "fleetcheck"
    defining = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in ("S-1-5-21-", "S-1-12-")
    )
    assert set(defining) == {"agent/contract.py"}
