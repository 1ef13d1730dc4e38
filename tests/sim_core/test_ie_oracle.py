"""The WOW64 redirector and the IE oracle, rule by rule, on tiny hand-built PCs.

Each test is one case a source states (named in fleetcheck/sim/wow64.py and
fleetcheck/sim/ieoracle.py next to the rule).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from fleetcheck.sim import ieoracle as o
from fleetcheck.sim import wow64
from fleetcheck.sim.image import HostImage

from .pcgen import CERTENROLL, CONTROLS, IS, OPERATOR_SID, POL_IS, build, pcs

SID = OPERATOR_SID
URL = "https://biz.sccc.com"
EXT_POL = r"Microsoft\Windows\CurrentVersion\Policies\Ext"


def pc(
    arch: str = "x64",
    registry: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    operator: bool | None = True,
) -> HostImage:
    return build(
        {
            "arch": arch,
            "registry": registry or {},
            "user": user or {},
            "files": files or {},
            "operator": operator,
        }
    )


# --------------------------------------------------------------------------- WOW64 redirector


@pytest.mark.parametrize(
    ("path", "view", "expected"),
    [
        (
            r"SOFTWARE\Microsoft\Internet Explorer\X",
            32,
            r"SOFTWARE\WOW6432Node\Microsoft\Internet Explorer\X",
        ),
        (r"SOFTWARE\Microsoft\Internet Explorer\X", 64, r"SOFTWARE\Microsoft\Internet Explorer\X"),
        (r"SOFTWARE\Policies\Microsoft\Edge", 32, r"SOFTWARE\Policies\Microsoft\Edge"),
        (
            r"SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Ext",
            32,
            r"SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Ext",
        ),
        (
            r"SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2",
            32,
            r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2",
        ),
        (
            r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1",
            32,
            r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1",
        ),
        (
            r"SOFTWARE\Microsoft\SystemCertificates\Root",
            32,
            r"SOFTWARE\Microsoft\SystemCertificates\Root",
        ),
        (r"SOFTWARE\Classes\CLSID\{X}", 32, r"SOFTWARE\Classes\WOW6432Node\CLSID\{X}"),
        (r"SOFTWARE\Classes\Interface\{X}", 32, r"SOFTWARE\Classes\WOW6432Node\Interface\{X}"),
        (
            r"SOFTWARE\Classes\.txt",
            32,
            r"SOFTWARE\Classes\.txt",
        ),  # Classes itself is shared (Win7+)
        (
            r"SOFTWARE\WOW6432Node\Classes\CLSID",
            64,
            r"SOFTWARE\Classes\Wow6432Node\CLSID",
        ),  # symlink
        (r"SOFTWARE\Classes\Wow6432Node\AppId\{A}", 64, r"SOFTWARE\Classes\AppId\{A}"),  # symlink
        (
            r"SYSTEM\CurrentControlSet\Control",
            32,
            r"SYSTEM\CurrentControlSet\Control",
        ),  # HKLM shared
    ],
)
def test_hklm_redirection_follows_the_shared_key_table(path: str, view: int, expected: str) -> None:
    assert wow64.physical_path("x64", "HKLM", path, view) == expected  # type: ignore[arg-type]


def test_x86_windows_redirects_nothing() -> None:
    assert (
        wow64.physical_path("x86", "HKLM", r"SOFTWARE\Classes\CLSID\{X}", 32)
        == r"SOFTWARE\Classes\CLSID\{X}"
    )
    assert wow64.fs_redirect("x86", r"C:\Windows\System32\a.dll") == r"C:\Windows\System32\a.dll"


def test_hkcu_software_is_shared_but_its_clsid_is_redirected() -> None:
    assert (
        wow64.physical_path("x64", "HKCU", r"Software\Microsoft\X", 32) == r"Software\Microsoft\X"
    )
    assert (
        wow64.physical_path("x64", "HKCU", r"Software\Classes\CLSID\{X}", 32)
        == r"Software\Classes\WOW6432Node\CLSID\{X}"
    )
    assert wow64.physical_path("x64", "HKU", SID + r"\Software\Classes\MediaFoundation", 32) == (
        SID + r"\Software\Classes\WOW6432Node\MediaFoundation"
    )
    assert (
        wow64.physical_path("x64", "HKCU", r"Software\Classes\AppID\{X}", 32)
        == r"Software\Classes\AppID\{X}"
    )


def test_file_system_redirector_and_exempt_folders() -> None:
    assert (
        wow64.fs_redirect("x64", r"C:\Windows\System32\JIT.ocx") == r"C:\Windows\SysWOW64\JIT.ocx"
    )
    assert (
        wow64.fs_redirect("x64", r"c:\windows\system32\drivers\etc\hosts")
        == r"c:\windows\system32\drivers\etc\hosts"
    )
    assert wow64.fs_redirect("x64", r"C:\Windows\Sysnative\a.dll") == r"C:\Windows\System32\a.dll"
    assert (
        wow64.fs_redirect("x64", r"C:\Windows\Downloaded Program Files\a.ocx")
        == r"C:\Windows\Downloaded Program Files\a.ocx"
    )


def test_32_bit_process_environment() -> None:
    env = wow64.wow32_env(
        "x64",
        {
            "ProgramFiles": r"C:\Program Files",
            "ProgramFiles(x86)": r"C:\Program Files (x86)",
            "CommonProgramFiles(x86)": r"C:\Program Files (x86)\Common Files",
        },
    )
    assert env["ProgramFiles"] == r"C:\Program Files (x86)"
    assert env["ProgramW6432"] == r"C:\Program Files"
    assert env["CommonProgramFiles"] == r"C:\Program Files (x86)\Common Files"


def test_x64_image_shares_policies_between_views_and_persists_them_once() -> None:
    image = pc(
        registry={
            r"SOFTWARE\WOW6432Node\Policies\Microsoft\Edge": {"A": 1},
            r"SOFTWARE\Policies\Microsoft\Edge": {"B": 2},
        }
    )
    native = image.hklm.find(r"SOFTWARE\Policies\Microsoft\Edge")
    assert native is not None and native is image.hklm.find(
        r"SOFTWARE\WOW6432Node\Policies\Microsoft\Edge"
    )
    assert {n for n, _ in native.values.values()} == {"A", "B"}
    state = image.to_state()
    wow = state["hklm"]["subkeys"]["SOFTWARE"]["subkeys"]["WOW6432Node"]["subkeys"]
    assert "Policies" not in wow
    again = HostImage.from_state(state)
    assert again.hklm.find(r"SOFTWARE\WOW6432Node\Policies\Microsoft\Edge") is again.hklm.find(
        r"SOFTWARE\Policies\Microsoft\Edge"
    )
    assert again.to_state() == state


def test_x64_image_keeps_redirected_keys_apart() -> None:
    image = pc(
        registry={
            "SOFTWARE\\" + IS + r"\Zones\2": {"1004": 0},
            "SOFTWARE\\WOW6432Node\\" + IS + r"\Zones\2": {"1004": 3},
        }
    )
    a = image.hklm.find("SOFTWARE\\" + IS + r"\Zones\2")
    b = image.hklm.find("SOFTWARE\\WOW6432Node\\" + IS + r"\Zones\2")
    assert a is not None and b is not None and a is not b


def test_view_32_sugar_lands_where_the_redirector_puts_it() -> None:
    from fleetcheck.sim.image import view_path

    assert view_path("x64", 32, r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\X") == (
        r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\X"
    )
    assert view_path("x64", 32, r"SOFTWARE\Policies\X") == r"SOFTWARE\Policies\X"
    assert (
        view_path("x64", 32, r"SOFTWARE\Classes\CLSID\{X}")
        == r"SOFTWARE\WOW6432Node\Classes\CLSID\{X}"
    )
    assert view_path("x86", 32, r"SOFTWARE\Classes\CLSID\{X}") == r"SOFTWARE\Classes\CLSID\{X}"


# --------------------------------------------------------------------------- zones


def _user_map(key: str, value: str, zone: int) -> dict[str, Any]:
    return {"Software\\" + IS + r"\ZoneMap\Domains" + "\\" + key: {value: zone}}


@pytest.mark.parametrize(
    ("key", "value", "zone"),
    [
        (r"sccc.com\biz", "https", 2),
        (r"sccc.com\biz", "*", 2),
        ("sccc.com", "*", 2),
        (r"sccc.com\*", "https", 2),
        ("biz.sccc.com", "https", 2),
        (r"sccc.com\biz", "http", 3),
    ],
)
def test_user_zone_map_entries(key: str, value: str, zone: int) -> None:
    assert o.zone_of_url(pc(user=_user_map(key, value, 2)), URL, SID).zone == zone


def test_default_zone_is_internet() -> None:
    assert o.zone_of_url(pc(), URL, SID) == o.ZoneAnswer(3, "default")


def test_exact_host_beats_parent_domain() -> None:
    user = {
        "Software\\" + IS + r"\ZoneMap\Domains\sccc.com": {"*": 4},
        "Software\\" + IS + r"\ZoneMap\Domains\sccc.com\biz": {"https": 2},
    }
    assert o.zone_of_url(pc(user=user), URL, SID).zone == 2


def test_machine_zone_map_is_read_through_the_32_bit_view() -> None:
    native = {"SOFTWARE\\" + IS + r"\ZoneMap\Domains\sccc.com\biz": {"https": 2}}
    wow = {"SOFTWARE\\WOW6432Node\\" + IS + r"\ZoneMap\Domains\sccc.com\biz": {"https": 2}}
    assert (
        o.zone_of_url(pc(registry=native), URL, SID).zone == 3
    )  # 64-bit key: 32-bit IE never reads it
    assert o.zone_of_url(pc(registry=wow), URL, SID).zone == 2
    assert o.zone_of_url(pc(arch="x86", registry=native), URL, SID).zone == 2


def test_site_to_zone_list_wins_and_hides_the_user_map() -> None:
    listed = {"SOFTWARE\\" + POL_IS + r"\ZoneMapKey": {"https://oa.example.com": "2"}}
    image = pc(registry=listed, user=_user_map(r"sccc.com\biz", "https", 2))
    assert o.zone_of_url(image, URL, SID).zone == 3
    listed = {"SOFTWARE\\" + POL_IS + r"\ZoneMapKey": {"*.sccc.com": "1"}}
    assert o.zone_of_url(pc(registry=listed), URL, SID).zone == 1
    listed = {"SOFTWARE\\" + POL_IS + r"\ZoneMapKey": {"http://biz.sccc.com": "2"}}
    assert o.zone_of_url(pc(registry=listed), URL, SID).zone == 3  # protocol-specific: http only


def test_machine_site_list_beats_user_site_list() -> None:
    image = pc(
        registry={"SOFTWARE\\" + POL_IS + r"\ZoneMapKey": {"biz.sccc.com": "4"}},
        user={"Software\\" + POL_IS + r"\ZoneMapKey": {"biz.sccc.com": "2"}},
    )
    assert o.zone_of_url(image, URL, SID) == o.ZoneAnswer(4, "HKLM policy ZoneMapKey")


def test_security_hklm_only_ignores_the_user_map_and_user_list() -> None:
    reg = {"SOFTWARE\\" + POL_IS: {"Security_HKLM_only": 1}}
    user = {
        **_user_map(r"sccc.com\biz", "https", 2),
        "Software\\" + POL_IS + r"\ZoneMapKey": {"biz.sccc.com": "2"},
    }
    assert o.zone_of_url(pc(registry=reg, user=user), URL, SID).zone == 3


# --------------------------------------------------------------------------- URL actions


def test_action_precedence_machine_policy_user_policy_user_machine() -> None:
    z = r"\Zones\2"
    layers = {
        "hklm_policy": ("registry", "SOFTWARE\\" + POL_IS + z),
        "hkcu_policy": ("user", "Software\\" + POL_IS + z),
        "hkcu": ("user", "Software\\" + IS + z),
        "hklm": ("registry", "SOFTWARE\\WOW6432Node\\" + IS + z),
    }
    order = list(layers)
    for i, winner in enumerate(order):
        reg: dict[str, Any] = {}
        user: dict[str, Any] = {}
        for j, name in enumerate(order[i:]):
            where, path = layers[name]
            (reg if where == "registry" else user)[path] = {"1004": j}
        assert o.url_action(pc(registry=reg, user=user), 2, 1004, SID).value == 0, winner


def test_machine_preference_is_the_32_bit_one_on_x64() -> None:
    reg = {
        "SOFTWARE\\" + IS + r"\Zones\2": {"1803": 0},
        "SOFTWARE\\WOW6432Node\\" + IS + r"\Zones\2": {"1803": 3},
    }
    assert o.url_action(pc(registry=reg), 2, 1803, None).value == 3
    assert (
        o.url_action(
            pc(arch="x86", registry={"SOFTWARE\\" + IS + r"\Zones\2": {"1803": 0}}), 2, 1803, None
        ).value
        == 0
    )


def test_security_hklm_only_uses_only_machine_settings() -> None:
    reg = {
        "SOFTWARE\\" + POL_IS: {"Security_HKLM_only": 1},
        "SOFTWARE\\" + IS + r"\Zones\2": {"2201": 0},  # 64-bit key, unseen by 32-bit IE
        "SOFTWARE\\WOW6432Node\\" + IS + r"\Zones\2": {"2201": 3},
    }
    user = {
        "Software\\" + IS + r"\Zones\2": {"2201": 0},
        "Software\\" + POL_IS + r"\Zones\2": {"2201": 0},
    }
    assert o.url_action(pc(registry=reg, user=user), 2, 2201, SID) == o.ActionAnswer(
        3, "HKLM preference"
    )


def test_security_hklm_only_written_through_the_wow_path_is_the_shared_policy() -> None:
    reg = {"SOFTWARE\\WOW6432Node\\" + POL_IS: {"Security_HKLM_only": 1}}
    assert o.security_hklm_only(pc(registry=reg))


def test_a_string_action_value_is_not_the_number_it_spells() -> None:
    user = {"Software\\" + IS + r"\Zones\2": {"1004": {"t": "SZ", "v": "0"}}}
    reg = {"SOFTWARE\\WOW6432Node\\" + IS + r"\Zones\2": {"1004": 3}}
    assert o.url_action(pc(registry=reg, user=user), 2, 1004, SID).value == 3


def test_no_operator_means_no_user_layers() -> None:
    user = {"Software\\" + IS + r"\Zones\2": {"1004": 0}}
    assert o.url_action(pc(user=user, operator=False), 2, 1004, SID).value is None
    assert o.url_action(pc(user=user), 2, 1004, None).value is None


# --------------------------------------------------------------------------- add-ons

OCX = "JITCertEnroll.ocx"
DPF = "C:\\Windows\\Downloaded Program Files\\" + OCX


def _reg(root: str, data: str, kind: str = "SZ") -> dict[str, Any]:
    return {root + "\\" + CERTENROLL + r"\InprocServer32": {"": {"t": kind, "v": data}}}


def test_32_bit_registration_loads_with_its_file_version() -> None:
    image = pc(registry=_reg(r"SOFTWARE\WOW6432Node\Classes\CLSID", DPF), files={DPF: "2.0.4.8"})
    state = o.addon_state(image, CERTENROLL, SID)
    assert (state.loads, state.version, state.registration) == (True, "2.0.4.8", "HKLM")


def test_64_bit_registration_is_invisible_to_32_bit_ie() -> None:
    image = pc(registry=_reg(r"SOFTWARE\Classes\CLSID", DPF), files={DPF: "2.0.4.8"})
    assert not o.addon_state(image, CERTENROLL, SID).registered
    image = pc(arch="x86", registry=_reg(r"SOFTWARE\Classes\CLSID", DPF), files={DPF: "2.0.4.8"})
    assert o.addon_state(image, CERTENROLL, SID).loads


def test_user_registration_wins_over_machine() -> None:
    user_file = r"C:\Users\u\JIT.ocx"
    image = pc(
        registry=_reg(r"SOFTWARE\WOW6432Node\Classes\CLSID", DPF),
        user=_reg(r"Software\Classes\WOW6432Node\CLSID", user_file),
        files={DPF: "2.0.4.8", user_file: "2.0.4.6"},
    )
    state = o.addon_state(image, CERTENROLL, SID)
    assert (state.registration, state.version) == ("HKCU", "2.0.4.6")
    image = pc(
        registry=_reg(r"SOFTWARE\WOW6432Node\Classes\CLSID", DPF),
        user=_reg(r"Software\Classes\CLSID", user_file),  # 64-bit per-user: unseen
        files={DPF: "2.0.4.8", user_file: "2.0.4.6"},
    )
    assert o.addon_state(image, CERTENROLL, SID).registration == "HKLM"


def test_system32_and_program_files_as_a_32_bit_process_sees_them() -> None:
    image = pc(
        registry=_reg(
            r"SOFTWARE\WOW6432Node\Classes\CLSID", "%SystemRoot%\\System32\\" + OCX, "EXPAND_SZ"
        ),
        files={"C:\\Windows\\System32\\" + OCX: "2.0.4.8"},
    )
    state = o.addon_state(image, CERTENROLL, SID)
    assert state.path == "C:\\Windows\\SysWOW64\\" + OCX and not state.exists
    image = pc(
        registry=_reg(
            r"SOFTWARE\WOW6432Node\Classes\CLSID", "%ProgramFiles%\\JIT\\" + OCX, "EXPAND_SZ"
        ),
        files={"C:\\Program Files (x86)\\JIT\\" + OCX: "2.0.4.8"},
    )
    assert o.addon_state(image, CERTENROLL, SID).loads


def test_missing_file_does_not_load() -> None:
    state = o.addon_state(
        pc(registry=_reg(r"SOFTWARE\WOW6432Node\Classes\CLSID", DPF)), CERTENROLL, SID
    )
    assert state.registered and not state.loadable


def _loaded(
    extra_reg: dict[str, Any] | None = None, user: dict[str, Any] | None = None, arch: str = "x64"
) -> o.AddonAnswer:
    root = r"SOFTWARE\WOW6432Node\Classes\CLSID" if arch == "x64" else r"SOFTWARE\Classes\CLSID"
    image = pc(
        arch=arch,
        registry={**_reg(root, DPF), **(extra_reg or {})},
        user=user,
        files={DPF: "2.0.4.8"},
    )
    return o.addon_state(image, CERTENROLL, SID)


def test_kill_bit_in_the_32_bit_view() -> None:
    compat = r"Microsoft\Internet Explorer\ActiveX Compatibility" + "\\" + CERTENROLL
    assert _loaded(
        {"SOFTWARE\\WOW6432Node\\" + compat: {"Compatibility Flags": 0x400}}
    ).disabled_by == ["kill bit"]
    assert _loaded(
        {"SOFTWARE\\" + compat: {"Compatibility Flags": 0x400}}
    ).enabled  # 64-bit kill bit only
    assert not _loaded({"SOFTWARE\\" + compat: {"Compatibility Flags": 0x400}}, arch="x86").enabled


def test_add_on_list_policy_machine_and_user() -> None:
    on = {
        "SOFTWARE\\" + EXT_POL: {"ListBox_Support_CLSID": 1},
        "SOFTWARE\\" + EXT_POL + r"\CLSID": {CERTENROLL: "0"},
    }
    assert _loaded(on).disabled_by == ["Add-on List policy"]
    user = {
        "Software\\" + EXT_POL: {"ListBox_Support_CLSID": 1},
        "Software\\" + EXT_POL + r"\CLSID": {CERTENROLL: "0"},
    }
    assert not _loaded(user=user).enabled
    not_enabled = {
        "SOFTWARE\\" + EXT_POL + r"\CLSID": {CERTENROLL: "0"}
    }  # no ListBox_Support_CLSID
    assert _loaded(not_enabled).enabled
    machine_allows = {
        "SOFTWARE\\" + EXT_POL: {"ListBox_Support_CLSID": 1},
        "SOFTWARE\\" + EXT_POL + r"\CLSID": {CERTENROLL: "1"},
    }
    assert _loaded(machine_allows, user=user).enabled  # machine list over user list


def test_restrict_to_list() -> None:
    restrict = {"SOFTWARE\\" + EXT_POL: {"RestrictToList": 1}}
    assert _loaded(restrict).disabled_by == ["RestrictToList policy"]
    allowed = {
        "SOFTWARE\\" + EXT_POL: {"RestrictToList": 1, "ListBox_Support_CLSID": 1},
        "SOFTWARE\\" + EXT_POL + r"\CLSID": {CERTENROLL: "2"},
    }
    assert _loaded(allowed).enabled
    assert not _loaded(user={"Software\\" + EXT_POL: {"RestrictToList": 1}}).enabled


def test_user_manage_add_ons_flag_unless_policy_forces_it_on() -> None:
    flags = {
        r"Software\Microsoft\Windows\CurrentVersion\Ext\Settings" + "\\" + CERTENROLL: {"Flags": 1}
    }
    assert _loaded(user=flags).disabled_by == ["user (Manage Add-ons)"]
    forced = {
        "SOFTWARE\\" + EXT_POL: {"ListBox_Support_CLSID": 1},
        "SOFTWARE\\" + EXT_POL + r"\CLSID": {CERTENROLL: "1"},
    }
    assert _loaded(forced, user=flags).enabled
    managed = {
        "SOFTWARE\\" + EXT_POL: {"ListBox_Support_CLSID": 1},
        "SOFTWARE\\" + EXT_POL + r"\CLSID": {CERTENROLL: "2"},
    }
    assert not _loaded(managed, user=flags).enabled


# --------------------------------------------------------------------------- Edge


EDGE = r"SOFTWARE\Policies\Microsoft\Edge"


def test_edge_precedence() -> None:
    image = pc(
        registry={
            EDGE: {"DownloadRestrictions": 3},
            EDGE + r"\Recommended": {"DownloadRestrictions": 0},
        },
        user={r"Software\Policies\Microsoft\Edge": {"DownloadRestrictions": 1}},
    )
    assert o.edge_policy(image, "DownloadRestrictions", SID) == o.EdgeAnswer(3, "HKLM mandatory")
    image = pc(
        registry={EDGE + r"\Recommended": {"DownloadRestrictions": 0}},
        user={r"Software\Policies\Microsoft\Edge": {"DownloadRestrictions": 1}},
    )
    assert o.edge_policy(image, "DownloadRestrictions", SID) == o.EdgeAnswer(1, "HKCU mandatory")
    image = pc(
        registry={EDGE + r"\Recommended": {"DownloadRestrictions": 2}},
        user={r"Software\Policies\Microsoft\Edge\Recommended": {"DownloadRestrictions": 1}},
    )
    assert o.edge_policy(image, "DownloadRestrictions", SID) == o.EdgeAnswer(2, "HKLM recommended")


def test_edge_policy_that_cannot_be_recommended_ignores_recommended() -> None:
    image = pc(registry={EDGE + r"\Recommended": {"InternetExplorerIntegrationLevel": 1}})
    assert o.edge_policy(image, "InternetExplorerIntegrationLevel", SID).value is None
    image = pc(user={r"Software\Policies\Microsoft\Edge": {"InternetExplorerIntegrationLevel": 1}})
    assert o.edge_policy(image, "InternetExplorerIntegrationLevel", SID).value == 1
    assert o.edge_policy(image, "InternetExplorerIntegrationLevel", None).value is None


def test_protocol_value_wins_a_tie_between_spellings_of_the_same_host() -> None:
    reg = {
        "SOFTWARE\\WOW6432Node\\" + IS + r"\ZoneMap\Domains\biz.sccc.com": {"https": 2},
        "SOFTWARE\\WOW6432Node\\" + IS + r"\ZoneMap\Domains\sccc.com\biz": {"*": 1},
    }
    assert o.zone_of_url(pc(registry=reg), URL, SID).zone == 2


def test_two_spellings_of_one_host_that_disagree_give_the_stricter_zone() -> None:
    user = {
        "Software\\" + IS + r"\ZoneMap\Domains\biz.sccc.com": {"https": 2},
        "Software\\" + IS + r"\ZoneMap\Domains\sccc.com\biz": {"https": 1},
    }
    assert o.zone_of_url(pc(user=user), URL, SID).zone == 1
    user = {
        "Software\\" + IS + r"\ZoneMap\Domains\biz.sccc.com": {"https": 4},
        "Software\\" + IS + r"\ZoneMap\Domains\sccc.com\biz": {"https": 2},
    }
    assert o.zone_of_url(pc(user=user), URL, SID).zone == 4


def test_site_list_entries_that_disagree_give_the_stricter_zone() -> None:
    listed = {
        "SOFTWARE\\" + POL_IS + r"\ZoneMapKey": {"biz.sccc.com": "2", "*://biz.sccc.com": "3"}
    }
    assert o.zone_of_url(pc(registry=listed), URL, SID).zone == 3
    listed = {
        "SOFTWARE\\" + POL_IS + r"\ZoneMapKey": {"biz.sccc.com": "3", "https://biz.sccc.com": "2"}
    }
    assert o.zone_of_url(pc(registry=listed), URL, SID).zone == 2  # the protocol's own entry


def test_a_write_through_either_spelling_of_a_shared_key_is_seen_by_32_bit_ie() -> None:
    from fleetcheck.agent.contract import ProbeRequest, RegValue, SetValue
    from fleetcheck.sim.executor import execute

    image = pc()
    ext = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Policies\Ext"
    actions = [
        SetValue(
            id="a",
            hive="HKLM",
            path=ext,
            name="ListBox_Support_CLSID",
            value=RegValue(t="DWORD", v=1),
        ),
        SetValue(
            id="b",
            hive="HKLM",
            path=ext + r"\CLSID",
            name=CERTENROLL,
            value=RegValue(t="SZ", v="0"),
        ),
    ]
    execute(image, ProbeRequest(actions=actions))
    native = image.hklm.find(r"SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Ext\CLSID")
    assert native is not None and native.get(CERTENROLL) == RegValue(t="SZ", v="0")
    assert "Add-on List policy" in o.addon_state(image, CERTENROLL, SID).disabled_by


def test_a_write_to_a_redirected_key_stays_in_its_view() -> None:
    from fleetcheck.agent.contract import ProbeRequest, RegValue, SetValue
    from fleetcheck.sim.executor import execute

    image = pc(user={"Software\\" + IS + r"\Zones\2": {}})
    zone = "SOFTWARE\\" + IS + r"\Zones\2"
    execute(
        image,
        ProbeRequest(
            actions=[
                SetValue(
                    id="a", hive="HKLM", path=zone, name="1803", value=RegValue(t="DWORD", v=0)
                )
            ]
        ),
    )
    assert o.url_action(image, 2, 1803, SID).value is None  # 64-bit key: not what 32-bit IE reads
    execute(
        image,
        ProbeRequest(
            actions=[
                SetValue(
                    id="b",
                    hive="HKLM",
                    path="SOFTWARE\\WOW6432Node\\" + IS + r"\Zones\2",
                    name="1803",
                    value=RegValue(t="DWORD", v=0),
                )
            ]
        ),
    )
    assert o.url_action(image, 2, 1803, SID) == o.ActionAnswer(0, "HKLM preference")


def test_policy_zone_map_hierarchy_is_a_policy_source() -> None:
    reg = {"SOFTWARE\\" + POL_IS + r"\ZoneMap\Domains\sccc.com\biz": {"https": 4}}
    image = pc(registry=reg, user=_user_map(r"sccc.com\biz", "https", 2))
    assert o.zone_of_url(image, URL, SID) == o.ZoneAnswer(4, "HKLM policy ZoneMap")
    user = {"Software\\" + POL_IS + r"\ZoneMap\Domains\sccc.com\biz": {"https": 2}}
    assert o.zone_of_url(pc(user=user), URL, SID) == o.ZoneAnswer(2, "HKCU policy ZoneMap")


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(pcs())
def test_persisting_an_image_keeps_both_registry_views(generated: dict[str, Any]) -> None:
    """Shared keys are written once and relinked on load: 32-bit IE sees the same PC after a round trip."""
    image = build(generated)
    again = HostImage.from_state(image.to_state())
    assert again.to_state() == image.to_state()
    sid = SID if generated["operator"] is True else None

    def answers(img: HostImage) -> tuple[Any, ...]:
        return (
            o.zone_of_url(img, URL, sid),
            tuple(o.url_action(img, 2, a, sid) for a in (1004, 1803, 2200, 2201)),
            tuple(o.addon_state(img, c, sid) for c in CONTROLS),
            tuple(o.edge_policy(img, n, sid) for n in o.EDGE_POLICIES),
        )

    assert answers(again) == answers(image)
    if generated["arch"] == "x64":  # each shared key is still one node under both paths
        from fleetcheck.sim.image import wow_links

        for alias, target, _always in wow_links():
            node = again.hklm.find(target)
            assert node is None or again.hklm.find(alias) is node, alias
