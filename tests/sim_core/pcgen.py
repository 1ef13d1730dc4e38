"""Hypothesis strategies for simulated trading PCs over the IE / Edge rules, and a cheap builder.

A generated PC is a plain mapping (printed by hypothesis when a property
fails, and shrunk towards the smallest one): ``arch``, ``os``, ``operator``,
``registry`` (HKLM, literal paths: 64-bit and WOW6432Node spellings), ``user``
(the operator's hive), ``files`` ({path: version}). :func:`build` turns it into
a :class:`HostImage` through the image loader (so the two registry views are
linked exactly as for shipped images), without certificates (slow to make).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hypothesis import strategies as st

from fleetcheck.sim.image import HostImage, ImageSpec, build_image

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
OPERATOR_SID = "S-1-5-21-1004336348-1177238915-682003330-1105"
OPERATOR = "TRADE\\交易员01"

CERTENROLL = "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
JITVCTK = "{707C7D52-85A8-4584-8954-573EFCE77488}"
JITVCTKEX = "{B0EF56AD-D711-412D-BE74-A751595F3633}"
CONTROLS: dict[str, tuple[str, tuple[str, ...]]] = {
    # clsid -> (file name, versions to draw from)
    CERTENROLL: ("JITCertEnroll.ocx", ("2.0.4.8", "2.0.4.6", "2.0.5.0")),
    JITVCTK: ("JITComVCTK_S.dll", ("2.0.24.42", "2.0.24.40", "2.1.0.0")),
    JITVCTKEX: ("JITDSignEx.dll", ("2.1.9.6", "2.1.9.4", "2.1.9.3")),
}

IS = r"Microsoft\Windows\CurrentVersion\Internet Settings"
POL_IS = r"Policies\Microsoft\Windows\CurrentVersion\Internet Settings"
EXT_POL = r"Microsoft\Windows\CurrentVersion\Policies\Ext"
EDGE = r"Policies\Microsoft\Edge"

OS_FAMILIES = {
    "win7": {
        "version": "6.1.7601",
        "build": 7601,
        "caption": "Microsoft Windows 7 专业版",
        "ps_version": "2.0",
        "clr_version": "2.0.50727.8806",
        "ie_version": "11.0.9600.19180",
    },
    "win10": {
        "version": "10.0.19045",
        "build": 19045,
        "caption": "Microsoft Windows 10 专业版",
        "ps_version": "5.1.19041.3803",
        "clr_version": "4.0.30319.42000",
        "ie_version": "11.3636.19041.0",
        "edge_version": "120.0.2210.91",
    },
}


def machine_roots(arch: str) -> list[str]:
    """HKLM SOFTWARE roots a value can be written under: both views on x64."""
    return ["SOFTWARE", r"SOFTWARE\WOW6432Node"] if arch == "x64" else ["SOFTWARE"]


def classes_clsid_roots(arch: str, hive: str) -> list[str]:
    """CLSID trees: 64-bit and 32-bit registrations (x64), one tree (x86)."""
    base = "SOFTWARE" if hive == "HKLM" else "Software"
    if arch == "x86":
        return [base + r"\Classes\CLSID"]
    return [base + r"\Classes\CLSID", base + r"\Classes\WOW6432Node\CLSID"]


def file_locations(arch: str, name: str) -> list[tuple[str, str, list[str]]]:
    """(registry type, InprocServer32 data, files it can mean) per choice of registration.

    Test data, written by hand: the folder a path names for a 32-bit and for a
    64-bit process on this architecture (System32/SysWOW64, Program Files/(x86)).
    A file is drawn at one of those places, or none, so "file missing" and
    "file only where the other bitness would look" are both common.
    """
    dpf = "C:\\Windows\\Downloaded Program Files\\" + name
    if arch == "x86":
        return [
            ("EXPAND_SZ", "%SystemRoot%\\Downloaded Program Files\\" + name, [dpf]),
            ("SZ", dpf, [dpf]),
            ("EXPAND_SZ", "%SystemRoot%\\System32\\" + name, ["C:\\Windows\\System32\\" + name]),
            ("EXPAND_SZ", "%ProgramFiles%\\JIT\\" + name, ["C:\\Program Files\\JIT\\" + name]),
        ]
    sys32, wow = "C:\\Windows\\System32\\" + name, "C:\\Windows\\SysWOW64\\" + name
    pf, pf86 = "C:\\Program Files\\JIT\\" + name, "C:\\Program Files (x86)\\JIT\\" + name
    return [
        ("EXPAND_SZ", "%SystemRoot%\\Downloaded Program Files\\" + name, [dpf]),
        ("SZ", dpf, [dpf]),
        ("EXPAND_SZ", "%SystemRoot%\\System32\\" + name, [sys32, wow]),
        ("SZ", "C:\\Windows\\System32\\" + name, [sys32, wow]),
        ("EXPAND_SZ", "%ProgramFiles%\\JIT\\" + name, [pf, pf86]),
        ("SZ", wow, [wow]),
        ("SZ", pf86, [pf86]),
        # %VARS% in a REG_SZ are literal (only REG_EXPAND_SZ is expanded): the file at the
        # expanded place does not make the control loadable.
        ("SZ", "%SystemRoot%\\Downloaded Program Files\\" + name, [dpf]),
    ]


def _put(tree: dict[str, dict[str, Any]], path: str, name: str, value: Any) -> None:
    tree.setdefault(path, {})[name] = value


def build(pc: dict[str, Any]) -> HostImage:
    """A HostImage for a generated (or hand-written) PC mapping."""
    family = OS_FAMILIES[pc.get("os", "win10")]
    os_spec = {**family, "arch": pc.get("arch", "x64"), "hostname": "TRADE-GEN"}
    profiles = []
    if pc.get("operator", True) is not None:
        logged_on = bool(pc.get("operator", True))
        profiles.append(
            {
                "sid": OPERATOR_SID,
                "user": OPERATOR,
                "path": "C:\\Users\\交易员01",
                "loaded": logged_on,
                "console": logged_on,
                "interactive": logged_on,
                "registry": pc.get("user", {}),
            }
        )
    raw = {
        "os": os_spec,
        "registry": pc.get("registry", {}),
        "files": {path: {"version": version} for path, version in pc.get("files", {}).items()},
        "profiles": profiles,
    }
    return build_image(ImageSpec.model_validate(raw), "generated", NOW)


# --------------------------------------------------------------------------- strategies

ACTIONS = ("1004", "1803", "2200", "2201")
_action_value = st.sampled_from([0, 3, 0, 1]) | st.sampled_from(
    [{"t": "SZ", "v": "0"}, {"t": "SZ", "v": "3"}]
)
_ZONEMAP_ENTRIES = (
    (r"sccc.com\biz", "https"),
    (r"sccc.com\biz", "*"),
    (r"sccc.com\biz", "http"),
    ("sccc.com", "https"),
    ("sccc.com", "*"),
    (r"sccc.com\*", "https"),
    (r"sccc.com\*", "*"),
    ("biz.sccc.com", "https"),
    (r"example.com\www", "https"),
)
_ZONEMAPKEY_SITES = (
    "https://biz.sccc.com",
    "biz.sccc.com",
    "*.sccc.com",
    "http://biz.sccc.com",
    "*://biz.sccc.com",
    "https://oa.example-sec.com.cn",
)
# Plain DWORDs mostly; also what admins write by hand: string-encoded integers (plain,
# padded, hex), which Edge reads only when they are plain decimal.
_EDGE_STRINGS: tuple[dict[str, str], ...] = ({"t": "SZ", "v": "1"}, {"t": "SZ", "v": " 1"}, {"t": "SZ", "v": "0x1"})
_EDGE_VALUES: dict[str, tuple[object, ...]] = {
    "InternetExplorerIntegrationLevel": (0, 1, 2, *_EDGE_STRINGS),
    "InternetExplorerIntegrationReloadInIEModeAllowed": (0, 1, *_EDGE_STRINGS),
    "DownloadRestrictions": (0, 1, 2, 3, 4, {"t": "SZ", "v": "0"}),
}


def _chance(draw: st.DrawFn, k: int) -> bool:
    """True with probability about 1/k; shrinks to False (the feature absent)."""
    return draw(st.integers(0, k - 1)) == k - 1


def _likely(draw: st.DrawFn, k: int) -> bool:
    """True with probability about (k-1)/k; shrinks to False (the feature absent)."""
    return draw(st.integers(0, k - 1)) != 0


def _some(draw: st.DrawFn, items: Any, max_size: int = 3) -> list[Any]:
    return draw(st.lists(st.sampled_from(list(items)), max_size=max_size, unique=True))


Tree = dict[str, dict[str, Any]]


def _draw_zone_actions(draw: st.DrawFn, machine: Tree, user: Tree, roots: list[str]) -> None:
    """URL actions of the Trusted zone in each layer and view."""
    layers = [("hkcu", "Software\\" + IS), ("hkcu_pol", "Software\\" + POL_IS)]
    layers += [(f"hklm:{r}", r + "\\" + IS) for r in roots]
    layers += [(f"hklmpol:{r}", r + "\\" + POL_IS) for r in roots]
    for layer, base in layers:
        if not _chance(draw, 3):
            continue
        tree = user if layer.startswith("hkcu") else machine
        for action in ACTIONS:
            if _likely(draw, 4):
                _put(tree, base + r"\Zones\2", action, draw(_action_value))
    if _chance(draw, 3):
        root = draw(st.sampled_from(roots))
        _put(machine, root + "\\" + POL_IS, "Security_HKLM_only", draw(st.sampled_from([1, 0])))


def _draw_zone_maps(draw: st.DrawFn, machine: Tree, user: Tree, roots: list[str]) -> None:
    """Zone maps (user, machine in each view), ZoneMapKey site lists, policy zone maps."""
    zone = st.sampled_from([2, 1, 3, 4])
    for key, value in _some(draw, _ZONEMAP_ENTRIES):
        _put(user, "Software\\" + IS + r"\ZoneMap\Domains" + "\\" + key, value, draw(zone))
    if _chance(draw, 10):  # the same host spelt both ways (an undocumented tie)
        for key in ("biz.sccc.com", r"sccc.com\biz"):
            _put(user, "Software\\" + IS + r"\ZoneMap\Domains" + "\\" + key, "https", draw(zone))
    for root in roots:
        for key, value in _some(draw, _ZONEMAP_ENTRIES, max_size=2):
            _put(machine, root + "\\" + IS + r"\ZoneMap\Domains" + "\\" + key, value, draw(zone))
    # Site to Zone Assignment List (ZoneMapKey), machine and user policy.
    for tree, base in (
        (machine, draw(st.sampled_from(roots)) + "\\" + POL_IS),
        (user, "Software\\" + POL_IS),
    ):
        if _chance(draw, 4):
            for site in _some(draw, _ZONEMAPKEY_SITES, max_size=2):
                _put(tree, base + r"\ZoneMapKey", site, str(draw(zone)))
    # Policy zone maps (Software\Policies\...\Internet Settings\ZoneMap\Domains): where
    # Group Policy's site list ends up as a hierarchy; one of the five ZoneMap locations.
    for tree, base in (
        (machine, draw(st.sampled_from(roots)) + "\\" + POL_IS),
        (user, "Software\\" + POL_IS),
    ):
        if _chance(draw, 6):
            for key, value in _some(draw, _ZONEMAP_ENTRIES, max_size=2):
                _put(tree, base + r"\ZoneMap\Domains" + "\\" + key, value, draw(zone))


def _draw_addons(draw: st.DrawFn, machine: Tree, user: Tree, roots: list[str]) -> None:
    """Add-on List, RestrictToList, kill bits, the user's Manage Add-ons flags."""
    for tree, base in (
        (machine, draw(st.sampled_from(roots)) + "\\" + EXT_POL),
        (user, "Software\\" + EXT_POL),
    ):
        if _chance(draw, 2):
            _put(tree, base, "ListBox_Support_CLSID", draw(st.sampled_from([1, 0])))
        if _chance(draw, 2):
            for clsid in _some(draw, CONTROLS):
                entry = draw(st.sampled_from(["1", "2", "0", "1", "2", "0", "01", "abc", 1, 5]))
                _put(tree, base + r"\CLSID", clsid, entry)
        if _chance(draw, 8):
            _put(tree, base, "RestrictToList", draw(st.sampled_from([1, 1, 0])))
    if _chance(draw, 2):
        for clsid in _some(draw, CONTROLS, max_size=2):
            root = draw(st.sampled_from(roots))
            _put(
                machine,
                root + r"\Microsoft\Internet Explorer\ActiveX Compatibility" + "\\" + clsid,
                "Compatibility Flags",
                draw(st.sampled_from([0, 0x400, 0x401])),
            )
    if _chance(draw, 2):
        for clsid in _some(draw, CONTROLS, max_size=2):
            _put(
                user,
                r"Software\Microsoft\Windows\CurrentVersion\Ext\Settings" + "\\" + clsid,
                "Flags",
                draw(st.sampled_from([0, 1])),
            )


def _draw_edge(draw: st.DrawFn, machine: Tree, user: Tree, roots: list[str]) -> None:
    """Edge policies: mandatory / Recommended, HKLM / HKCU."""
    for name, values in _EDGE_VALUES.items():
        for place in _some(draw, ["hklm", "hkcu", "hklm_rec", "hkcu_rec"], max_size=2):
            tree = machine if place.startswith("hklm") else user
            base = (draw(st.sampled_from(roots)) if tree is machine else "Software") + "\\" + EDGE
            if place.endswith("_rec"):
                base += r"\Recommended"
            _put(tree, base, name, draw(st.sampled_from(values)))


def _draw_registrations(draw: st.DrawFn, machine: Tree, user: Tree, arch: str) -> dict[str, str]:
    """Registrations of the three controls in the 32/64-bit machine and user trees; their files."""
    files: dict[str, str] = {}
    for clsid, (fname, versions) in CONTROLS.items():
        places = [("HKLM", r) for r in classes_clsid_roots(arch, "HKLM")]
        places += [("HKCU", r) for r in classes_clsid_roots(arch, "HKCU")]
        if not _likely(draw, 5):
            continue
        chosen = draw(st.lists(st.sampled_from(places), min_size=1, max_size=2, unique=True))
        for hive, root in chosen:
            kind, data, meanings = draw(st.sampled_from(file_locations(arch, fname)))
            tree = machine if hive == "HKLM" else user
            _put(tree, root + "\\" + clsid + r"\InprocServer32", "", {"t": kind, "v": data})
            for path in _some(draw, meanings, max_size=len(meanings)):
                files[path] = draw(st.sampled_from(versions))
    return files


@st.composite
def pcs(draw: st.DrawFn) -> dict[str, Any]:
    """One PC state over the zone, add-on and Edge rules (see the module docstring).

    Every feature shrinks towards "absent", so a failing PC shrinks to the few
    keys that matter. Weights keep each check's pass and fail both common.
    """
    arch = draw(st.sampled_from(["x64", "x86"]))
    family = draw(st.sampled_from(["win10", "win7"]))
    # logged on (most PCs) / profile present but not loaded / no profile at all
    operator = draw(st.sampled_from([True, True, True, False, None]))
    machine: Tree = {}
    user: Tree = {}
    roots = machine_roots(arch)
    _draw_zone_actions(draw, machine, user, roots)
    _draw_zone_maps(draw, machine, user, roots)
    _draw_addons(draw, machine, user, roots)
    _draw_edge(draw, machine, user, roots)
    files = _draw_registrations(draw, machine, user, arch)
    return {
        "arch": arch,
        "os": family,
        "operator": operator,
        "registry": machine,
        "user": user,
        "files": files,
    }
