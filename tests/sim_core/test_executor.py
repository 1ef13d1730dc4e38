"""The executor answers every query kind and carries out every action kind the way
the contract (and agent.ps1) describe; writes really change the image."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography import x509

from fleetcheck.agent.contract import (
    DeleteKey,
    DeleteValue,
    DirQuery,
    FileQuery,
    ImportPfx,
    PnpQuery,
    ProbeRequest,
    ProbeResponse,
    RegistryQuery,
    RegKey,
    RegValue,
    RemoveCert,
    RestoreKey,
    RunInstaller,
    ScheduleReboot,
    SetValue,
    TcpQuery,
    WriteFile,
)
from fleetcheck.certstore import parse_element
from fleetcheck.sim import certgen
from fleetcheck.sim.executor import MSG_BAD_PASSWORD, MSG_NO_SESSION, WorkReport, execute
from fleetcheck.sim.image import CERT_STORE_KEY, HostImage, instantiate

from .conftest import ADMIN_SID, NOW, OPERATOR_SID

ZONES = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2"
CERTENROLL = "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
PFX_PASSWORD = "Renew-2026!口令"
BASE_OVERLAY = "extends: win10-compliant\n"


def run(image: HostImage, *queries: object, actions: tuple[object, ...] = ()) -> ProbeResponse:
    request = ProbeRequest(queries=list(queries), actions=list(actions))  # type: ignore[arg-type]
    response, _work = execute(image, request)
    # What goes over the wire must validate as the contract on the way back.
    return ProbeResponse.model_validate_json(response.model_dump_json())


def read(
    image: HostImage, hive: str, path: str, sid: str | None = None, **kw: object
) -> RegKey | None:
    query = RegistryQuery(id="r", hive=hive, path=path, per_user=hive == "HKU", **kw)  # type: ignore[arg-type]
    answer = run(image, query).answer("r", sid)
    assert answer is not None
    return answer.key if answer.status == "ok" else None


# --------------------------------------------------------------------------- reads


def test_per_user_registry_answers_once_per_loaded_hive(win10: HostImage) -> None:
    resp = run(win10, RegistryQuery(id="z", hive="HKU", path=ZONES, per_user=True))
    sids = sorted(a.sid for a in resp.answers if a.id == "z")  # type: ignore[type-var]
    assert sids == sorted([OPERATOR_SID, ADMIN_SID])  # not the unloaded 交易员02
    operator = resp.answer("z", OPERATOR_SID)
    assert operator is not None and operator.status == "ok" and operator.key is not None
    assert operator.key.value("1803") == RegValue(t="DWORD", v=0)
    assert resp.answer("z", ADMIN_SID).status == "absent"  # type: ignore[union-attr]


def test_registry_names_are_case_insensitive_and_absent_is_absent(win10: HostImage) -> None:
    key = read(win10, "HKLM", r"software\POLICIES\microsoft\edge")
    assert key is not None and key.value("internetexplorerintegrationlevel") == RegValue(
        t="DWORD", v=1
    )
    resp = run(win10, RegistryQuery(id="x", hive="HKLM", path=r"SOFTWARE\No\Such\Key"))
    assert resp.answer("x").status == "absent" and resp.answer("x").key is None  # type: ignore[union-attr]


def test_depth_and_truncated(win10: HostImage) -> None:
    path = r"SOFTWARE\WOW6432Node\Classes\CLSID"
    shallow = read(win10, "HKLM", path, depth=1)
    control = shallow.subkey(CERTENROLL) if shallow is not None else None
    assert control is not None and control.truncated and control.subkeys == {}
    # As agent.ps1: truncation shows at the top too, so a partial tree never passes for whole.
    assert shallow is not None and shallow.truncated
    deep = read(win10, "HKLM", path, depth=2)
    assert deep is not None and not deep.truncated
    assert deep.subkey(CERTENROLL + r"\InprocServer32") is not None
    only_values = read(win10, "HKLM", path, depth=0)
    assert only_values is not None and only_values.truncated


def test_both_wow_spellings_answer_the_same_tree(win10: HostImage) -> None:
    a = read(win10, "HKLM", r"SOFTWARE\Classes\WOW6432Node\CLSID", depth=3)
    b = read(win10, "HKLM", r"SOFTWARE\WOW6432Node\Classes\CLSID", depth=3)
    assert a is not None and a == b


def test_follow_reports_the_control_file_version(win10: HostImage) -> None:
    query = RegistryQuery(
        id="ax",
        hive="HKLM",
        path=rf"SOFTWARE\WOW6432Node\Classes\CLSID\{CERTENROLL}\InprocServer32",
        follow=[""],
    )
    info = run(win10, query).answer("ax").followed[""]  # type: ignore[union-attr]
    assert info.exists and info.version == "2.0.4.8"
    assert info.path == r"C:\Windows\Downloaded Program Files\JITCertEnroll.ocx"


def test_follow_expands_env_strips_quotes_and_reads_content(win10: HostImage) -> None:
    set_list = SetValue(
        id="s",
        hive="HKLM",
        path=r"SOFTWARE\Policies\Microsoft\Edge",
        name="InternetExplorerIntegrationSiteList",
        value=RegValue(t="EXPAND_SZ", v='"%ProgramData%\\fleetcheck\\sites.xml"'),
    )
    run(win10, actions=(set_list,))
    query = RegistryQuery(
        id="e",
        hive="HKLM",
        path=r"SOFTWARE\Policies\Microsoft\Edge",
        follow=["InternetExplorerIntegrationSiteList", "NoSuchValue"],
        follow_content=True,
    )
    answer = run(win10, query).answer("e")
    assert answer is not None and list(answer.followed) == ["InternetExplorerIntegrationSiteList"]
    info = answer.followed["InternetExplorerIntegrationSiteList"]
    assert info.path == r"C:\ProgramData\fleetcheck\sites.xml"
    assert b'<site url="biz.sccc.com">' in info.content_bytes()  # type: ignore[operator]
    # The raw value comes back unexpanded, as GetValue(DoNotExpandEnvironmentNames) gives it.
    assert answer.key.value("InternetExplorerIntegrationSiteList").v.startswith('"%ProgramData%')  # type: ignore[union-attr]


def test_content_is_capped(win10: HostImage) -> None:
    query = RegistryQuery(
        id="e",
        hive="HKLM",
        path=r"SOFTWARE\Policies\Microsoft\Edge",
        follow=["InternetExplorerIntegrationSiteList"],
        follow_content=True,
        max_content_bytes=10,
    )
    info = run(win10, query).answer("e").followed["InternetExplorerIntegrationSiteList"]  # type: ignore[union-attr]
    assert info.content_truncated and len(info.content_bytes()) == 10  # type: ignore[arg-type]
    assert info.size is not None and info.size > 10


def test_hku_without_per_user_reads_below_hkey_users(win10: HostImage) -> None:
    resp = run(win10, RegistryQuery(id="h", hive="HKU", path=OPERATOR_SID + "\\" + ZONES))
    answer = resp.answer("h")
    assert answer is not None and answer.status == "ok" and answer.key.value("2201").v == 0  # type: ignore[union-attr]
    unloaded = "S-1-5-21-1004336348-1177238915-682003330-1121"
    assert (
        run(win10, RegistryQuery(id="h", hive="HKU", path=unloaded + "\\Software"))
        .answer("h")
        .status
        == "absent"
    )  # type: ignore[union-attr]


def test_file_query_env_profile_and_absent(win10: HostImage) -> None:
    resp = run(
        win10,
        FileQuery(id="edge", path=r"%ProgramFiles(x86)%\Microsoft\Edge\Application\msedge.exe"),
        FileQuery(
            id="prefs",
            path=r"{profile}\AppData\Local\Microsoft\Edge\User Data\Default\Preferences",
            per_user=True,
            content=True,
        ),
        FileQuery(id="none", path=r"C:\nothing\here.dll"),
        FileQuery(id="bad", path=r"{profile}\x.txt"),
    )
    assert resp.answer("edge").file.version == "120.0.2210.91"  # type: ignore[union-attr]
    prefs = resp.answer("prefs", OPERATOR_SID)
    assert prefs is not None and prefs.status == "ok"
    assert "dual_engine" in json.loads(prefs.file.content_bytes())  # type: ignore[arg-type, union-attr]
    assert resp.answer("prefs", ADMIN_SID).status == "absent"  # type: ignore[union-attr]
    none = resp.answer("none")
    assert (
        none is not None
        and none.status == "absent"
        and none.file is not None
        and not none.file.exists
    )
    bad = resp.answer("bad")
    assert bad is not None and bad.status == "error" and "per_user" in (bad.error or "")


def test_dir_query_lists_the_appdata_store() -> None:
    image = instantiate("win10-appdata-cert", now=NOW)
    query = DirQuery(
        id="d",
        path=r"{profile}\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates",
        per_user=True,
        content=True,
    )
    resp = run(image, query)
    answer = resp.answer("d", OPERATOR_SID)
    assert answer is not None and answer.status == "ok" and len(answer.files) == 1
    element = parse_element(answer.files[0].content_bytes())  # type: ignore[arg-type]
    assert answer.files[0].path.endswith(certgen.thumbprint(element.der))
    # Every used profile has the (empty) file store folder, as CryptoAPI makes it on first use.
    admin = resp.answer("d", ADMIN_SID)
    assert admin is not None and admin.status == "ok" and admin.files == []


def test_pnp_lists_feitian_devices_with_children() -> None:
    one = run(instantiate("win10-compliant", now=NOW), PnpQuery(id="p", vendor_id="096e")).answer(
        "p"
    )
    assert one is not None and len(one.devices) == 2
    assert any("&MI_00" in d.device_id for d in one.devices)
    assert all(d.present and d.error_code == 0 for d in one.devices)
    two = run(instantiate("win10-two-tokens", now=NOW), PnpQuery(id="p", vendor_id="096E")).answer(
        "p"
    )
    assert two is not None and len([d for d in two.devices if "&MI_" not in d.device_id]) == 2


def test_tcp_reachable_unreachable_and_unknown(win10: HostImage) -> None:
    resp = run(
        win10,
        TcpQuery(id="ok", host="BIZ.SCCC.COM", port=443),
        TcpQuery(id="unknown", host="10.0.0.1", port=445, timeout_ms=1500),
    )
    assert (resp.answer("ok").connected, resp.answer("ok").elapsed_ms) == (True, 35)  # type: ignore[union-attr]
    unknown = resp.answer("unknown")
    assert unknown is not None and (unknown.connected, unknown.elapsed_ms) == (False, 1500)
    assert unknown.status == "ok" and unknown.error == "no connection within 1500 ms"
    down = run(
        instantiate("win10-portal-unreachable", now=NOW),
        TcpQuery(id="t", host="biz.sccc.com", port=443),
    )
    assert down.answer("t").connected is False  # type: ignore[union-attr]


def test_facts_profiles_and_processes(win10: HostImage) -> None:
    resp = run(win10)
    assert resp.os.caption == "Microsoft Windows 10 专业版" and resp.agent_version == "1"
    console = [p for p in resp.profiles if p.console]
    assert [p.user for p in console] == ["TRADE\\交易员01"]
    explorer = [p for p in resp.processes if p.name == "explorer.exe"]
    assert [p.sid for p in explorer] == [OPERATOR_SID]
    nobody = run(instantiate("win10-no-operator", now=NOW))
    assert not any(p.console or p.interactive for p in nobody.profiles)
    assert not any(p.name == "explorer.exe" for p in nobody.processes)
    quiet, _ = execute(win10, ProbeRequest(want_processes=False))
    assert quiet.processes == []


# --------------------------------------------------------------------------- writes


def test_set_value_then_read_sees_it_and_changed_is_honest(win10: HostImage) -> None:
    action = SetValue(
        id="s",
        hive="HKU",
        sid=OPERATOR_SID,
        path=ZONES,
        name="1004",
        value=RegValue(t="DWORD", v=3),
    )
    first = run(win10, actions=(action,)).actions[0]
    assert (first.status, first.changed, first.before_value) == (
        "ok",
        True,
        RegValue(t="DWORD", v=0),
    )
    assert read(win10, "HKU", ZONES, OPERATOR_SID).value("1004") == RegValue(t="DWORD", v=3)  # type: ignore[union-attr]
    again = run(win10, actions=(action,)).actions[0]
    assert (again.status, again.changed) == ("ok", False)


def test_set_value_creates_keys_and_refuses_unloaded_hives(win10: HostImage) -> None:
    new = SetValue(
        id="n",
        hive="HKLM",
        path=r"SOFTWARE\Policies\Microsoft\Edge\Recommended",
        name="X",
        value=RegValue(t="SZ", v="中文"),
    )
    result = run(win10, actions=(new,)).actions[0]
    assert result.changed and result.before_value is None
    assert (
        read(win10, "HKLM", r"SOFTWARE\Policies\Microsoft\Edge\Recommended").value("x").v == "中文"
    )  # type: ignore[union-attr]
    unloaded = SetValue(
        id="u",
        hive="HKU",
        sid="S-1-5-21-1004336348-1177238915-682003330-1121",
        path=ZONES,
        name="1004",
        value=RegValue(t="DWORD", v=0),
    )
    refused = run(win10, actions=(unloaded,)).actions[0]
    assert refused.status == "error" and "is not loaded" in (refused.error or "")
    # Deleting in an unloaded hive finds nothing to delete, as on Windows.
    delete = DeleteValue(id="d", hive="HKU", sid=unloaded.sid, path=ZONES, name="1004")
    assert run(win10, actions=(delete,)).actions[0].model_dump(include={"status", "changed"}) == {
        "status": "ok",
        "changed": False,
    }


def test_delete_value(win10: HostImage) -> None:
    action = DeleteValue(
        id="d",
        hive="HKLM",
        path=r"SOFTWARE\Policies\Microsoft\Edge",
        name="InternetExplorerIntegrationLevel",
    )
    result = run(win10, actions=(action,)).actions[0]
    assert result.changed and result.before_value == RegValue(t="DWORD", v=1)
    assert (
        read(win10, "HKLM", r"SOFTWARE\Policies\Microsoft\Edge").value(
            "InternetExplorerIntegrationLevel"
        )
        is None
    )  # type: ignore[union-attr]
    assert run(win10, actions=(action,)).actions[0].changed is False


def test_delete_key_then_restore_key_gives_an_identical_image(win10: HostImage) -> None:
    before = win10.to_state()
    path = rf"SOFTWARE\Classes\WOW6432Node\CLSID\{CERTENROLL}"
    deleted = run(win10, actions=(DeleteKey(id="d", hive="HKLM", path=path),)).actions[0]
    assert deleted.changed and deleted.before_tree is not None
    assert deleted.before_tree.subkey("InprocServer32") is not None
    assert read(win10, "HKLM", rf"SOFTWARE\WOW6432Node\Classes\CLSID\{CERTENROLL}") is None
    assert win10.to_state() != before
    restored = run(
        win10, actions=(RestoreKey(id="r", hive="HKLM", path=path, tree=deleted.before_tree),)
    ).actions[0]
    assert restored.status == "ok" and restored.changed and restored.before_tree is None
    assert win10.to_state() == before
    again = run(
        win10, actions=(RestoreKey(id="r", hive="HKLM", path=path, tree=deleted.before_tree),)
    ).actions[0]
    assert (again.changed, again.before_tree) == (False, deleted.before_tree)
    # Deleting what is not there changes nothing.
    assert (
        run(win10, actions=(DeleteKey(id="d", hive="HKLM", path=r"SOFTWARE\Nope"),))
        .actions[0]
        .changed
        is False
    )


def test_write_file_with_backup_and_delete(win10: HostImage) -> None:
    path = r"%ProgramData%\fleetcheck\sites.xml"
    new = b'<site-list version="4"/>'
    result = run(
        win10, actions=(WriteFile(id="w", path=path, content=base64.b64encode(new).decode()),)
    ).actions[0]
    assert result.changed and result.before_file is not None and result.before_file.exists
    assert b"biz.sccc.com" in result.before_file.content_bytes()  # type: ignore[operator]
    assert win10.file(r"C:\ProgramData\fleetcheck\sites.xml").read() == new  # type: ignore[union-attr]
    created = run(
        win10,
        actions=(WriteFile(id="c", path=r"C:\ProgramData\fleetcheck\new.xml", content="AA=="),),
    ).actions[0]
    assert created.before_file is not None and not created.before_file.exists
    gone = run(
        win10,
        actions=(
            WriteFile(id="x", path=r"C:\ProgramData\fleetcheck\new.xml", content="", delete=True),
        ),
    ).actions[0]
    assert gone.changed and win10.file(r"C:\ProgramData\fleetcheck\new.xml") is None


def _pfx(cn: str = "F00504Y0007#0", days: int = 565) -> tuple[str, x509.Certificate]:
    data, cert = certgen.make_pfx(certgen.LeafSpec(cn=cn, days_left=days), NOW, PFX_PASSWORD)
    return base64.b64encode(data).decode(), cert


def test_import_pfx_adds_the_certificate_with_a_software_key(win10: HostImage) -> None:
    pfx, cert = _pfx()
    action = ImportPfx(id="i", sid=OPERATOR_SID, pfx=pfx, password=PFX_PASSWORD)
    response = run(win10, actions=(action,))
    result = response.actions[0]
    thumb = certgen.thumbprint(cert.public_bytes(certgen.serialization.Encoding.DER))
    assert (result.status, result.changed, result.thumbprint) == ("ok", True, thumb)
    # Windows keeps CurrentUser\\My as files in the user's roaming AppData (W42): the import lands
    # there; the old certificate (in the registry store here) is kept.
    store = read(win10, "HKU", CERT_STORE_KEY, OPERATOR_SID, depth=1)
    assert store is not None and len(store.subkeys) == 1 and thumb not in store.subkeys
    prof = win10.profile(OPERATOR_SID)
    assert prof is not None
    stored = win10.file(prof.path + r"\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates" + "\\" + thumb)
    assert stored is not None
    element = parse_element(stored.read())
    assert element.key_prov is not None and element.key_prov.is_software
    assert x509.load_der_x509_certificate(element.der).not_valid_after_utc - NOW == timedelta(
        days=565
    )
    # The password appears nowhere: not in the answer, not in the persisted image.
    assert PFX_PASSWORD not in response.model_dump_json()
    assert PFX_PASSWORD not in json.dumps(win10.to_state(), ensure_ascii=False)


def test_import_pfx_wrong_password_and_no_session() -> None:
    image = instantiate("win10-compliant", now=NOW)
    pfx, _cert = _pfx()
    before = image.to_state()
    wrong = run(
        image, actions=(ImportPfx(id="i", sid=OPERATOR_SID, pfx=pfx, password="guess-中文"),)
    )
    assert (wrong.actions[0].status, wrong.actions[0].error) == ("error", MSG_BAD_PASSWORD)
    assert "guess-中文" not in wrong.model_dump_json()
    assert image.to_state() == before
    nobody = instantiate("win10-no-operator", now=NOW)
    pending = run(
        nobody, actions=(ImportPfx(id="i", sid=OPERATOR_SID, pfx=pfx, password=PFX_PASSWORD),)
    )
    assert (pending.actions[0].status, pending.actions[0].error) == (
        "error",
        MSG_NO_SESSION.format(sid=OPERATOR_SID),
    )
    garbage = run(
        image,
        actions=(ImportPfx(id="i", sid=OPERATOR_SID, pfx="bm90IGEgcGZ4", password=PFX_PASSWORD),),
    )
    assert garbage.actions[0].status == "error" and PFX_PASSWORD not in garbage.model_dump_json()


def test_remove_cert_returns_a_backup_that_restores(win10: HostImage) -> None:
    before = win10.to_state()
    store = read(win10, "HKU", CERT_STORE_KEY, OPERATOR_SID, depth=1)
    [thumb] = list(store.subkeys)  # type: ignore[union-attr]
    removed = run(
        win10, actions=(RemoveCert(id="rm", sid=OPERATOR_SID, thumbprint=thumb.lower()),)
    ).actions[0]
    assert removed.before_file is not None and not removed.before_file.exists
    assert (
        removed.changed
        and removed.before_tree is not None
        and removed.before_tree.value("Blob") is not None
    )
    assert read(win10, "HKU", CERT_STORE_KEY, OPERATOR_SID, depth=1).subkeys == {}  # type: ignore[union-attr]
    restore = RestoreKey(
        id="r",
        hive="HKU",
        sid=OPERATOR_SID,
        path=CERT_STORE_KEY + "\\" + thumb,
        tree=removed.before_tree,
    )
    run(win10, actions=(restore,))
    assert win10.to_state() == before


def test_remove_cert_from_the_appdata_store() -> None:
    image = instantiate("win10-appdata-cert", now=NOW)
    [stored] = [f for f in image.files.values() if "systemcertificates" in f.path.lower()]
    thumb = stored.path.rsplit("\\", 1)[-1]
    result = run(image, actions=(RemoveCert(id="rm", sid=OPERATOR_SID, thumbprint=thumb),)).actions[
        0
    ]
    assert (
        result.changed
        and result.before_file is not None
        and result.before_file.content_bytes() == stored.read()
    )
    assert image.file(stored.path) is None


def test_run_installer_fixes_the_missing_driver() -> None:
    image = instantiate("win10-no-feitian-driver", now=NOW)
    uninstall = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\ePass2003"
    assert read(image, "HKLM", uninstall) is None
    action = RunInstaller(id="inst", path=r"\\FILESERVER\soft\ePass2003-Setup.exe", args=["/S"])
    # From a share only with network credentials (CredSSP / Kerberos delegation).
    result = execute(image, ProbeRequest(actions=[action]), delegated=True)[0].actions[0]
    assert (result.status, result.changed) == ("ok", True)
    entry = read(image, "HKLM", uninstall)
    assert entry is not None and entry.value("DisplayName").v == "ePass2003"  # type: ignore[union-attr]
    assert (
        read(
            image,
            "HKLM",
            r"SOFTWARE\Microsoft\Cryptography\Defaults\Provider\EnterSafe ePass2003 CSP v1.0",
        )
        is not None
    )
    missing = run(image, actions=(RunInstaller(id="x", path=r"C:\nope.exe"),)).actions[0]
    assert missing.status == "error" and "not found" in (missing.error or "")
    slow = execute(
        image,
        ProbeRequest(
            actions=[RunInstaller(id="s", path=r"\\fileserver\soft\ePass2003-Setup.exe", timeout_ms=1000)]
        ),
        delegated=True,
    )[0].actions[0]
    assert (slow.status, slow.changed) == ("error", True)  # ended by WinRM: it may have changed things
    assert (slow.error or "").startswith("installer still running after 1000 ms: WinRM ends it")


def test_a_second_reboot_while_one_is_scheduled_is_refused(win10: HostImage) -> None:
    first = run(win10, actions=(ScheduleReboot(id="a", delay_s=60),)).actions[0]
    second = run(win10, actions=(ScheduleReboot(id="b", delay_s=60),)).actions[0]
    assert (first.status, first.exit_code) == ("ok", 0)
    assert (second.status, second.changed) == ("error", False)
    assert (second.error or "").startswith("a fleetcheck reboot is already scheduled (\\fleetcheck-reboot-")


def test_installer_exit_codes() -> None:
    image = instantiate(
        BASE_OVERLAY + "installers:\n  'C:\\x\\bad.exe': {exit_code: 1603, duration_ms: 10}\n"
        "  'C:\\x\\reboot.msi': {exit_code: 3010, duration_ms: 10}\n",
        now=NOW,
    )
    bad = run(image, actions=(RunInstaller(id="b", path=r"C:\x\bad.exe"),)).actions[0]
    assert (bad.status, bad.exit_code, bad.error) == ("error", 1603, "installer exit code 1603")
    ok = run(image, actions=(RunInstaller(id="r", path='"C:\\x\\reboot.msi" /qn'),))
    assert (ok.actions[0].status, ok.actions[0].exit_code, ok.os.pending_reboot) == (
        "ok",
        3010,
        True,
    )


def test_per_user_on_hklm_repeats_the_machine_read_per_user(win10: HostImage) -> None:
    query = RegistryQuery(
        id="m", hive="HKLM", path=r"SOFTWARE\Policies\Microsoft\Edge", per_user=True
    )
    answers = [a for a in run(win10, query).answers if a.id == "m"]
    assert sorted(a.sid or "" for a in answers) == sorted([OPERATOR_SID, ADMIN_SID])
    assert all(a.key == answers[0].key for a in answers)


def test_follow_keeps_the_quoted_part_of_a_command_line(win10: HostImage) -> None:
    setv = SetValue(
        id="s",
        hive="HKLM",
        path=r"SOFTWARE\Test",
        name="Cmd",
        value=RegValue(
            t="EXPAND_SZ", v=' "%SystemRoot%\\Downloaded Program Files\\JITCertEnroll.ocx" /s '
        ),
    )
    run(win10, actions=(setv,))
    query = RegistryQuery(id="f", hive="HKLM", path=r"SOFTWARE\Test", follow=["cmd"])
    info = run(win10, query).answer("f").followed["cmd"]  # type: ignore[union-attr]
    assert info.exists and info.version == "2.0.4.8"
    # The same text as a REG_SZ is literal: Windows expands %VARS% only in REG_EXPAND_SZ.
    literal = setv.model_copy(update={"value": RegValue(t="SZ", v=setv.value.v)})
    run(win10, actions=(literal,))
    info = run(win10, query).answer("f").followed["cmd"]  # type: ignore[union-attr]
    assert not info.exists and info.path.startswith("%SystemRoot%")


def test_processes_carry_an_owner_only_for_explorer() -> None:
    processes = run(instantiate("win10-trading-client-running", now=NOW)).processes
    assert any(p.name == "TdxW.exe" and p.sid is None for p in processes)
    assert [p.sid for p in processes if p.name == "explorer.exe"] == [OPERATOR_SID]


def test_pending_reboot_follows_the_registry_markers(win10: HostImage) -> None:
    assert run(win10).os.pending_reboot is False
    marker = SetValue(
        id="m",
        hive="HKLM",
        path=r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending",
        name="x",
        value=RegValue(t="DWORD", v=1),
    )
    assert run(win10, actions=(marker,)).os.pending_reboot is True


def test_schedule_reboot_records_it(win10: HostImage) -> None:
    response = run(
        win10,
        actions=(ScheduleReboot(id="rb", delay_s=600, message="深证通证书更新：10 分钟后重启"),),
    )
    assert response.actions[0].changed
    # Windows sets no pending-reboot marker for a task that will run shutdown.exe later.
    assert response.os.pending_reboot is False
    assert win10.scheduled_reboots[0]["delay_s"] == 600
    task = response.actions[0].task
    assert task is not None and task in win10.scheduled_tasks  # the answer names the task it registered


def test_actions_run_after_reads_and_each_answers_alone(win10: HostImage) -> None:
    request = ProbeRequest(
        queries=[RegistryQuery(id="z", hive="HKU", path=ZONES, per_user=True)],
        actions=[
            SetValue(
                id="bad", hive="HKU", path=ZONES, name="1004", value=RegValue(t="DWORD", v=3)
            ),  # no sid
            SetValue(
                id="good",
                hive="HKU",
                sid=OPERATOR_SID,
                path=ZONES,
                name="1004",
                value=RegValue(t="DWORD", v=3),
            ),
        ],
    )
    response, _ = execute(win10, request)
    assert response.answer("z", OPERATOR_SID).key.value("1004").v == 0  # type: ignore[union-attr]
    assert [a.status for a in response.actions] == ["error", "ok"]


# --------------------------------------------------------------------------- cost model


def full_probe() -> ProbeRequest:
    """Every query kind, shaped like the shipped SCCC policy's request."""
    hku = [
        ZONES,
        r"Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2",
        r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\ZoneMap\Domains",
        r"Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings\ZoneMapKey",
        r"Software\Microsoft\Windows\CurrentVersion\Ext\Settings",
        r"Software\Classes\CLSID",
        CERT_STORE_KEY,
    ]
    hklm = [
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2",
        r"SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2",
        r"SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings",
        r"SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings\ZoneMapKey",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\ZoneMap\Domains",
        r"SOFTWARE\Policies\Microsoft\Edge",
        r"SOFTWARE\Policies\Microsoft\Edge\Recommended",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
        r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
        r"SOFTWARE\Microsoft\Cryptography\Defaults\Provider",
        r"SOFTWARE\Microsoft\Internet Explorer\ActiveX Compatibility",
        r"SOFTWARE\WOW6432Node\Microsoft\Internet Explorer\ActiveX Compatibility",
    ]
    queries: list[object] = [
        RegistryQuery(id=f"u{i}", hive="HKU", path=p, per_user=True, depth=4)
        for i, p in enumerate(hku)
    ]
    queries += [RegistryQuery(id=f"m{i}", hive="HKLM", path=p, depth=2) for i, p in enumerate(hklm)]
    for clsid in (
        CERTENROLL,
        "{707C7D52-85A8-4584-8954-573EFCE77488}",
        "{B0EF56AD-D711-412D-BE74-A751595F3633}",
    ):
        for base in (r"SOFTWARE\Classes\CLSID", r"SOFTWARE\Classes\WOW6432Node\CLSID"):
            queries.append(
                RegistryQuery(
                    id=f"ax{clsid}{base}",
                    hive="HKLM",
                    path=rf"{base}\{clsid}\InprocServer32",
                    follow=[""],
                )
            )
    queries += [
        RegistryQuery(
            id="sites",
            hive="HKLM",
            path=r"SOFTWARE\Policies\Microsoft\Edge",
            follow=["InternetExplorerIntegrationSiteList"],
            follow_content=True,
        ),
        FileQuery(
            id="prefs",
            path=r"{profile}\AppData\Local\Microsoft\Edge\User Data\Default\Preferences",
            per_user=True,
            content=True,
        ),
        DirQuery(
            id="appdata",
            path=r"{profile}\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates",
            per_user=True,
            content=True,
        ),
        PnpQuery(id="usb", vendor_id="096E"),
        TcpQuery(id="portal", host="biz.sccc.com", port=443),
    ]
    return ProbeRequest(queries=queries)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["win10-compliant", "win7-compliant", "win11-compliant", "win7-x86-compliant"]
)
def test_a_whole_probe_accounts_well_under_a_second(name: str) -> None:
    response, work = execute(instantiate(name, now=NOW), full_probe())
    assert isinstance(work, WorkReport)
    assert response.elapsed_ms == round(work.total_ms)
    assert 200 <= response.elapsed_ms < 1000, work.summary()
    assert work.lines["wmi"][0] == 4  # OS, ComputerSystem, Process, PnPEntity


def test_an_unreachable_portal_costs_the_timeout_without_sleeping() -> None:
    response, work = execute(instantiate("win10-portal-unreachable", now=NOW), full_probe())
    assert work.lines["tcp"][1] == 5000
    assert response.elapsed_ms >= 5000
