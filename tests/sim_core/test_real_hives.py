"""Registry hives saved from real Windows machines (tests/data/real-hives, MIT, from regipy):
each reads into a tree with the exact key and value counts of the file, becomes (part of) a
simulated PC through ``registry_import:``, and the whole shipped pack runs on that PC with
no ``error`` finding that the same PC without the real data does not also have — i.e. no
check is broken by the shape of real data (REG_SZ zone values, REG_NONE, sparse zones,
device-property types, huge binaries, odd value names)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from fleetcheck.agent.contract import ProbeRequest, RegValue
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.sim import regimport
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import HostImage, ImageError, instantiate

from .conftest import NOW, OPERATOR_SID

HIVES = Path(__file__).resolve().parents[1] / "data" / "real-hives"
IS = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings"

# file -> (keys, values) as saved, the root key included (counted independently
# with regipy's own VK walk when the files were added).
COUNTS = {
    "NTUSER.DAT.xz": (1812, 4094),
    "NTUSER_with_winscp.DAT.xz": (5328, 12014),
    "NTUSER-WSL.DAT.xz": (3074, 4949),
    "UsrClass.dat.xz": (6205, 12369),
    "ntuser_software_partial.xz": (6396, 19990),
    "SYSTEM_WIN_10_1709.xz": (43211, 90307),
}

# image name -> registry_import entries, and whether the parent's own registry
# (machine or operator) is dropped so that only the real data answers the checks.
CASES: dict[str, tuple[list[dict[str, str]], str]] = {
    "ntuser": ([{"hive": "NTUSER.DAT.xz", "mount": "user"}], "profile"),
    "ntuser-winscp": ([{"hive": "NTUSER_with_winscp.DAT.xz", "mount": "user"}], "profile"),
    "ntuser-wsl": ([{"hive": "NTUSER-WSL.DAT.xz", "mount": "user"}], "profile"),
    "usrclass": ([{"hive": "UsrClass.dat.xz", "mount": "classes"}], ""),
    "software": ([{"hive": "ntuser_software_partial.xz", "mount": "HKLM\\SOFTWARE"}], "machine"),
    "system": ([{"hive": "SYSTEM_WIN_10_1709.xz", "mount": "HKLM\\SYSTEM"}], ""),
    # A real user's Internet Settings (sparse zones, GUID-named BINARY values,
    # Lockdown_Zones, EscDomains) in every layer the zone checks read.
    **{
        f"zones-everywhere-{label}": (
            [
                {"hive": hive, "mount": "user"},
                *(
                    {"hive": hive, "mount": mount, "key": IS}
                    for mount in (
                        "HKLM\\" + IS,
                        "HKLM\\" + IS.replace("Software\\", "SOFTWARE\\WOW6432Node\\"),
                        "HKLM\\" + IS.replace("Microsoft\\Windows", "Policies\\Microsoft\\Windows"),
                        "user\\" + IS.replace("Microsoft\\Windows", "Policies\\Microsoft\\Windows"),
                    )
                ),
            ],
            "profile",
        )
        for label, hive in (("ntuser", "NTUSER.DAT.xz"), ("winscp", "NTUSER_with_winscp.DAT.xz"))
    },
    "whole-pc": (
        [
            {"hive": "ntuser_software_partial.xz", "mount": "HKLM\\SOFTWARE"},
            {"hive": "SYSTEM_WIN_10_1709.xz", "mount": "HKLM\\SYSTEM"},
            {"hive": "NTUSER_with_winscp.DAT.xz", "mount": "user"},
            {"hive": "UsrClass.dat.xz", "mount": "classes"},
        ],
        "profile",
    ),
}


def _image_text(imports: list[dict[str, str]], drop: str, hive_dir: Path | None) -> str:
    lines = ["extends: win10-compliant"]
    if drop == "machine":
        lines.append("registry: null")
    if drop == "profile":
        lines += ["profiles:", "  - sid: ${operator_sid}", "    registry: null"]
    if imports:
        lines.append("registry_import:")
    for entry in imports:
        where = str(hive_dir / entry["hive"]) if hive_dir else entry["hive"]
        profile = ', profile: "${operator_sid}"' if not entry["mount"].startswith("HKLM") else ""
        key = f", key: '{entry['key']}'" if "key" in entry else ""
        lines.append(f"  - {{hive: '{where}', mount: '{entry['mount']}'{profile}{key}}}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def policies():  # type: ignore[no-untyped-def]
    return load_policies(shipped_policy_paths())


@pytest.fixture(scope="module")
def request_(policies) -> ProbeRequest:  # type: ignore[no-untyped-def]
    return compile_request(policies)


def _errors(image: HostImage, policies, request_: ProbeRequest) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response, _ = execute(image, request_)
    evaluation = evaluate_host(
        policies, response, host_vars={"gateway_cert": "F00504Y0007#0"}, now=NOW
    )
    assert evaluation.operator is not None, "the operator must still be found"
    return {
        f.check_id: (f.message.en if f.message else "")
        for f in evaluation.findings
        if f.status.value == "error"
    }


def test_data_files_are_the_published_ones() -> None:
    readme = (HIVES / "README.md").read_text(encoding="utf-8")
    listed = {
        name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.MULTILINE)
    }
    assert set(listed) == set(COUNTS) == {p.name for p in HIVES.glob("*.xz")}
    for name, digest in listed.items():
        assert hashlib.sha256((HIVES / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (HIVES / "LICENSE.regipy").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_every_key_and_value_of_each_hive_is_read(name: str) -> None:
    hive = regimport.read_hive(HIVES / name)
    assert (hive.keys, hive.values) == COUNTS[name]
    assert regimport.count_tree(hive.root) == COUNTS[name]


def test_real_value_shapes_are_decoded_as_the_agent_sees_them() -> None:
    ntuser = regimport.read_hive(HIVES / "NTUSER.DAT.xz").root
    zone3 = ntuser.find(IS + r"\Zones\3")
    assert zone3 is not None
    default = zone3.get("")
    assert default is not None and (default.t, default.v) == ("SZ", "")  # empty default value
    assert zone3.get("{AEBA21FA-782A-4A90-978D-B72164C80120}").t == "BINARY"  # type: ignore[union-attr]
    # sparse zones: the real Computer zone lists 3 URL actions, not 1201 / 2200 / 1004
    zone0 = ntuser.find(IS + r"\Zones\0")
    assert zone0 is not None and len(zone0.values) == 13
    assert [zone0.get(action) for action in ("1201", "2200", "1004")] == [None, None, None]
    winscp = regimport.read_hive(HIVES / "NTUSER_with_winscp.DAT.xz").root
    assert winscp.find(IS + r"\ZoneMap\Domains\sharepoint.com") is not None
    assert winscp.find("Software/Sourcetree") is not None  # a key name with a slash
    system = regimport.read_hive(HIVES / "SYSTEM_WIN_10_1709.xz")
    # device-property types (0xFFFF00xx) are invisible to .NET: NONE without data
    assert any("0xffff0012" in line for line in system.notes.lines())
    kinds = {
        value.t
        for key in regimport.flatten(system.root).values()
        for value in key.values()
    }
    assert kinds == {"SZ", "EXPAND_SZ", "MULTI_SZ", "DWORD", "QWORD", "BINARY", "NONE"}


def test_a_hive_is_mounted_where_the_image_says(tmp_path: Path) -> None:
    image_file = tmp_path / "pc.yaml"
    image_file.write_text(_image_text(CASES["whole-pc"][0], "profile", HIVES), encoding="utf-8")
    image = instantiate(image_file, now=NOW)
    prof = image.profile(OPERATOR_SID)
    assert prof is not None
    assert prof.hive.find(IS + r"\ZoneMap\Domains\sharepoint.com") is not None
    assert prof.hive.find(r"Software\Classes\Wow6432Node\CLSID") is not None  # UsrClass.dat
    assert prof.hive.find(r"Software\Microsoft\SystemCertificates\My\Certificates")  # cert added
    assert image.hklm.find(r"SOFTWARE\JavaSoft") is not None
    # SYSTEM: CurrentControlSet is the set Select\Current names, one tree under both paths
    assert image.hklm.find(r"SYSTEM\CurrentControlSet") is image.hklm.find(
        r"SYSTEM\ControlSet001"
    )
    assert image.hklm.find(r"SYSTEM\CurrentControlSet\Enum\USB") is not None


def test_one_key_of_a_hive_can_be_mounted_elsewhere(tmp_path: Path) -> None:
    policy = IS.replace("Microsoft\\Windows", "Policies\\Microsoft\\Windows")
    entries = [{"hive": "NTUSER_with_winscp.DAT.xz", "mount": "HKLM\\" + policy, "key": IS}]
    (tmp_path / "pc.yaml").write_text(_image_text(entries, "", HIVES), encoding="utf-8")
    image = instantiate(tmp_path / "pc.yaml", now=NOW)
    mounted = image.hklm.find(policy + r"\ZoneMap\Domains\sharepoint.com")
    assert mounted is not None and image.hklm.find(policy + r"\Zones\2").get("Flags").v == 71  # type: ignore[union-attr]
    entries[0]["key"] = r"Software\NoSuchKey"
    (tmp_path / "pc.yaml").write_text(_image_text(entries, "", HIVES), encoding="utf-8")
    with pytest.raises(ImageError, match="has no key"):
        instantiate(tmp_path / "pc.yaml", now=NOW)


def test_hive_paths_are_relative_to_the_image_file(tmp_path: Path) -> None:
    (tmp_path / "hives").mkdir()
    (tmp_path / "hives" / "NTUSER.DAT.xz").write_bytes((HIVES / "NTUSER.DAT.xz").read_bytes())
    (tmp_path / "pc.yaml").write_text(
        _image_text([{"hive": "hives/NTUSER.DAT.xz", "mount": "user"}], "profile", None),
        encoding="utf-8",
    )
    image = instantiate(tmp_path / "pc.yaml", now=NOW)
    assert image.profile(OPERATOR_SID).hive.find(IS + r"\Lockdown_Zones") is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"hive": "NTUSER.DAT.xz", "mount": "user"}, "needs profile"),
        ({"hive": "NTUSER.DAT.xz", "mount": "HKCU"}, "invalid mount"),
        ({"hive": "NTUSER.DAT.xz"}, "needs mount"),
        ({"hive": "missing.xz", "mount": "HKLM\\SOFTWARE"}, "cannot read"),
        ({"hive": "LICENSE.regipy", "mount": "HKLM\\SOFTWARE"}, "not a registry hive"),
        ({"hive": "NTUSER.DAT.xz", "mount": "user", "profile": "S-1-5-21-9-9-9-9"}, "no profile"),
    ],
)
def test_bad_imports_are_clear_image_errors(
    tmp_path: Path, entry: dict[str, str], message: str
) -> None:
    text = "extends: win10-compliant\nregistry_import:\n  - {"
    text += ", ".join(f"{k}: '{v}'" for k, v in entry.items()) + "}\n"
    (tmp_path / "pc.yaml").write_text(text, encoding="utf-8")
    for name in ("NTUSER.DAT.xz", "LICENSE.regipy"):
        (tmp_path / name).write_bytes((HIVES / name).read_bytes())
    with pytest.raises(ImageError, match=message):
        instantiate(tmp_path / "pc.yaml", now=NOW)


@pytest.mark.parametrize("case", sorted(CASES))
def test_pack_runs_on_real_data_without_errors_caused_by_it(
    case: str, tmp_path: Path, policies, request_: ProbeRequest  # type: ignore[no-untyped-def]
) -> None:
    imports, drop = CASES[case]
    real_file = tmp_path / f"{case}.yaml"
    real_file.write_text(_image_text(imports, drop, HIVES), encoding="utf-8")
    control_file = tmp_path / f"{case}-control.yaml"
    control_file.write_text(_image_text([], drop, None), encoding="utf-8")
    real = _errors(instantiate(real_file, now=NOW), policies, request_)
    control = _errors(instantiate(control_file, now=NOW), policies, request_)
    caused = {check: message for check, message in real.items() if check not in control}
    assert caused == {}, f"error findings caused by the real {case} data: {caused}"


# Shapes real hives show where a check expects a DWORD or a string.
ODD_SHAPES = {
    "text": RegValue(t="SZ", v="abc"),
    "bytes": RegValue(t="BINARY", v="AAEC"),
    "none": RegValue(t="NONE", v=""),
    "list": RegValue(t="MULTI_SZ", v=["0", ""]),
}
ODD_NAMES = (
    "", "1001", "1004", "1200", "1201", "1405", "1803", "2200", "2201", "Flags",
    "Compatibility Flags", "Security_HKLM_only", "Security_options_edit", "ListBox_Support_CLSID",
    "RestrictToList", "InternetExplorerIntegrationLevel", "InternetExplorerIntegrationSiteList",
    "InternetExplorerIntegrationReloadInIEModeAllowed", "https", "*", "DisplayName",
    "DisplayVersion", "Image Path", "Type", "Installer", "CODEBASE", "ThreadingModel", "Blob",
    "{33BBBFD1-0A97-4339-9032-F68F19CB3030}", "{707C7D52-85A8-4584-8954-573EFCE77488}",
    "{B0EF56AD-D711-412D-BE74-A751595F3633}",
)


@pytest.mark.parametrize("shape", sorted(ODD_SHAPES))
def test_odd_value_types_at_every_key_the_pack_reads_cause_no_error(
    shape: str, policies, request_: ProbeRequest  # type: ignore[no-untyped-def]
) -> None:
    """Every value of every registry key the compiled pack reads (and the names the checks
    look for, where absent) replaced by one odd type, one key at a time."""
    odd = ODD_SHAPES[shape]
    caused: dict[str, list[str]] = {}
    keys = [q for q in request_.queries if q.kind == "registry"]
    assert len(keys) > 30
    for query in keys:
        image = instantiate("win10-compliant", now=NOW)
        prof = image.profile(OPERATOR_SID)
        assert prof is not None
        root = image.hklm if query.hive == "HKLM" else prof.hive
        top = root.ensure(query.path)
        stack = [(top, 0)]
        while stack:
            node, depth = stack.pop()
            for name, _value in list(node.values.values()):
                node.set(name, odd)
            if depth < (query.depth or 0):
                stack += [(sub, depth + 1) for _name, sub in node.subkeys.values()]
        for name in ODD_NAMES:
            if top.get(name) is None:
                top.set(name, odd)
        for check, message in _errors(image, policies, request_).items():
            caused.setdefault(f"{check}: {message[:120]}", []).append(f"{query.hive}\\{query.path}")
    assert caused == {}, f"error findings caused by {shape} values: {caused}"
