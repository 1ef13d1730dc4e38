"""Windows fidelity end to end over WinRM (issue "Windows fidelity", acceptance 2).

Simulated PCs whose registry says what real Windows would hold; the shipped
pack, swept over WS-Management by ``fleetcheck scan``, must fail exactly where
32-bit IE 11 / Edge would fail (docs/windows-semantics.md):

* CertEnroll disabled by the machine "Add-on List" policy
  (``HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\Ext\\CLSID``);
* JITVCTK disabled by the user Add-on List policy (``HKU\\<SID>\\Software\\...``);
* "deny all add-ons unless listed" (RestrictToList) with only CertEnroll listed;
* under ``Security_HKLM_only``: compliant 64-bit machine zone keys with
  non-compliant ``WOW6432Node`` keys (what 32-bit IE reads) fail the zone checks;
* an ``edge_policy`` check of InternetExplorerIntegrationLevel set only as
  Recommended ("Can be recommended: No") fails;
* the compliant image, and an x64 image whose controls are registered only in
  the 64-bit view (invisible to 32-bit IE), for contrast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.sim.office import OfficeSpec, start_office

pytestmark = pytest.mark.sim

PASSWORD = "Fidelity-Secret-3141"
CERTENROLL = "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
JITVCTK = "{707C7D52-85A8-4584-8954-573EFCE77488}"
OPERATOR_SID = "S-1-5-21-1004336348-1177238915-682003330-1105"
POLICY_EXT = r"Microsoft\Windows\CurrentVersion\Policies\Ext"
IS = r"Microsoft\Windows\CurrentVersion\Internet Settings"

IMAGES: dict[str, str] = {
    "machine-addon-list": f"""
extends: win10-compliant
registry:
  'SOFTWARE\\{POLICY_EXT}': {{ListBox_Support_CLSID: 1}}
  'SOFTWARE\\{POLICY_EXT}\\CLSID': {{'{CERTENROLL}': "0"}}
""",
    "user-addon-list": f"""
extends: win10-compliant
profiles:
  - sid: ${{operator_sid}}
    registry:
      'Software\\{POLICY_EXT}': {{ListBox_Support_CLSID: 1}}
      'Software\\{POLICY_EXT}\\CLSID': {{'{JITVCTK}': "0"}}
""",
    "restrict-to-list": f"""
extends: win10-compliant
registry:
  'SOFTWARE\\{POLICY_EXT}': {{ListBox_Support_CLSID: 1, RestrictToList: 1}}
  'SOFTWARE\\{POLICY_EXT}\\CLSID': {{'{CERTENROLL}': "1"}}
""",
    "hklm-only-views": f"""
extends: win10-compliant
registry:
  'SOFTWARE\\Policies\\{IS}': {{Security_HKLM_only: 1}}
  # What a 64-bit tool shows: compliant.
  'SOFTWARE\\{IS}\\Zones\\2': {{'1004': 0, '1803': 0, '2201': 0}}
  'SOFTWARE\\{IS}\\ZoneMap\\Domains\\sccc.com\\biz': {{https: 2}}
  # What 32-bit IE reads: the Windows defaults, not compliant.
  'SOFTWARE\\WOW6432Node\\{IS}\\Zones\\2': {{'1004': 3, '1803': 0, '2201': 3}}
""",
    "edge-level-recommended": """
extends: win10-compliant
registry:
  'SOFTWARE\\Policies\\Microsoft\\Edge':
    InternetExplorerIntegrationLevel: null
  'SOFTWARE\\Policies\\Microsoft\\Edge\\Recommended':
    InternetExplorerIntegrationLevel: 1
""",
    "controls-64bit-only": f"""
extends: win10-compliant
activex:
  '{CERTENROLL}': null
registry:
  'SOFTWARE\\Classes\\CLSID\\{CERTENROLL}\\InprocServer32':
    '': 'C:\\Windows\\System32\\JITCertEnroll.ocx'
files:
  'C:\\Windows\\System32\\JITCertEnroll.ocx': {{version: 2.0.4.8}}
""",
    "compliant": "extends: win10-compliant\n",
}

LEVEL_POLICY = """
id: fidelity-edge
title: {zh: Edge IE 集成级别, en: Edge IE integration level}
version: 1
checks:
  - id: edge-ie-integration-level
    title: {zh: InternetExplorerIntegrationLevel 为 1, en: InternetExplorerIntegrationLevel is 1}
    type: edge_policy
    name: InternetExplorerIntegrationLevel
    equals: 1
    scope: machine
    severity: high
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, str]]]:
    state = tmp_path_factory.mktemp("fidelity")
    groups = []
    for name, text in IMAGES.items():
        path = state / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        groups.append({"name": name.replace("-", "_"), "image": str(path), "count": 1,
                       "vars": {"hostname": f"FID-{name}", "gateway_cert": "F00504Y0007#0"}})
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 1, "agent_ms": 5}},
        "groups": groups,
    })
    policies = state / "policies"
    policies.mkdir()
    (policies / "level.yaml").write_text(LEVEL_POLICY, encoding="utf-8")
    shipped = Path(__file__).resolve().parents[2] / "policies" / "sccc-gateway-cert.yaml"
    out = state / "out"
    with start_office(spec, state / "office", first_address=worker_address("127.0.89.1"), now=datetime.now(timezone.utc)) as running:
        inventory = running.write_inventory(state / "inventory.yaml")
        result = CliRunner().invoke(main, [
            "--lang", "en", "scan", "-i", str(inventory), "-p", str(shipped), "-p", str(policies),
            "--timeout", "30", "--out", str(out), "--db", str(state / "fidelity.db"),
        ])
    assert result.exit_code in (0, 1), result.output
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    verdicts: dict[str, dict[str, str]] = {}
    for host in doc["hosts"]:
        assert host["status"] == "ok", (host["host"], host.get("error"))
        verdicts[host["host"].split("-", 1)[1]] = {f["check_id"]: f["status"] for f in host["findings"]}
    yield verdicts


def test_compliant_pc_passes_every_check(swept: dict[str, dict[str, str]]) -> None:
    bad = {c: s for c, s in swept["compliant"].items() if s not in ("pass", "not_applicable")}
    assert bad == {}


def test_certenroll_disabled_by_machine_addon_list_fails(swept: dict[str, dict[str, str]]) -> None:
    assert swept["machine-addon-list"]["certenroll-control"] == "fail"
    assert swept["machine-addon-list"]["jitvctk-control"] == "pass"


def test_jitvctk_disabled_by_user_addon_list_fails(swept: dict[str, dict[str, str]]) -> None:
    assert swept["user-addon-list"]["jitvctk-control"] == "fail"
    assert swept["user-addon-list"]["certenroll-control"] == "pass"


def test_restrict_to_list_denies_unlisted_controls(swept: dict[str, dict[str, str]]) -> None:
    verdicts = swept["restrict-to-list"]
    assert verdicts["certenroll-control"] == "pass"
    assert verdicts["jitvctk-control"] == "fail"


def test_hklm_only_reads_the_32bit_view(swept: dict[str, dict[str, str]]) -> None:
    verdicts = swept["hklm-only-views"]
    assert verdicts["trusted-activex-prompt"] == "fail"
    assert verdicts["trusted-unsigned-activex"] == "fail"
    assert verdicts["portal-trusted-site"] == "fail"
    assert verdicts["trusted-file-download"] == "pass"  # 1803=0 in the 32-bit view too


def test_recommended_only_ie_integration_level_fails(swept: dict[str, dict[str, str]]) -> None:
    assert swept["edge-level-recommended"]["edge-ie-integration-level"] == "fail"
    assert swept["compliant"]["edge-ie-integration-level"] == "pass"


def test_64bit_only_registration_is_not_installed_for_32bit_ie(swept: dict[str, dict[str, str]]) -> None:
    assert swept["controls-64bit-only"]["certenroll-control"] == "fail"
