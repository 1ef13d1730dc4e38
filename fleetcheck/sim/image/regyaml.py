""".reg exports <-> image YAML: ``fleetcheck sim image from-reg`` and ``to-reg``.

:func:`image_yaml_from_reg` writes an image (YAML text) from a real PC's
``reg export`` files; :func:`image_to_reg` writes a live image's registry back
as ``reg export`` would; :func:`spec_trees` gives the trees an image's
``registry:`` sections declare (to compare with an export).
"""

from __future__ import annotations

import re
from pathlib import Path

from fleetcheck.agent.contract import RegValue
from fleetcheck.i18n import T
from fleetcheck.sim.image.live import HostImage
from fleetcheck.sim.image.load import load_spec
from fleetcheck.sim.image.spec import ImageSpec, RegistrySpec, encode_value
from fleetcheck.sim.regimport import (
    SID_PATTERN,
    RegFile,
    RegImportError,
    Trees,
    apply_reg,
    format_reg,
    locate,
    walk,
)
from fleetcheck.sim.regtree import KeyNode

DEFAULT_USER_SID = "S-1-5-21-1000000000-1000000000-1000000000-1001"
OS_BASES = {"win10": "win10-compliant", "win11": "win11-compliant", "win7": "win7-compliant"}
_NT = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"
_PLACEHOLDER_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def yaml_scalar(value: str | int) -> str:
    """One YAML scalar that the image loader reads back as exactly ``value``.

    Text is single-quoted when every character is printable, otherwise
    double-quoted with ``\\xXX`` / ``\\uXXXX`` escapes for the rest (control
    characters, format characters, an unpaired surrogate: YAML forbids them raw).
    """
    if isinstance(value, int):
        return str(value)
    if all(ch.isprintable() for ch in value):
        return "'" + value.replace("'", "''") + "'"
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + '"'


def _yaml_value(value: RegValue) -> str:
    if value.t == "SZ" and isinstance(value.v, str):
        return yaml_scalar(value.v)
    if value.t == "DWORD" and isinstance(value.v, int):
        return str(value.v)
    if value.t == "MULTI_SZ" and isinstance(value.v, list):
        return "[" + ", ".join(yaml_scalar(item) for item in value.v) + "]"
    inner = (
        "[" + ", ".join(yaml_scalar(item) for item in value.v) + "]"
        if isinstance(value.v, list)
        else yaml_scalar(value.v)
    )
    return f"{{t: {value.t}, v: {inner}}}"


def _registry_yaml(node: KeyNode, indent: str) -> list[str]:
    """``'path': {values}`` lines for every key that has values or no subkeys."""
    lines: list[str] = []
    for path, key in walk(node, "", 0, (id(node),)):
        if (not path and not key.values) or (path and not key.values and key.subkeys):
            continue
        head = f"{indent}{yaml_scalar(path.lstrip(chr(92)))}:"
        if not key.values:
            lines.append(head + " {}")
            continue
        lines.append(head)
        for name, value in sorted(key.values.values(), key=lambda nv: nv[0].lower()):
            lines.append(f"{indent}  {yaml_scalar(name)}: {_yaml_value(value)}")
    return lines


def _text_of(node: KeyNode, path: str, name: str) -> str | None:
    key = node.find(path)
    value = key.get(name) if key is not None else None
    return value.v if value is not None and isinstance(value.v, str) else None


_Fields = dict[str, tuple[str | int | None, str]]


def _version_from_export(hklm: KeyNode, fields: _Fields) -> None:
    """``build`` and ``version`` from Windows NT\\CurrentVersion, when the export has them."""
    build_text = _text_of(hklm, _NT, "CurrentBuild") or _text_of(hklm, _NT, "CurrentBuildNumber")
    if not build_text or not build_text.strip().isdigit():
        return
    build = int(build_text)
    nt = hklm.find(_NT)
    major = nt.get("CurrentMajorVersionNumber") if nt is not None else None
    minor = nt.get("CurrentMinorVersionNumber") if nt is not None else None
    if major is not None and minor is not None:
        version = f"{major.v}.{minor.v}.{build}"
    elif build >= 10240:  # Windows 10/11 kept CurrentVersion at "6.3"
        version = f"10.0.{build}"
    else:
        version = f"{_text_of(hklm, _NT, 'CurrentVersion') or '6.1'}.{build}"
    fields["build"] = (build, f"export: {_NT}\\CurrentBuild")
    fields["version"] = (version, "export: Windows NT\\CurrentVersion")


def _products_from_export(hklm: KeyNode, fields: _Fields) -> None:
    """``caption``, ``edition``, ``ie_version`` and ``edge_version`` from the export."""
    product = _text_of(hklm, _NT, "ProductName")
    if product:
        caption = "Microsoft " + product
        if isinstance(fields["build"][0], int) and fields["build"][0] >= 22000:
            caption = caption.replace("Windows 10", "Windows 11")  # Windows 11 keeps "Windows 10"
        fields["caption"] = (caption, "export: ProductName (WMI's caption may differ in language)")
    edition = _text_of(hklm, _NT, "EditionID")
    if edition:
        fields["edition"] = (edition, "export: EditionID")
    ie = _text_of(hklm, r"SOFTWARE\Microsoft\Internet Explorer", "svcVersion")
    if ie:
        fields["ie_version"] = (ie, "export: Internet Explorer\\svcVersion")
    for edge_key in (EDGE_CLIENT, EDGE_CLIENT.replace("WOW6432Node\\", "")):
        edge = _text_of(hklm, edge_key, "pv")
        if edge:
            fields["edge_version"] = (edge, "export: EdgeUpdate client pv")
            break


def _system_from_export(hklm: KeyNode, fields: _Fields, hostname: str | None) -> str | None:
    """Code pages from SYSTEM\\...\\Nls\\CodePage; the hostname from ComputerName when not given."""
    for set_name in ("CurrentControlSet", "ControlSet001"):
        cp = f"SYSTEM\\{set_name}\\Control\\Nls\\CodePage"
        for field_name, value_name in (("acp", "ACP"), ("oem_cp", "OEMCP")):
            text = _text_of(hklm, cp, value_name)
            if text and text.isdigit():
                fields[field_name] = (int(text), f"export: Nls\\CodePage\\{value_name}")
        found = _text_of(
            hklm, f"SYSTEM\\{set_name}\\Control\\ComputerName\\ComputerName", "ComputerName"
        )
        if found and hostname is None:
            hostname = found
    return hostname


def _os_section(
    hklm: KeyNode, os_name: str, hostname: str | None, arch: str | None
) -> tuple[list[str], str]:
    """The ``os:`` lines (each commented with where its value came from), and the hostname."""
    base = load_spec(OS_BASES[os_name]).os  # the shipped base images' os sections
    fields: _Fields = {
        name: (getattr(base, name), f"{os_name} default")
        for name in ("version", "build", "caption", "edition", "arch", "ps_version",
                     "clr_version", "acp", "oem_cp", "domain", "ie_version", "edge_version")
    }
    _version_from_export(hklm, fields)
    _products_from_export(hklm, fields)
    hostname = _system_from_export(hklm, fields, hostname)
    if arch is not None:
        fields["arch"] = (arch, "--arch")
    elif hklm.find(r"SOFTWARE\WOW6432Node") is not None:
        fields["arch"] = ("x64", "export has SOFTWARE\\WOW6432Node")
    lines = ["os:"]
    for name, (value, origin) in fields.items():
        text = "null" if value is None else yaml_scalar(value)
        lines.append(f"  {name}: {text}  # {origin}")
    lines.insert(1, "  hostname: ${hostname}  # vars: hostname (an office may give each PC its own)")
    return lines, hostname or "REAL-PC01"


EDGE_CLIENT = (
    r"SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{56EB18F8-B008-4CBD-B6D2-8C97FE7E9062}"
)


def image_yaml_from_reg(
    regs: list[RegFile],
    *,
    os_name: str = "win10",
    hostname: str | None = None,
    arch: str | None = None,
    user_sid: str | None = None,
    user: str | None = None,
) -> tuple[str, Trees]:
    """Image YAML text built from .reg files (applied in order), and the trees it holds.

    HKEY_LOCAL_MACHINE becomes ``registry:``; HKEY_CURRENT_USER the profile
    ``user_sid`` (default :data:`DEFAULT_USER_SID`); HKEY_USERS\\<SID>
    (and <SID>_Classes) that SID's profile. Each profile gets a stub (user,
    path from ProfileList when the export has it); the HKCU one — or else the
    first — is the console user, so user checks have an operator.
    """
    if os_name not in OS_BASES:
        raise RegImportError(T(f"未知的系统 {os_name}", f"unknown os {os_name}; use win10, win11 or win7"))
    hkcu = (user_sid or DEFAULT_USER_SID).upper()
    if not SID_PATTERN.match(hkcu):
        raise RegImportError(T(f"SID 无效：{hkcu}", f"not a SID: {hkcu}"))
    trees = Trees()
    uses_hkcu = False
    for reg in regs:
        uses_hkcu = uses_hkcu or any(
            (loc := locate(e.path, f"{reg.name}:{e.line}")) is not None
            and loc.hive == "USER" and loc.sid is None
            for e in reg.entries
        )
        apply_reg(reg, trees, hkcu)
    os_lines, host = _os_section(trees.hklm, os_name, hostname, arch)
    placeholders: set[str] = set()
    body = ["registry:"] + (_registry_yaml(trees.hklm, "  ") or ["  {}"])
    if len(body) == 2 and body[1] == "  {}":
        body = ["registry: {}"]
    profile_lines: list[str] = []
    sids = sorted(trees.users, key=lambda s: (s != hkcu, s))
    domain = None
    for line in os_lines:
        if line.startswith("  domain: ") and not line.startswith("  domain: null"):
            domain = line.split(":", 1)[1].split("#")[0].strip().strip("'")
    for index, sid in enumerate(sids):
        image_path = _text_of(
            trees.hklm, "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\" + sid,
            "ProfileImagePath",
        )
        name = (image_path or "").rstrip("\\").rsplit("\\", 1)[-1] or f"user{sid.rsplit('-', 1)[-1]}"
        path = image_path or f"C:\\Users\\{name}"
        owner = user if (user and sid == hkcu) else f"{domain or host}\\{name}"
        main = index == 0
        origin = "HKEY_CURRENT_USER" if (sid == hkcu and uses_hkcu) else f"HKEY_USERS\\{sid}"
        profile_lines += [
            f"  - sid: {sid}  # from {origin}",
            f"    user: {yaml_scalar(owner)}",
            f"    path: {yaml_scalar(path)}" + ("" if image_path else "  # no ProfileList in the export"),
            "    loaded: true",
            f"    console: {'true' if main else 'false'}"
            + ("  # the operator whose settings the user checks read" if main else ""),
            f"    interactive: {'true' if main else 'false'}",
        ]
        reg_lines = _registry_yaml(trees.users[sid], "      ")
        profile_lines += ["    registry:", *reg_lines] if reg_lines else ["    registry: {}"]
    text_for_scan = "\n".join(body + profile_lines)
    placeholders.update(_PLACEHOLDER_NAME.findall(text_for_scan))
    placeholders.discard("hostname")
    files = sorted({reg.name for reg in regs})
    header = [
        "# Simulated PC built by `fleetcheck sim image from-reg` from a real PC's exported keys:",
        *(f"#   {name}" for name in files),
        "# Rehearse scan, fix and rollback on it (fleetcheck sim serve with an office using it).",
        "# HKEY_LOCAL_MACHINE -> registry:, HKEY_CURRENT_USER / HKEY_USERS\\<SID> -> profiles.",
        "# The os: section is not in a .reg export: values come from the export where it has",
        "# them (commented 'export: ...'), otherwise from the shipped image named after --os.",
        "# Files, certificates' private keys, processes and devices are not in a .reg export;",
        "# add them below (see fleetcheck/sim/image/__init__.py) if the rehearsal needs them.",
        f"description: {yaml_scalar('Real PC from ' + ', '.join(Path(n).name for n in files))}",
        "vars:",
        f"  hostname: {yaml_scalar(host)}",
    ]
    # "${name}" in real data is kept literally: the placeholder resolves to itself.
    header += [f"  {name}: {yaml_scalar('${' + name + '}')}" for name in sorted(placeholders)]
    out = header + os_lines + body
    out += ["profiles:", *profile_lines] if profile_lines else []
    return "\n".join(out) + "\n", trees


def spec_trees(spec: ImageSpec) -> tuple[KeyNode, dict[str, KeyNode]]:
    """HKLM and per-SID trees of exactly what an ImageSpec's ``registry:`` sections declare."""
    def build(registry: RegistrySpec) -> KeyNode:
        root = KeyNode()
        for path, values in registry.items():
            node = root.ensure(path)
            for name, value in values.items():
                node.set(name, encode_value(value))
        return root

    return build(spec.registry), {p.sid.upper(): build(p.registry) for p in spec.profiles}


def image_to_reg(image: HostImage, *, loaded_only: bool = True) -> str:
    """A live image's registry as ``reg export`` would write it (HKLM, then HKEY_USERS\\<SID>).

    As on Windows only loaded user hives are under HKEY_USERS.
    """
    roots: list[tuple[str, KeyNode]] = [("HKEY_LOCAL_MACHINE", image.hklm)]
    for prof in sorted(image.profiles, key=lambda p: p.sid):
        if prof.loaded or not loaded_only:
            roots.append((f"HKEY_USERS\\{prof.sid}", prof.hive))
    return format_reg(roots)
