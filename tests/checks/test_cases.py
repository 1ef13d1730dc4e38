"""Every fixture case under tests/checks/<type>/*.yaml, run through the real engine.

A case file holds one case, or several under ``cases:``. Each case::

    name: machine-policy-wins            # (with cases:) part of the test id
    check: {type: zone_action, ...}      # a spec (id/title filled in), or
    pack_check: trusted-file-download    # a check of the shipped SCCC pack
    override: {min_days_left: 60}        # optional changes to the pack check
    facts: {...}                         # see case_facts.py
    host_vars: {gateway_cert: ...}       # default {gateway_cert: F00504Y0007#0}
    now: 2025-06-01T10:00:00+08:00
    waivers: [...]; host: PC-SZ-001; groups: [...]
    expect:
      status: fail                       # required
      observed: "3"                      # substrings of the finding's fields
      source: "HKU\\S-1-5-21"
      message: "expired"                 # searched in zh and en
      details: {days_left: -3}           # subset, equal
      severity: critical
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from case_facts import build_facts
from ruamel.yaml import YAML

from fleetcheck.checks import REGISTRY
from fleetcheck.checks.base import CheckBase
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.findings import Finding
from fleetcheck.policy.waivers import Waiver

HERE = Path(__file__).resolve().parent
PACK_PATH = HERE.parent.parent / "policies" / "sccc-gateway-cert.yaml"
DEFAULT_NOW = dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DEFAULT_VARS = {"gateway_cert": "F00504Y0007#0"}


@dataclass
class CasePolicy:
    id: str
    checks: list[CheckBase]
    vars: dict[str, Any] = field(default_factory=dict)


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def pack_raw() -> dict[str, dict[str, Any]]:
    doc = _yaml().load(PACK_PATH.read_text(encoding="utf-8"))
    return {c["id"]: c for c in doc["checks"]}


PACK = pack_raw()


def collect() -> list[Any]:
    params = []
    for path in sorted(HERE.glob("*/*.yaml")):
        doc = _yaml().load(path.read_text(encoding="utf-8"))
        cases = doc.get("cases", [doc]) if isinstance(doc, dict) else []
        for index, case in enumerate(cases):
            name = case.get("name", str(index))
            params.append(pytest.param(case, id=f"{path.parent.name}/{path.stem}/{name}"))
    return params


CASES = collect()


def spec_of(case: dict[str, Any]) -> CheckBase:
    if "pack_check" in case:
        raw = {**PACK[case["pack_check"]], **(case.get("override") or {})}
    else:
        raw = {"id": "case-check", "title": {"zh": "用例", "en": "case"}, **case["check"]}
    return REGISTRY[raw["type"]].spec.model_validate(raw)


def run_case(case: dict[str, Any]) -> Finding:
    spec = spec_of(case)
    policy = CasePolicy("sccc-gateway-cert" if "pack_check" in case else "case-policy", [spec])
    now = case.get("now", DEFAULT_NOW)
    if isinstance(now, str):
        now = dt.datetime.fromisoformat(now)
    request = compile_request([policy])
    facts = build_facts(request, case.get("facts"), now)
    waivers = [Waiver.model_validate(w) for w in case.get("waivers", [])]
    result = evaluate_host(
        [policy],
        facts,
        host_vars=case.get("host_vars", DEFAULT_VARS),
        now=now,
        waivers=waivers,
        host=case.get("host", "PC-SZ-001"),
        groups=case.get("groups", []),
    )
    assert len(result.findings) == 1
    return result.findings[0]


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    finding = run_case(case)
    expect = case["expect"]
    shown = f"{finding.status.value}: observed={finding.observed!r} source={finding.source!r} message={finding.message}"
    assert finding.status.value == expect["status"], shown
    for name in ("observed", "source", "expected"):
        if name in expect:
            assert expect[name] in (getattr(finding, name) or ""), shown
    if "message" in expect:
        text = f"{finding.message.zh} | {finding.message.en}" if finding.message else ""
        for part in expect["message"] if isinstance(expect["message"], list) else [expect["message"]]:
            assert part in text, shown
    for key, want in (expect.get("details") or {}).items():
        assert finding.details.get(key) == want, f"details[{key!r}] = {finding.details.get(key)!r}; {shown}"
    if "remedy" in expect:
        remedy = f"{finding.remedy.zh} | {finding.remedy.en}" if finding.remedy else ""
        for part in expect["remedy"] if isinstance(expect["remedy"], list) else [expect["remedy"]]:
            assert part in remedy, f"remedy={remedy!r}; {shown}"
    if "severity" in expect:
        assert finding.severity.value == expect["severity"], shown
    if "waived_from" in expect:
        assert finding.waiver is not None and finding.waiver["original_status"] == expect["waived_from"]
    if finding.message is not None:
        assert finding.message.zh and finding.message.en, "messages must be bilingual"


def test_every_pack_check_has_pass_and_fail_cases() -> None:
    """R1–R15 of the shipped pack: each check has pass and fail cases; user ones no-operator too."""
    seen: dict[str, set[str]] = {cid: set() for cid in PACK}
    for param in CASES:
        case = param.values[0]
        if "pack_check" in case:
            seen[case["pack_check"]].add(case["expect"]["status"])
    for cid, raw in PACK.items():
        assert {"pass", "fail"} <= seen[cid], f"{cid} needs pass and fail cases, has {sorted(seen[cid])}"
        if raw.get("scope", "user" if raw["type"] == "certificate" else "machine") == "user":
            assert "not_evaluated" in seen[cid], f"{cid} is user-scoped: needs a no-operator case"


def test_pack_covers_every_requirement() -> None:
    reqs = {raw.get("requirement") for raw in PACK.values()}
    missing = {f"R{n}" for n in range(1, 16)} - reqs
    assert not missing, f"requirements without a check: {sorted(missing)}"
