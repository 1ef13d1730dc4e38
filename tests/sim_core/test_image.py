"""Images: every shipped image loads; the format's rules (extends, null, placeholders,
views, certificates) do what the docstring of fleetcheck.sim.image promises."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from fleetcheck.agent.contract import RegValue
from fleetcheck.certstore import parse_element
from fleetcheck.sim import certgen
from fleetcheck.sim.image import (
    CERT_STORE_KEY,
    HostImage,
    ImageError,
    image_schema,
    instantiate,
    load_spec,
    shipped_images,
)

from .conftest import ADMIN_SID, NOW, OPERATOR_SID

BASE = "extends: win10-compliant\n"


def certificates(image: HostImage, sid: str) -> list[tuple[str, x509.Certificate, object]]:
    prof = image.profile(sid)
    assert prof is not None
    store = prof.hive.find(CERT_STORE_KEY)
    found = []
    for _low, (name, node) in store.subkeys.items() if store else []:
        blob = node.get("Blob")
        assert blob is not None
        element = parse_element(blob.as_bytes())
        found.append((name, x509.load_der_x509_certificate(element.der), element.key_prov))
    return found


@pytest.mark.parametrize("name", shipped_images())
def test_every_shipped_image_instantiates(name: str) -> None:
    image = instantiate(name, now=NOW)
    assert image.os.hostname == "TRADE-PC01"
    assert image.os.acp == 936
    assert image.profiles, "every shipped image has profiles"


def test_the_catalogue_covers_every_platform_and_failure() -> None:
    names = set(shipped_images())
    expected = {
        "win7-compliant",
        "win7-x86-compliant",
        "win10-compliant",
        "win11-compliant",
        "win10-no-trusted-site",
        "win10-zone-flags-wrong",
        "win7-no-2200",
        "win10-no-ie-mode",
        "win10-certenroll-old",
        "win10-activex-disabled",
        "win10-no-feitian-driver",
        "win10-two-tokens",
        "win10-cert-expiring",
        "win10-cert-expired",
        "win10-hardware-cert-hash0",
        "win10-no-cert",
        "win10-portal-unreachable",
        "win10-no-operator",
        "win10-machine-policy",
        "win10-download-restricted",
    }
    assert expected <= names


def test_os_facts_per_platform() -> None:
    win7 = instantiate("win7-compliant", now=NOW).os
    assert (win7.version, win7.ps_version, win7.clr_version, win7.edge_version) == (
        "6.1.7601",
        "2.0",
        "2.0.50727.8806",
        None,
    )
    win11 = instantiate("win11-compliant", now=NOW).os
    assert (win11.build, win11.ie_version) == (22631, None)
    assert instantiate("win7-x86-compliant", now=NOW).os.arch == "x86"


def test_placeholders_fill_per_pc_values() -> None:
    image = instantiate(
        "win10-compliant",
        {
            "hostname": "TRADE-PC42",
            "operator": "TRADE\\交易员42",
            "operator_name": "交易员42",
            "gateway_cert": "F00999Y0042#0",
        },
        now=NOW,
    )
    prof = image.profile(OPERATOR_SID)
    assert image.os.hostname == "TRADE-PC42"
    assert (
        prof is not None and prof.user == "TRADE\\交易员42" and prof.path == "C:\\Users\\交易员42"
    )
    [(_thumb, cert, _kp)] = certificates(image, OPERATOR_SID)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "F00999Y0042#0"


def test_unknown_placeholder_is_a_clear_error() -> None:
    with pytest.raises(ImageError, match=r"\$\{nobody\} has no value"):
        instantiate(BASE + "os: {hostname: '${nobody}'}\n", now=NOW)


def test_placeholder_values_are_text_not_yaml() -> None:
    # A value that would be YAML syntax if pasted into the text stays a plain string.
    image = instantiate("win10-compliant", {"hostname": "x: [1, 2]\n- y"}, now=NOW)
    assert image.os.hostname == "x: [1, 2]\n- y"


def test_bad_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("os:\n  version: [1, 2\n", encoding="utf-8")
    with pytest.raises(ImageError, match=r"bad\.yaml:3:1: YAML syntax error: an unclosed '\['") as caught:
        instantiate(path, now=NOW)
    assert "YAML 语法错误" in caught.value.format("zh")


def test_schema_errors_name_file_line_column_and_field(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        BASE
        + "profiles:\n  - sid: ${operator_sid}\n    certificates: [{cn: x, kind: floppy}]\n"
        + "os:\n  build: many\ncolour: blue\n",
        encoding="utf-8",
    )
    with pytest.raises(ImageError) as caught:
        instantiate(path, now=NOW)
    # the one YAML loader's messages: file:line:col, the source line, a caret under the column
    lines = str(caught.value).splitlines()
    at = lines.index(f"{path}:4:34: 'floppy' is not allowed here (choose from: file or hardware)")
    assert lines[at + 1:at + 3] == ["        certificates: [{cn: x, kind: floppy}]", " " * 37 + "^"]
    assert f"{path}:6:10: 'many' is not a whole number" in lines
    assert any(line.startswith(f"{path}:7:1: unknown key 'colour' (allowed: description, vars, os,") for line in lines)
    zh = caught.value.format("zh")
    assert f"{path}:6:10: 'many' 不是整数" in zh and "未知的键 'colour'" in zh
    assert "Input should be" not in str(caught.value)  # no pydantic jargon


def test_errors_in_an_inherited_part_point_at_the_parent(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "os: {version: '10', build: 1, caption: x, ps_version: '5', clr_version: '4',"
        " hostname: h}\ntcp:\n  'a:1': {latency_ms: -3}\n",
        encoding="utf-8",
    )
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nenv: {X: y}\n", encoding="utf-8")
    with pytest.raises(ImageError, match=r"base\.yaml:3:23: -3 is out of range: must be at least 0"):
        instantiate(child, now=NOW)


def test_missing_parent_image_is_a_clear_error() -> None:
    with pytest.raises(ImageError, match=r"<image text>:1:10: extends 'win95-compliant', which is not an image"):
        instantiate("extends: win95-compliant\nos: {}\n", now=NOW)


def test_an_error_in_a_child_is_placed_whatever_the_case_of_its_keys(tmp_path: Path) -> None:
    # Windows names compare without case, so does the merge: "OS" overlays the parent's "os"
    child = tmp_path / "child.yaml"
    child.write_text(BASE + "OS:\n  build: many\n", encoding="utf-8")
    with pytest.raises(ImageError) as caught:
        instantiate(child, now=NOW)
    assert str(caught.value).splitlines()[:3] == [
        f"{child}:3:10: 'many' is not a whole number", "      build: many", "             ^"
    ]


def test_an_unknown_placeholder_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pc.yaml"
    path.write_text(BASE + "os:\n  hostname: 'PC-${nobody}'\n", encoding="utf-8")
    with pytest.raises(ImageError) as caught:
        instantiate(path, now=NOW)
    assert str(caught.value).startswith(f"{path}:3:13: placeholder ${{nobody}} has no value")
    assert caught.value.format("zh").startswith(f"{path}:3:13: 占位符 ${{nobody}} 没有值")


def test_image_errors_are_user_file_errors_with_the_usage_exit_code() -> None:
    from fleetcheck.errors import EXIT_USAGE, FleetcheckError
    from fleetcheck.yamlfile import UserFileError

    with pytest.raises(ImageError) as caught:
        instantiate("extends: win10-compliant\nprocesses: [{name: x.exe, user: TRADE\\nobody}]\n", now=NOW)
    assert isinstance(caught.value, UserFileError) and isinstance(caught.value, FleetcheckError)
    assert caught.value.exit_code == EXIT_USAGE
    assert str(caught.value) == "image: process x.exe runs as unknown user TRADE\\nobody; add that profile"
    assert caught.value.format("zh") == "image: 进程 x.exe 以未知用户 TRADE\\nobody 运行；请添加该用户的配置文件"


def test_extends_null_deletes_a_key_tree_and_values(tmp_path: Path) -> None:
    path = tmp_path / "overlay.yaml"
    path.write_text(
        BASE
        + "registry:\n"
        + "  'software\\policies\\microsoft\\EDGE': null\n"  # case-insensitive match
        + "  'SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion': {DisplayVersion: null}\n",
        encoding="utf-8",
    )
    image = instantiate(path, now=NOW)
    assert image.hklm.find(r"SOFTWARE\Policies\Microsoft\Edge") is None
    assert image.hklm.find(r"SOFTWARE\Policies\Microsoft") is not None
    current = image.hklm.find(r"SOFTWARE\Microsoft\Windows NT\CurrentVersion")
    assert current is not None and current.get("DisplayVersion") is None
    assert current.get("CurrentBuild") == RegValue(t="SZ", v="19045")


def test_profiles_merge_by_sid_and_keep_the_rest() -> None:
    image = instantiate("win10-zone-flags-wrong", now=NOW)
    zones = image.profile(OPERATOR_SID).hive.find(
        r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2"
    )  # type: ignore[union-attr]
    assert zones is not None
    assert zones.get("1004") == RegValue(t="DWORD", v=3)
    assert zones.get("1201") == RegValue(t="DWORD", v=1)  # inherited from the base
    assert image.profile(ADMIN_SID) is not None


def test_short_value_forms() -> None:
    image = instantiate(
        BASE + "registry:\n  'SOFTWARE\\Test':\n"
        "    dword: 1803\n    negative: -1\n    big: 8589934592\n    text: hello\n"
        "    multi: [a, b]\n    raw: {t: BINARY, v: AAEC}\n    exp: {t: EXPAND_SZ, v: '%SystemRoot%'}\n"
        "    '': default\n",
        now=NOW,
    )
    key = image.hklm.find(r"SOFTWARE\Test")
    assert key is not None
    assert key.get("DWORD") == RegValue(t="DWORD", v=1803)  # names are case-insensitive
    assert key.get("negative") == RegValue(t="DWORD", v=0xFFFFFFFF)
    assert key.get("big") == RegValue(t="QWORD", v=8589934592)
    assert key.get("text") == RegValue(t="SZ", v="hello")
    assert key.get("multi") == RegValue(t="MULTI_SZ", v=["a", "b"])
    assert key.get("raw") == RegValue(t="BINARY", v="AAEC")
    assert key.get("exp") == RegValue(t="EXPAND_SZ", v="%SystemRoot%")
    assert key.get("") == RegValue(t="SZ", v="default")


def test_wow6432node_classes_is_one_tree_on_x64(win10: HostImage) -> None:
    via_classes = win10.hklm.find(
        r"SOFTWARE\Classes\WOW6432Node\CLSID\{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
    )
    via_wow = win10.hklm.find(
        r"software\wow6432node\classes\clsid\{33bbbfd1-0a97-4339-9032-f68f19cb3030}"
    )
    assert via_classes is not None and via_classes is via_wow
    # The 64-bit view does not have the 32-bit control.
    assert win10.hklm.find(r"SOFTWARE\Classes\CLSID\{33BBBFD1-0A97-4339-9032-F68F19CB3030}") is None


def test_x86_image_has_no_wow6432node_and_native_registrations() -> None:
    image = instantiate("win7-x86-compliant", now=NOW)
    assert image.hklm.find(r"SOFTWARE\WOW6432Node") is None
    assert (
        image.hklm.find(
            r"SOFTWARE\Classes\CLSID\{707C7D52-85A8-4584-8954-573EFCE77488}\InprocServer32"
        )
        is not None
    )
    assert (
        image.hklm.find(r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\ePass2003")
        is not None
    )
    assert "ProgramFiles(x86)" not in image.env


def test_activex_sugar_registers_file_with_version(win10: HostImage) -> None:
    server = win10.hklm.find(
        r"SOFTWARE\WOW6432Node\Classes\CLSID\{33BBBFD1-0A97-4339-9032-F68F19CB3030}\InprocServer32"
    )
    assert server is not None
    path = server.get("")
    assert path is not None and isinstance(path.v, str)
    sim_file = win10.file(path.v)
    assert sim_file is not None and sim_file.version == "2.0.4.8"
    old = instantiate("win10-certenroll-old", now=NOW)
    assert old.file(path.v).version == "2.0.4.6"  # type: ignore[union-attr]


def test_certificate_is_real_x509_with_chinese_subject_and_exact_days(win10: HostImage) -> None:
    [(thumb, cert, key_prov)] = certificates(win10, OPERATOR_SID)
    assert thumb == certgen.thumbprint(cert.public_bytes(certgen.serialization.Encoding.DER))
    assert cert.not_valid_after_utc - NOW == timedelta(days=200)
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert org == "深圳某某证券股份有限公司"
    assert cert.issuer.rfc4514_string().startswith("CN=SCCC Gateway CA (simulated)")
    assert key_prov is not None and key_prov.provider == certgen.SOFTWARE_CSP  # type: ignore[attr-defined]
    # Signed by the simulated CA for real.
    ca = x509.load_pem_x509_certificate(certgen.ca_pem())
    cert.verify_directly_issued_by(ca)


@pytest.mark.parametrize(
    ("name", "days", "provider"),
    [
        ("win10-cert-expiring", 10, certgen.SOFTWARE_CSP),
        ("win10-cert-expired", -5, certgen.SOFTWARE_CSP),
        ("win10-hardware-cert-hash0", 200, certgen.TOKEN_CSP),
        ("win10-cert-no-key", 200, None),
    ],
)
def test_certificate_variants(name: str, days: int, provider: str | None) -> None:
    image = instantiate(name, now=NOW)
    [(_thumb, cert, key_prov)] = certificates(image, OPERATOR_SID)
    assert cert.not_valid_after_utc - NOW == timedelta(days=days)
    assert (key_prov.provider if key_prov else None) == provider  # type: ignore[attr-defined]


def test_no_cert_and_appdata_store() -> None:
    assert certificates(instantiate("win10-no-cert", now=NOW), OPERATOR_SID) == []
    image = instantiate("win10-appdata-cert", now=NOW)
    assert certificates(image, OPERATOR_SID) == []
    folder = (
        "c:\\users\\交易员01\\appdata\\roaming\\microsoft\\systemcertificates\\my\\certificates\\"
    )
    [stored] = [f for key, f in image.files.items() if key.startswith(folder)]
    element = parse_element(stored.read())
    assert stored.path.rsplit("\\", 1)[-1] == certgen.thumbprint(element.der)


def test_profile_list_and_browser_versions_are_in_the_registry(win10: HostImage) -> None:
    plist = win10.hklm.find(
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList" + "\\" + OPERATOR_SID
    )
    assert plist is not None and plist.get("ProfileImagePath") == RegValue(
        t="EXPAND_SZ", v="C:\\Users\\交易员01"
    )
    ie = win10.hklm.find(r"SOFTWARE\Microsoft\Internet Explorer")
    assert ie is not None and ie.get("svcVersion") == RegValue(t="SZ", v=win10.os.ie_version)


def test_state_round_trip_is_exact(win10: HostImage) -> None:
    state = win10.to_state()
    again = HostImage.from_state(state)
    assert again.to_state() == state
    # The shared 32-bit Classes tree is persisted once and comes back under both names.
    assert (
        again.hklm.find(
            r"SOFTWARE\WOW6432Node\Classes\CLSID\{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
        )
        is not None
    )
    assert again.hklm.find(r"SOFTWARE\Classes\WOW6432Node\CLSID") is again.hklm.find(
        r"SOFTWARE\WOW6432Node\Classes\CLSID"
    )


def test_damaged_state_is_a_clear_error() -> None:
    with pytest.raises(ImageError, match="not a simulator state"):
        HostImage.from_state({"format": "something else"})
    with pytest.raises(ImageError, match="damaged"):
        HostImage.from_state({"format": "fleetcheck-sim-state/1"})


def test_json_schema_describes_the_format() -> None:
    schema = image_schema()
    assert {"os", "registry", "profiles", "files", "tcp", "installers", "extends"} <= set(
        schema["properties"]
    )
    assert "CertificateSpec" in schema["$defs"]


def test_load_spec_needs_no_clock() -> None:
    spec = load_spec("win10-compliant")
    assert spec.profiles[0].certificates[0].days_left == 200


def test_naive_now_is_taken_as_utc() -> None:
    image = instantiate("win10-compliant", now=datetime(2026, 3, 2, 9, 0))
    [(_t, cert, _k)] = certificates(image, OPERATOR_SID)
    assert cert.not_valid_after_utc == datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc) + timedelta(
        days=200
    )


def test_an_office_of_many_pcs_shares_a_few_keys() -> None:
    images = [
        instantiate(
            "win10-compliant",
            {"hostname": f"PC{i:03d}", "gateway_cert": f"F{i:05d}Y0001#0"},
            now=NOW,
        )
        for i in range(30)
    ]
    keys = {
        certificates(img, OPERATOR_SID)[0][1].public_key().public_numbers().n
        for img in images  # type: ignore[union-attr]
    }
    assert 1 <= len(keys) <= certgen.POOL_SIZE
    thumbs = {certificates(img, OPERATOR_SID)[0][0] for img in images}
    assert len(thumbs) == 30


def test_shipped_schema_file_is_in_sync() -> None:
    from fleetcheck.sim.image import SCHEMA_FILE

    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == image_schema(), (
        "regenerate: python -c 'import json; from fleetcheck.sim.image import image_schema, "
        "SCHEMA_FILE; SCHEMA_FILE.write_text(json.dumps(image_schema(), indent=2, "
        'ensure_ascii=False, sort_keys=True) + chr(10), encoding="utf-8")\''
    )


def test_every_shipped_image_validates_against_the_schema() -> None:
    import jsonschema

    from fleetcheck.sim.image import IMAGES_DIR
    from fleetcheck.yamlfile import parse_data

    names = shipped_images()
    assert len(names) >= 25 and "win7-compliant" in names  # a packaging loss must not pass silently
    for name in names:
        text = (IMAGES_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        raw = parse_data(text, name)
        # YAML integer keys (value names like 1803) are strings once loaded.
        jsonschema.validate(json.loads(json.dumps(raw, default=str)), image_schema())


def test_the_schema_catches_typos_an_editor_should_flag() -> None:
    import jsonschema

    schema = image_schema()
    jsonschema.validate({"extends": "win10-compliant", "tcp": {"a:1": None}}, schema)
    for bad in (
        {"profile": []},  # profiles
        {"os": {"hostnmae": "x"}},
        {"profiles": [{"sid": "S-1-5-21-1", "certificates": [{"cn": "x", "kind": "floppy"}]}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
