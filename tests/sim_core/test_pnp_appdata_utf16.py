"""Windows behaviours the simulator models for issue 12 findings 9 and 10, and
strings holding any UTF-16 code unit:

* Win32_PnPEntity on Windows 10/11 lists devices that are not connected
  (phantoms, ``Present`` false, ConfigManagerErrorCode 45); before Windows 10
  there is no ``Present`` property and only connected devices are listed. A
  serial-less token that moved ports leaves a phantom instance behind.
* CurrentUser\\My's file store is ``%APPDATA%\\Microsoft\\SystemCertificates\\My\\Certificates``
  where ``%APPDATA%`` is the user's ``User Shell Folders\\AppData`` (redirectable,
  also to a share the WinRM session cannot reach: the second hop).
* A registry string may hold an unpaired surrogate; agent.ps1 writes it as
  ``\\udXXX`` and the controller's parser gives it back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fleetcheck.agent import agent_script, build_payload, command_line, parse_output
from fleetcheck.agent.contract import (
    DirQuery,
    PnpQuery,
    ProbeRequest,
    RegistryQuery,
    RegValue,
    SetValue,
)
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.sim import executor
from fleetcheck.sim import image as image_module
from fleetcheck.sim.executor import agent_json, execute
from fleetcheck.sim.host import SimulatedHost
from fleetcheck.sim.image import (
    HostImage,
    dump_state,
    instantiate,
    user_appdata_dir,
    user_personal_store_dir,
)

from .conftest import NOW, OPERATOR_SID

MOVED = r"USB\VID_096E&PID_0807\5&2A3F1C0&0&4"
MOVED_CHILD = r"USB\VID_096E&PID_0807&MI_00\6&3D4E5F6&0&0000"
OLD_PORT = r"USB\VID_096E&PID_0807\5&2A3F1C0&0&2"
OLD_PORT_CHILD = r"USB\VID_096E&PID_0807&MI_00\6&1B2C3D4&0&0000"

TOKEN_MOVED = f"""
extends: {{base}}
usb_devices:
  - '{MOVED}'
  - '{MOVED_CHILD}'
  - {{id: '{OLD_PORT}', present: false}}
  - {{id: '{OLD_PORT_CHILD}', present: false}}
"""


def _image(text: str) -> HostImage:
    return instantiate(text, now=NOW)


@pytest.fixture(scope="module")
def policies():  # type: ignore[no-untyped-def]
    return load_policies(shipped_policy_paths())


def _findings(image: HostImage, policies) -> dict[str, object]:  # type: ignore[no-untyped-def]
    response, _work = execute(image, compile_request(policies))
    evaluation = evaluate_host(policies, response, host_vars={"gateway_cert": "F00504Y0007#0"}, now=NOW)
    return {f.check_id: f for f in evaluation.findings}


# --------------------------------------------------------------------------- finding 9


def test_windows10_lists_the_phantom_a_moved_token_left() -> None:
    image = _image(TOKEN_MOVED.replace("{base}", "win10-compliant"))
    resp, _ = execute(image, ProbeRequest(queries=[PnpQuery(id="p", vendor_id="096E")]))
    answer = resp.answer("p")
    assert answer is not None
    by_id = {d.device_id: d for d in answer.devices}
    assert set(by_id) == {MOVED, MOVED_CHILD, OLD_PORT, OLD_PORT_CHILD}
    assert by_id[OLD_PORT].present is False and by_id[OLD_PORT].error_code == 45
    assert by_id[MOVED].present is True and by_id[MOVED].error_code == 0


def test_windows7_lists_connected_devices_only_and_has_no_present_property() -> None:
    image = _image(TOKEN_MOVED.replace("{base}", "win7-compliant"))
    resp, _ = execute(image, ProbeRequest(queries=[PnpQuery(id="p", vendor_id="096E")]))
    answer = resp.answer("p")
    assert answer is not None
    assert [d.device_id for d in answer.devices] == [MOVED, MOVED_CHILD]
    assert all(d.present is None and d.error_code == 0 for d in answer.devices)


@pytest.mark.parametrize("base", ["win10-compliant", "win11-compliant", "win7-compliant"])
def test_one_token_that_moved_ports_passes_the_single_token_check(base: str, policies) -> None:  # type: ignore[no-untyped-def]
    finding = _findings(_image(TOKEN_MOVED.replace("{base}", base)), policies)["single-token"]
    assert finding.status.value == "pass", finding  # type: ignore[attr-defined]
    assert finding.details["count"] == 1  # type: ignore[attr-defined]
    assert finding.details["devices"] == [MOVED]  # type: ignore[attr-defined]


def test_phantoms_survive_the_persisted_state() -> None:
    image = _image(TOKEN_MOVED.replace("{base}", "win10-compliant"))
    again = HostImage.from_state(json.loads(dump_state(image)))
    assert again.usb_phantoms == [OLD_PORT, OLD_PORT_CHILD]
    assert again.usb_devices == [MOVED, MOVED_CHILD]


# --------------------------------------------------------------------------- finding 10

REDIRECTED = """
extends: win10-compliant
profiles:
  - sid: ${operator_sid}
    appdata: 'D:\\Redirected\\%USERNAME%\\AppData\\Roaming'
    certificates:
      - {cn: "${gateway_cert}", days_left: 200, kind: file, private_key: true, store: appdata}
"""


def test_a_redirected_appdata_holds_the_file_store() -> None:
    image = _image(REDIRECTED)
    prof = image.profile(OPERATOR_SID)
    assert prof is not None
    assert user_appdata_dir(image, prof) == "D:\\Redirected\\交易员01\\AppData\\Roaming"
    store = user_personal_store_dir(image, prof)
    assert store == "D:\\Redirected\\交易员01\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates"
    assert any(f.path.startswith(store + "\\") for f in image.files.values())
    assert not any("\\users\\交易员01\\appdata\\roaming\\microsoft\\systemcertificates" in k for k in image.files)


def test_the_agent_reports_the_users_appdata() -> None:
    resp, _ = execute(_image(REDIRECTED), ProbeRequest())
    prof = next(p for p in resp.profiles if p.sid == OPERATOR_SID)
    assert prof.appdata_raw == "D:\\Redirected\\%USERNAME%\\AppData\\Roaming"
    assert prof.appdata == "D:\\Redirected\\交易员01\\AppData\\Roaming"
    plain, _ = execute(instantiate("win10-compliant", now=NOW), ProbeRequest())
    default = next(p for p in plain.profiles if p.sid == OPERATOR_SID)
    assert default.appdata_raw == "%USERPROFILE%\\AppData\\Roaming"  # as Windows writes it
    assert default.appdata == default.path + "\\AppData\\Roaming"


def test_the_certificate_in_a_redirected_appdata_is_found(policies) -> None:  # type: ignore[no-untyped-def]
    found = _findings(_image(REDIRECTED), policies)
    present = found["gateway-cert-present"]
    assert present.status.value == "pass", present  # type: ignore[attr-defined]
    assert present.details["store"] == "appdata"  # type: ignore[attr-defined]
    assert present.source.startswith("D:\\Redirected\\交易员01\\AppData\\Roaming\\")  # type: ignore[attr-defined]


ON_A_SHARE = """
extends: win10-compliant
profiles:
  - sid: ${operator_sid}
    appdata: '\\\\fs01\\profiles$\\%USERNAME%\\AppData\\Roaming'
    certificates:
      - {cn: "${gateway_cert}", days_left: 200, kind: file, private_key: true, store: appdata}
"""


def test_appdata_on_a_share_is_refused_like_the_agent_does() -> None:
    image = _image(ON_A_SHARE)
    query = DirQuery(id="d", path=r"{appdata}\Microsoft\SystemCertificates\My\Certificates", per_user=True)
    resp, _ = execute(image, ProbeRequest(queries=[query]))
    answer = resp.answer("d", OPERATOR_SID)
    assert answer is not None and answer.status == "error"
    assert answer.error is not None and "second hop" in answer.error and "\\\\fs01\\profiles$" in answer.error


def test_appdata_on_a_share_makes_the_certificate_checks_errors_not_verdicts(policies) -> None:  # type: ignore[no-untyped-def]
    found = _findings(_image(ON_A_SHARE), policies)
    for check_id in ("gateway-cert-present", "gateway-cert-naming", "gateway-cert-validity"):
        finding = found[check_id]
        assert finding.status.value == "error", finding  # type: ignore[attr-defined]
        assert "第二跳" in finding.message.zh and "second hop" in finding.message.en  # type: ignore[attr-defined]


def test_an_appdata_the_agent_cannot_resolve_is_an_error(policies) -> None:  # type: ignore[no-untyped-def]
    image = _image(
        """
extends: win10-compliant
profiles:
  - sid: ${operator_sid}
    appdata: '%HOMESHARE%\\AppData\\Roaming'
"""
    )
    resp, _ = execute(image, ProbeRequest())
    prof = next(p for p in resp.profiles if p.sid == OPERATOR_SID)
    assert prof.appdata is None and prof.appdata_raw == "%HOMESHARE%\\AppData\\Roaming"
    finding = _findings(image, policies)["gateway-cert-present"]
    assert finding.status.value == "error"  # type: ignore[attr-defined]
    assert "%HOMESHARE%" in finding.message.en  # type: ignore[attr-defined]


def test_appdata_on_a_drive_the_session_lacks_is_refused() -> None:
    image = _image(
        """
extends: win10-compliant
profiles:
  - sid: ${operator_sid}
    appdata: 'H:\\AppData\\Roaming'
"""
    )
    query = DirQuery(id="d", path=r"{appdata}\Microsoft\SystemCertificates\My\Certificates", per_user=True)
    resp, _ = execute(image, ProbeRequest(queries=[query]))
    answer = resp.answer("d", OPERATOR_SID)
    assert answer is not None and answer.status == "error" and "H:\\" in (answer.error or "")


def test_appdata_needs_per_user() -> None:
    query = DirQuery(id="d", path=r"{appdata}\x")
    resp, _ = execute(instantiate("win10-compliant", now=NOW), ProbeRequest(queries=[query]))
    assert resp.answer("d") is not None and resp.answer("d").error == "{appdata} needs per_user=true"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- UTF-16 strings

LONE = "\ud800"
SURROGATE_IMAGE = """
extends: win10-compliant
profiles:
  - sid: ${operator_sid}
    registry:
      'Software\\fleetcheck-test':
        Lone: {t: SZ, v: "a\\ud800b"}
        Pair: "x\\ud83d\\ude00y"
      # read by the shipped pack's zone checks: every scan answers it
      'Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Zones\\2':
        Note: "\\udc01"
processes:
  - {name: msedge.exe, user: "${operator}"}
  - {name: "Tdx\\ud800W.exe", user: "${operator}"}
"""


def _user_key_request() -> ProbeRequest:
    return ProbeRequest(queries=[RegistryQuery(id="k", hive="HKU", path="Software\\fleetcheck-test", per_user=True)])


def test_a_lone_surrogate_is_answered_over_the_agent_command_line(tmp_path: Path) -> None:
    host = SimulatedHost(instantiate(SURROGATE_IMAGE, now=NOW), tmp_path / "state")
    exe, args = command_line()
    result = host.run(exe, args, build_payload(_user_key_request()))
    assert result.exit_code == 0, result.stderr
    assert "a\\ud800b" in result.stdout and result.stdout.isascii()  # escaped, as agent.ps1 writes it
    raw = json.loads(result.stdout)
    answer = next(a for a in raw["answers"] if a["id"] == "k" and a["sid"] == OPERATOR_SID)
    assert answer["status"] == "ok"
    assert answer["key"]["values"]["Lone"]["v"] == "a" + LONE + "b"  # the very code unit
    # A valid pair written as two escapes is one character, as json.loads reads the agent's output.
    assert answer["key"]["values"]["Pair"]["v"] == "x\U0001f600y"
    # The controller's parser takes it (keeping the lone code unit, or visibly as
    # U+FFFD + "\\ud800": the controller side decides, see fleetcheck.textsafe).
    key = parse_output(result.stdout.encode("ascii")).answer("k", OPERATOR_SID).key  # type: ignore[union-attr]
    assert key is not None
    lone = key.value("Lone").v  # type: ignore[union-attr]
    assert isinstance(lone, str) and (LONE in lone or "\\ud800" in lone)
    assert key.value("Pair").v == "x\U0001f600y"  # type: ignore[union-attr]


def test_a_lone_surrogate_survives_a_write_and_the_persisted_state(tmp_path: Path) -> None:
    host = SimulatedHost(instantiate(SURROGATE_IMAGE, now=NOW), tmp_path / "state")
    exe, args = command_line()
    write = ProbeRequest(
        actions=[
            SetValue(id="w", hive="HKU", sid=OPERATOR_SID, path="Software\\fleetcheck-test", name="Other",
                     value=RegValue(t="SZ", v="new"))
        ]
    )
    assert host.run(exe, args, build_payload(write)).exit_code == 0  # persists the state
    text = (tmp_path / "state" / "state.json").read_text(encoding="utf-8")
    assert "\\ud800" in text
    again = SimulatedHost.from_image("win10-compliant", state_dir=tmp_path / "state")
    result = again.run(exe, args, build_payload(_user_key_request()))
    raw = json.loads(result.stdout)
    answer = next(a for a in raw["answers"] if a["id"] == "k" and a["sid"] == OPERATOR_SID)
    assert answer["key"]["values"]["Lone"]["v"] == "a" + LONE + "b"
    assert answer["key"]["values"]["Other"]["v"] == "new"


def test_agent_json_is_ascii_with_code_unit_escapes() -> None:
    resp, work = execute(instantiate(SURROGATE_IMAGE, now=NOW), _user_key_request())
    text = agent_json(resp)
    assert text.isascii() and "a\\ud800b" in text and "x\\ud83d\\ude00y" in text
    assert work.lines["json_output"][1] > 0


def test_a_pc_with_a_lone_surrogate_is_scanned_like_any_other(policies) -> None:  # type: ignore[no-untyped-def]
    response, _ = execute(instantiate(SURROGATE_IMAGE, now=NOW), compile_request(policies))
    assert any(p.name == "Tdx\ud800W.exe" for p in response.processes)
    assert "\\udc01" in agent_json(response)  # the pack's zone read carries the lone surrogate
    found = _findings(instantiate(SURROGATE_IMAGE, now=NOW), policies)
    plain = _findings(instantiate("win10-compliant", now=NOW), policies)
    assert {k: f.status for k, f in found.items()} == {k: f.status for k, f in plain.items()}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- tied to agent.ps1

AGENT = agent_script().decode("utf-8")


@pytest.mark.parametrize(
    "fragment",
    [
        "cannot be resolved (User Shell Folders\\AppData uses a variable of that user)",
        "is on a network share (",
        "): a WinRM session cannot read it (second hop)",
        ", which this session does not have (a network drive of that user?)",
    ],
)
def test_appdata_refusals_are_the_agents(fragment: str) -> None:
    assert fragment in AGENT
    simulator = Path(executor.__file__).read_text(encoding="utf-8")
    assert fragment.replace("\\", "\\\\") in simulator or fragment in simulator


def test_appdata_resolution_uses_the_agents_variables_and_key() -> None:
    found = re.search(r"^\$MachineWideVariables = @\(([^)]*)\)", AGENT, re.MULTILINE)
    assert found is not None
    assert tuple(v.strip().strip("'") for v in found.group(1).split(",")) == image_module.MACHINE_WIDE_VARIABLES
    key = re.search(r"^\$UserShellFoldersPath = '([^']*)'", AGENT, re.MULTILINE)
    assert key is not None and key.group(1) == image_module.USER_SHELL_FOLDERS_KEY


def test_the_agent_reads_presence_from_win32_pnpentity() -> None:
    for fragment in ("Get-WmiPropertyValue $device 'Present'", "Get-WmiPropertyValue $device 'ConfigManagerErrorCode'",
                     "$item['present']", "$item['error_code']", "$item['device_id']"):
        assert fragment in AGENT
