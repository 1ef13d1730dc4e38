"""``fleetcheck selftest`` against simulated PCs: every item passes on a faithful agent,
and a host that mangles answers is caught by name."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from xdist_support import worker_address

from fleetcheck.agent.contract import (
    ActionResult,
    ImportPfx,
    PnpDevice,
    ProbeRequest,
    ProbeResponse,
    RegistryQuery,
    RegValue,
    SetValue,
)
from fleetcheck.cli import main
from fleetcheck.selftest import (
    SCRATCH_KEY,
    SHELL_FOLDERS_KEY,
    Probe,
    SelftestItem,
    has_serial_instance_id,
    judge_pnp_presence,
    run_selftest,
    throwaway_certificate,
)
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import HostImage, UserProfile, instantiate
from fleetcheck.sim.office import OfficeSpec, start_office

NOW = datetime(2026, 11, 25, 8, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, object]]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Selftest-2026!"}},
        "groups": [
            {"name": "w10", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-W10"}},
            {"name": "w7", "image": "win7-x86-compliant", "count": 1, "vars": {"hostname": "PC-W7"}},
        ],
    })
    state = tmp_path_factory.mktemp("selftest-office")
    with start_office(spec, state, first_address=worker_address("127.0.95.1"), now=NOW) as running:
        yield running.write_inventory(state / "inventory.yaml"), running


@pytest.mark.parametrize("host", ["PC-W10", "PC-W7"])
def test_every_item_passes_and_the_scratch_key_is_gone(office: tuple[Path, object], host: str) -> None:
    inventory, running = office
    result = CliRunner().invoke(main, ["--lang", "en", "selftest", host, "-i", str(inventory), "--write"])
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output
    assert "registry round trip (every type, Chinese, edge values): 8 values identical" in result.output
    assert "restored key equals the original: every value identical" in result.output
    if host == "PC-W10":
        assert "redirected key: a value written under SOFTWARE\\WOW6432Node: in the 32-bit view" in result.output
        assert "clean-up: view scratch keys removed: removed" in result.output
    else:
        assert "registry views (32-bit Windows): one view, no WOW6432Node" in result.output
        assert "WOW6432Node" not in result.output.replace("no WOW6432Node", "")
    image = running.hosts[host].host.image  # type: ignore[attr-defined]
    snapshot = running.hosts[host].host.snapshot()  # type: ignore[attr-defined]
    assert SCRATCH_KEY.lower() not in repr(snapshot).lower(), "scratch key left behind"
    assert "fleetcheck-selftest" not in repr(snapshot).lower(), "shared scratch key left behind"
    assert image is not None


def test_read_only_by_default(office: tuple[Path, object]) -> None:
    inventory, _ = office
    result = CliRunner().invoke(main, ["selftest", "PC-W10", "-i", str(inventory)])
    assert result.exit_code == 0, result.output
    assert "代理按契约应答" in result.output and "注册表往返" not in result.output


def test_a_mangling_agent_fails_the_round_trip_item() -> None:
    """An agent that hands DWORD 0xFFFFFFFF back as -1 (the classic .NET Int32 slip) is named."""
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)

    def mangling_probe(request: ProbeRequest) -> ProbeResponse:
        response, _ = execute(image, request)
        answers = []
        for answer in response.answers:
            if answer.key is not None and "dword_max" in answer.key.values:
                values = {**answer.key.values, "dword_max": RegValue(t="DWORD", v=-1)}
                answers.append(answer.model_copy(update={"key": answer.key.model_copy(update={"values": values})}))
            else:
                answers.append(answer)
        return response.model_copy(update={"answers": answers})

    items = run_selftest(mangling_probe, write=True)
    failed = [item.name.en for item in items if not item.ok]
    # Both reads of the scratch key go through the mangled path; nothing else fails.
    assert failed == ["registry round trip (every type, Chinese, edge values)", "restored key equals the original"]
    detail = next(item.detail.en for item in items if not item.ok)
    assert "dword_max: wrote DWORD 4294967295, read DWORD -1" in detail


def test_unknown_host_is_a_usage_error(office: tuple[Path, object]) -> None:
    inventory, _ = office
    result = CliRunner().invoke(main, ["selftest", "PC-NOPE", "-i", str(inventory)])
    assert result.exit_code == 2 and "Traceback" not in result.output


# --------------------------------------------------------------------------- Windows rules observed on the PC


def sim_probe(image: HostImage, log: list[ProbeRequest] | None = None) -> Probe:
    def probe(request: ProbeRequest) -> ProbeResponse:
        if log is not None:
            log.append(request)
        return execute(image, request)[0]

    return probe


def with_program_files_dirs(image: HostImage) -> HostImage:
    """What every x64 Windows has in both views (the images leave it out)."""
    image.hklm.ensure(r"SOFTWARE\Microsoft\Windows\CurrentVersion").set(
        "ProgramFilesDir", RegValue(t="SZ", v=r"C:\Program Files")
    )
    image.hklm.ensure(r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion").set(
        "ProgramFilesDir", RegValue(t="SZ", v=r"C:\Program Files (x86)")
    )
    return image


def by_name(items: list[SelftestItem]) -> dict[str, SelftestItem]:
    return {item.name.en: item for item in items}


def test_the_views_are_observed_as_documented_on_an_x64_pc() -> None:
    image = with_program_files_dirs(instantiate("win10-compliant", {"hostname": "PC-X"}, NOW))
    items = by_name(run_selftest(sim_probe(image), write=True))
    views = items["registry views: 64-bit agent, 32-bit view"]
    assert views.ok and not views.skipped
    assert views.detail.en == (
        r"ProgramFilesDir: 64 = C:\Program Files, WOW6432Node = C:\Program Files (x86): as documented"
    )
    redirected = items[r"redirected key: a value written under SOFTWARE\WOW6432Node"]
    assert redirected.ok and "redirected as documented" in redirected.detail.en
    assert items[r"shared key: a value written under SOFTWARE\Policies"].ok
    assert items["clean-up: view scratch keys removed"].ok
    dump = repr(image.hklm.find("SOFTWARE").to_regkey(8)).lower()  # type: ignore[union-attr]
    assert "fleetcheck-selftest" not in dump and "selftest-view-probe" not in dump


def _hklm_software_redirected(path: str) -> bool:
    low = path.lower()
    return low.startswith("software\\") and not low.startswith(("software\\wow6432node", "software\\policies"))


def _rewrite_paths(request: ProbeRequest, rewrite: Callable[[str], str]) -> ProbeRequest:
    """The request with every HKLM registry path passed through ``rewrite`` (ids unchanged)."""
    queries = [
        q.model_copy(update={"path": rewrite(q.path)}) if isinstance(q, RegistryQuery) and q.hive == "HKLM" else q
        for q in request.queries
    ]
    actions = [
        a.model_copy(update={"path": rewrite(a.path)})
        if getattr(a, "hive", None) == "HKLM" and hasattr(a, "path")
        else a
        for a in request.actions
    ]
    return request.model_copy(update={"queries": queries, "actions": actions})


def test_a_32bit_agent_on_x64_is_named() -> None:
    """A 32-bit PowerShell (e.g. a 32-bit WinRM endpoint) reads the 32-bit view at every 'native' path."""
    image = with_program_files_dirs(instantiate("win10-compliant", {"hostname": "PC-X"}, NOW))

    def as_32bit(path: str) -> str:
        return "SOFTWARE\\WOW6432Node\\" + path[len("SOFTWARE\\") :] if _hklm_software_redirected(path) else path

    inner = sim_probe(image)
    items = by_name(run_selftest(lambda r: inner(_rewrite_paths(r, as_32bit)), write=True))
    views = items["registry views: 64-bit agent, 32-bit view"]
    assert not views.ok and "the agent runs as a 32-bit process" in views.detail.en
    redirected = items[r"redirected key: a value written under SOFTWARE\WOW6432Node"]
    assert not redirected.ok and "also seen at the native path" in redirected.detail.en


def test_a_pc_where_wow6432node_is_not_the_32bit_view_is_named() -> None:
    """If the literal WOW6432Node path reached the 64-bit keys, every 32-bit-view read would be wrong."""
    image = with_program_files_dirs(instantiate("win10-compliant", {"hostname": "PC-X"}, NOW))

    def no_view(path: str) -> str:
        low = path.lower()
        return "SOFTWARE\\" + path[len("SOFTWARE\\WOW6432Node\\") :] if low.startswith("software\\wow6432node\\") else path

    inner = sim_probe(image)
    items = by_name(run_selftest(lambda r: inner(_rewrite_paths(r, no_view)), write=True))
    views = items["registry views: 64-bit agent, 32-bit view"]
    assert not views.ok and "does not look like the 32-bit view" in views.detail.en
    assert not items[r"redirected key: a value written under SOFTWARE\WOW6432Node"].ok


def test_a_separate_wow6432node_policies_key_is_reported_not_failed() -> None:
    """Microsoft lists no WOW6432Node link for Policies: a separate key there is reported, fleetcheck reads native."""
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)

    def elsewhere(path: str) -> str:
        low = path.lower()
        if low.startswith("software\\wow6432node\\policies"):
            return "SOFTWARE\\WOW6432Node\\fleetcheck-separate" + path[len("SOFTWARE\\WOW6432Node") :]
        return path

    inner = sim_probe(image)
    items = by_name(run_selftest(lambda r: inner(_rewrite_paths(r, elsewhere)), write=True))
    read_only = items[r"shared key SOFTWARE\Policies at both paths"]
    assert read_only.ok and "fleetcheck reads it there" in read_only.detail.en
    written = items[r"shared key: a value written under SOFTWARE\Policies"]
    assert written.ok and "a separate key" in written.detail.en


def test_a_shared_key_that_does_not_read_back_fails() -> None:
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)
    inner = sim_probe(image)

    def drops_policy_writes(request: ProbeRequest) -> ProbeResponse:
        kept = [a for a in request.actions if not (isinstance(a, SetValue) and a.path.lower().startswith("software\\policies"))]
        return inner(request.model_copy(update={"actions": kept}))

    items = by_name(run_selftest(drops_policy_writes, write=True))
    written = items[r"shared key: a value written under SOFTWARE\Policies"]
    assert not written.ok and "does not read back" in written.detail.en


def test_wow6432node_on_32bit_windows_fails() -> None:
    image = instantiate("win7-x86-compliant", {"hostname": "PC-X"}, NOW)
    assert by_name(run_selftest(sim_probe(image), write=False))["registry views (32-bit Windows)"].ok
    image.hklm.ensure(r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion")
    item = by_name(run_selftest(sim_probe(image), write=False))["registry views (32-bit Windows)"]
    assert not item.ok and item.detail.en == "WOW6432Node exists on 32-bit Windows"


def test_no_view_writes_on_32bit_windows() -> None:
    log: list[ProbeRequest] = []
    run_selftest(sim_probe(instantiate("win7-x86-compliant", {"hostname": "PC-X"}, NOW), log), write=True)
    paths = [a.path for r in log for a in r.actions if isinstance(a, SetValue)]
    assert paths and not any("wow6432node" in p.lower() or "policies" in p.lower() for p in paths)


# --------------------------------------------------------------------------- the Personal store (--cert)

OPERATOR = "TRADE\\交易员01"
CERT_ITEM = f"user's Personal store ({OPERATOR})"


def _operator(image: HostImage) -> UserProfile:
    return next(p for p in image.profiles if p.console)


def test_a_throwaway_certificate_is_found_and_removed() -> None:
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)
    log: list[ProbeRequest] = []
    items = by_name(run_selftest(sim_probe(image, log), write=True, cert=True, now=NOW))
    store, clean = items[CERT_ITEM], items["clean-up: throw-away certificate removed"]
    assert store.ok and store.detail.en.startswith("Windows put it in: "), store.detail.en
    assert clean.ok, clean.detail.en
    imports = [a for r in log for a in r.actions if isinstance(a, ImportPfx)]
    assert len(imports) == 1 and imports[0].sid == _operator(image).sid
    thumb = clean.detail.en.removeprefix("removed (").removesuffix(")")
    assert len(thumb) == 40
    operator = _operator(image)
    assert operator.hive.find(r"Software\Microsoft\SystemCertificates\My\Certificates\\" + thumb) is None
    assert not any(thumb.lower() in path.lower() for path in image.files)


def test_the_throwaway_pfx_is_one_windows_7_can_read() -> None:
    """3DES/SHA-1 PBE (Windows 7's CryptoAPI has no AES PFX), the key inside, one day valid, thumbprint = SHA-1."""
    cert = throwaway_certificate(NOW)
    data = base64.b64decode(cert.pfx)
    assert bytes.fromhex("060a2a864886f70d010c0103") in data  # pbeWithSHAAnd3-KeyTripleDES-CBC
    assert bytes.fromhex("0609608648016503040102") not in data and b"\x2a\x86\x48\x86\xf7\x0d\x01\x05\x0d" not in data
    loaded = pkcs12.load_pkcs12(data, cert.password.encode())
    assert loaded.key is not None and loaded.cert is not None
    x = loaded.cert.certificate
    assert x.not_valid_after_utc - NOW <= timedelta(days=1)
    assert hashlib.sha1(x.public_bytes(Encoding.DER)).hexdigest().upper() == cert.thumbprint
    assert cert.password not in repr(cert) and cert.pfx not in repr(cert)


def test_no_operator_means_no_import() -> None:
    image = instantiate("win10-no-operator", {"hostname": "PC-X"}, NOW)
    log: list[ProbeRequest] = []
    items = by_name(run_selftest(sim_probe(image, log), write=True, cert=True, now=NOW))
    store = items["user's Personal store"]
    assert store.skipped and "no operator logged on" in store.detail.en
    assert not any(isinstance(a, ImportPfx) for r in log for a in r.actions)


def _moving_import(image: HostImage, appdata: str, place_file: bool = True) -> Probe:
    """Windows with the operator's AppData redirected: the simulator's import lands in that
    AppData's file store, as Windows puts it (W42); ``place_file`` is kept for the callers'
    intent (a share: the file is there, but the WinRM session cannot read it)."""
    del place_file
    operator = _operator(image)
    operator.hive.ensure(SHELL_FOLDERS_KEY).set("AppData", RegValue(t="EXPAND_SZ", v=appdata))
    return sim_probe(image)


def test_a_certificate_in_a_redirected_local_appdata_is_found_and_removed() -> None:
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)
    appdata = r"D:\Redirected\交易员01\AppData\Roaming"
    items = by_name(run_selftest(_moving_import(image, appdata, place_file=True), write=True, cert=True, now=NOW))
    store = items[CERT_ITEM]
    assert store.ok and store.detail.en == (
        f"Windows put it in: file in the redirected AppData; AppData is redirected to {appdata}"
    )
    assert items["clean-up: throw-away certificate removed"].ok
    assert not any(path.lower().startswith("d:\\redirected") for path in image.files)


def test_a_certificate_in_the_appdata_file_store_is_named_once_and_removed() -> None:
    """Current Windows keeps CurrentUser\\My as files in the roaming AppData (W42): one home, not two."""
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)
    operator = _operator(image)
    probe = _moving_import(image, operator.path + r"\AppData\Roaming", place_file=True)
    items = by_name(run_selftest(probe, write=True, cert=True, now=NOW))
    assert items[CERT_ITEM].ok
    assert items[CERT_ITEM].detail.en == r"Windows put it in: {profile}\AppData\Roaming file"
    clean = items["clean-up: throw-away certificate removed"]
    assert clean.ok, clean.detail.en
    thumb = clean.detail.en.removeprefix("removed (").removesuffix(")")
    stored = operator.path + r"\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates" + "\\" + thumb
    assert image.file(stored) is None


def test_a_certificate_in_a_unc_appdata_is_named() -> None:
    """AppData on a file server: the WinRM session cannot reach it (second hop); said, not hidden."""
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)
    appdata = r"\\fileserver\home$\交易员01\AppData\Roaming"
    items = by_name(run_selftest(_moving_import(image, appdata, place_file=False), write=True, cert=True, now=NOW))
    store, clean = items[CERT_ITEM], items["clean-up: throw-away certificate removed"]
    assert not store.ok
    assert store.detail.en.startswith(
        f"in neither the registry nor AppData: probably in the redirected AppData ({appdata}),"
        " which the agent cannot read from a WinRM session; agent: "
    ), store.detail.en
    # The agent's own {appdata} resolution refused the share, and says so.
    assert appdata in store.detail.en.split("; agent: ", 1)[1]
    assert not clean.ok and "by hand" in clean.detail.en


def test_a_failing_import_is_named_with_the_agents_error() -> None:
    """E.g. a Group Policy execution policy stops the import task's -File script (finding 5)."""
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)
    inner = sim_probe(image)
    error = "the import task did not finish within 60000 ms"

    def stuck_import(request: ProbeRequest) -> ProbeResponse:
        response = inner(request)
        results = [
            ActionResult(id=r.id, status="error", error=error) if r.id == "selftest-cert-import" else r
            for r in response.actions
        ]
        return response.model_copy(update={"actions": results})

    items = by_name(run_selftest(stuck_import, write=True, cert=True, now=NOW))
    assert not items[CERT_ITEM].ok and items[CERT_ITEM].detail.en == f"import failed: {error}"
    # The import did add it (it only answered late): the clean-up still removes it by thumbprint.
    clean = items["clean-up: throw-away certificate removed"]
    assert clean.ok, clean.detail.en
    thumb = clean.detail.en.removeprefix("removed (").removesuffix(")")
    assert _operator(image).hive.find(r"Software\Microsoft\SystemCertificates\My\Certificates" + "\\" + thumb) is None


def test_write_cert_over_winrm_passes_and_leaves_no_certificate(office: tuple[Path, object]) -> None:
    inventory, running = office
    result = CliRunner().invoke(main, ["--lang", "en", "selftest", "PC-W10", "-i", str(inventory), "--write", "--cert"])
    assert result.exit_code == 0, result.output
    assert f"✓ {CERT_ITEM}: Windows put it in: " in result.output
    assert "✓ clean-up: throw-away certificate removed: removed (" in result.output
    snapshot = repr(running.hosts["PC-W10"].host.snapshot())  # type: ignore[attr-defined]
    thumb = result.output.split("removed (", 1)[1][:40]
    assert thumb.lower() not in snapshot.lower()


def test_cert_needs_write(office: tuple[Path, object]) -> None:
    inventory, _ = office
    result = CliRunner().invoke(main, ["--lang", "en", "selftest", "PC-W10", "-i", str(inventory), "--cert"])
    assert result.exit_code == 2 and "--cert needs --write" in result.output


# --------------------------------------------------------------------------- USB presence


def test_usb_presence_counts_phantoms_and_port_instances() -> None:
    devices = [
        PnpDevice(device_id=r"USB\VID_096E&PID_0807\5&2A3F1C0&0&2", present=True, error_code=0),
        PnpDevice(device_id=r"USB\VID_096E&PID_0807&MI_00\6&1B2C3D4&0&0000", present=True, error_code=0),
        PnpDevice(device_id=r"USB\VID_096E&PID_0807\5&2A3F1C0&0&3", present=False, error_code=45),
        PnpDevice(device_id=r"USB\VID_096E&PID_0807\0123456789AB", present=None, error_code=45),
        PnpDevice(device_id=r"USB\VID_096E&PID_0807\FT0001", present=None, error_code=None),
    ]
    item = judge_pnp_presence(devices)
    assert item.ok and not item.skipped
    assert item.detail.en == (
        "4 instances: 1 present, 2 phantom (not connected), 1 unreported; 2 without a serial number"
        " (one instance per USB port)"
    )


def test_usb_presence_contradiction_fails_and_none_skips() -> None:
    bad = judge_pnp_presence([PnpDevice(device_id=r"USB\VID_096E&PID_0807\X1", present=True, error_code=45)])
    assert not bad.ok and r"Present true yet error 45: USB\VID_096E&PID_0807\X1" in bad.detail.en
    assert judge_pnp_presence([]).skipped


def test_serial_numbers_in_instance_ids() -> None:
    assert has_serial_instance_id(r"USB\VID_096E&PID_0807\FT0001")
    assert not has_serial_instance_id(r"USB\VID_096E&PID_0807\5&2A3F1C0&0&2")
    assert not has_serial_instance_id("garbage")
