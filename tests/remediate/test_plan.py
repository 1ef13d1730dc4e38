"""The pure planner against shipped images, executed in-process (no network)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from fleetcheck.agent.contract import ProbeRequest, SetValue
from fleetcheck.checks.ie_mode_site import parse_site_list
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.remediate.fixes import site_list_xml
from fleetcheck.remediate.plan import PlanOptions, plan_host
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import instantiate

NOW = datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc)
VARS = {"hostname": "PC1", "operator": "TRADE\\t01", "operator_name": "t01",
        "operator_sid": "S-1-5-21-1-2-3-1001", "gateway_cert": "F00504Y0007#0", "cert_kind": "file"}
POLICIES = load_policies(shipped_policy_paths())


def plan_and_fix(image: str, options: PlanOptions) -> tuple[list[SetValue], list[str]]:
    img = instantiate(image, VARS, NOW)
    facts, _ = execute(img, compile_request(POLICIES))
    ev = evaluate_host(POLICIES, facts, host_vars=VARS, now=NOW)
    plan = plan_host(ev.findings, facts, POLICIES, host_vars=VARS, now=NOW, options=options)
    execute(img, ProbeRequest(actions=plan.actions))
    again, _ = execute(img, compile_request(POLICIES))
    fails = [f.check_id for f in evaluate_host(POLICIES, again, host_vars=VARS, now=NOW).findings
             if f.status.value == "fail"]
    return [a for a in plan.actions if isinstance(a, SetValue)], fails


def test_user_strategy_writes_operator_hive() -> None:
    sets, fails = plan_and_fix("win10-zone-flags-wrong", PlanOptions())
    assert {(a.hive, a.sid, a.name) for a in sets} == {("HKU", "S-1-5-21-1-2-3-1001", n) for n in ("1004", "1803", "2201")}
    assert fails == []


def test_machine_policy_strategy_writes_hklm_policies() -> None:
    sets, fails = plan_and_fix("win10-no-trusted-site", PlanOptions(strategy="machine-policy"))
    assert [(a.hive, a.path.rsplit("\\", 1)[-1], a.name, a.value.v) for a in sets] == [
        ("HKLM", "ZoneMapKey", "https://biz.sccc.com", "2")]
    assert fails == []


def test_site_list_escapes_hostile_values() -> None:
    hostile = 'evil.example"><site url="x'
    data = site_list_xml(["biz.sccc.com", hostile])
    root = ET.fromstring(data)
    assert [s.get("url") for s in root.iter("site")] == ["biz.sccc.com", hostile]
    assert parse_site_list(data)[0].ie


def test_manual_findings_say_what_to_do() -> None:
    img = instantiate("win10-no-feitian-driver", VARS, NOW)
    facts, _ = execute(img, compile_request(POLICIES))
    ev = evaluate_host(POLICIES, facts, host_vars=VARS, now=NOW)
    plan = plan_host(ev.findings, facts, POLICIES, host_vars=VARS, now=NOW)
    assert not plan.actions
    assert [m.check_id for m in plan.manual] == ["feitian-driver"] and "Feitian" in plan.manual[0].remedy.en


# --- plans write where IE reads (docs/windows-semantics.md: WOW64 views, policy zone maps)

IS = r"Microsoft\Windows\CurrentVersion\Internet Settings"


def _image_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pc.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_hklm_only_zone_fix_writes_the_32bit_view_and_converges(tmp_path: Path) -> None:
    image = _image_file(tmp_path, f"""
extends: win10-compliant
registry:
  'SOFTWARE\\Policies\\{IS}': {{Security_HKLM_only: 1}}
  'SOFTWARE\\{IS}\\Zones\\2': {{'1004': 0, '2201': 0}}
  'SOFTWARE\\{IS}\\ZoneMap\\Domains\\sccc.com\\biz': {{https: 2}}
""")
    sets, fails = plan_and_fix(image, PlanOptions())
    zone_sets = [a for a in sets if a.name in ("1004", "2201", "https")]
    assert zone_sets and all(a.hive == "HKLM" and "\\WOW6432Node\\" in a.path for a in zone_sets), zone_sets
    assert all(a.value.t == "DWORD" for a in zone_sets)
    assert not {"portal-trusted-site", "trusted-activex-prompt", "trusted-unsigned-activex"} & set(fails)


def test_trusted_site_fix_goes_into_the_deciding_policy_hive(tmp_path: Path) -> None:
    # A machine policy zone map is in effect: the user's own map is ignored, so the entry
    # must go into the machine Site to Zone Assignment List (read before that hive's map).
    image = _image_file(tmp_path, f"""
extends: win10-compliant
registry:
  'SOFTWARE\\Policies\\{IS}\\ZoneMap\\Domains\\example.com': {{https: 2}}
""")
    sets, fails = plan_and_fix(image, PlanOptions())
    assert [(a.hive, a.path.rsplit("\\", 1)[-1], a.name) for a in sets if "ZoneMap" in a.path] == [
        ("HKLM", "ZoneMapKey", "https://biz.sccc.com")]
    assert "portal-trusted-site" not in fails


def test_trusted_site_fix_ignores_the_user_policy_list_under_hklm_only(tmp_path: Path) -> None:
    image = _image_file(tmp_path, f"""
extends: win10-compliant
registry:
  'SOFTWARE\\Policies\\{IS}': {{Security_HKLM_only: 1}}
  'SOFTWARE\\WOW6432Node\\{IS}\\Zones\\2': {{'1004': 0, '2201': 0, '1803': 0}}
profiles:
  - sid: ${{operator_sid}}
    registry:
      'Software\\Policies\\{IS}\\ZoneMapKey': {{'https://biz.sccc.com': "2"}}
""")
    sets, fails = plan_and_fix(image, PlanOptions())
    targets = [(a.hive, a.path) for a in sets if "ZoneMap" in a.path]
    assert targets and all(hive == "HKLM" for hive, _ in targets), targets
    assert "portal-trusted-site" not in fails
