"""Host images: a YAML description of one simulated Windows PC, and its live model.

An image is written by hand, so it is short and forgiving; :func:`instantiate`
turns it into a :class:`HostImage` (registry trees, files, certificate stores,
devices...) that :mod:`fleetcheck.sim.executor` reads and changes exactly as
agent.ps1 would on the real PC.

Image format (every section optional except ``os``)::

    extends: win10-compliant          # start from another image (name in the shipped
                                      # images folder, or a path relative to this file)
    vars:                             # defaults for ${placeholders}
      operator: TRADE\\交易员01
      gateway_cert: "F00504Y0007#0"
    os: {version: 10.0.19045, build: 19045, caption: Microsoft Windows 10 专业版, arch: x64,
         ps_version: "5.1.19041.3803", clr_version: "4.0.30319.42000", acp: 936, oem_cp: 936,
         hostname: "${hostname}", domain: TRADE, ie_version: ..., edge_version: ...,
         pending_reboot: false}
    env: {TEMP: "C:\\Windows\\Temp"}  # machine environment (defaults follow from os.arch)
    registry:                         # HKLM: flat mapping "key path" -> values
      'SOFTWARE\\Policies\\Microsoft\\Edge':
        InternetExplorerIntegrationLevel: 1          # int    -> DWORD
        InternetExplorerIntegrationSiteList: C:\\x   # string -> SZ
        Servers: [a, b]                              # list   -> MULTI_SZ
        Raw: {t: BINARY, v: "AAEC"}                  # any type, contract encoding
        "": default value                            # "" is the key's default value
      'SOFTWARE\\Empty\\Key': {}                     # a key with no values
    activex:                          # sugar: CLSID registration + control file
      "{33BBBFD1-0A97-4339-9032-F68F19CB3030}":
        {name: CertEnroll Control, file: "%SystemRoot%\\Downloaded Program Files\\JITCertEnroll.ocx",
         version: 2.0.4.8, view: 32, codebase: https://biz.sccc.com/JITCertEnroll.cab}
    uninstall:                        # sugar: ...\\CurrentVersion\\Uninstall\\<key>
      ePass2003: {view: 32, DisplayName: ..., DisplayVersion: ..., Publisher: ...}
    files:
      'C:\\ProgramData\\fleetcheck\\sites.xml': {content: "<site-list ...>"}   # text (UTF-8)
      'C:\\x\\y.dll': {version: 1.2.3.4, product_version: 1.2.3.4, size: 123456}
      'C:\\x\\z.bin': {content_b64: "AAEC"}
    profiles:
      - sid: S-1-5-21-...-1013
        user: TRADE\\交易员01
        path: C:\\Users\\交易员01
        loaded: true                  # hive under HKEY_USERS
        console: true                 # Win32_ComputerSystem.UserName
        interactive: true             # owns an explorer.exe
        registry: {...}               # this user's hive (HKU\\<SID>), same form as above
        files: {'{profile}\\AppData\\...': {...}}   # or paths relative to the profile
        certificates:                 # turned into real X.509 by fleetcheck.sim.certgen
          - {cn: "${gateway_cert}", days_left: 200, kind: file, private_key: true,
             store: registry, issuer: SCCC Gateway CA (simulated),
             subject: {O: 深圳某某证券股份有限公司, OU: 交易部, C: CN}}
    usb_devices: ['USB\\VID_096E&PID_0807\\5&2A3F1C0&0&2', 'USB\\VID_096E&PID_0807&MI_00\\6&...',
                  {id: 'USB\\VID_096E&PID_0807\\5&2A3F1C0&0&1', present: false}]   # a phantom
    processes: [{name: TradeClient.exe, user: TRADE\\交易员01}]
    tcp: {"biz.sccc.com:443": {reachable: true, latency_ms: 35}}
    installers:                       # what run_installer of a path does
      '\\\\fileserver\\soft\\ePass2003-Setup.exe':
        {exit_code: 0, duration_ms: 20000, registry: {...}, uninstall: {...}, files: {...}}
    registry_import:                  # real registry data (fleetcheck.sim.regimport), in order,
      - {file: pc07-ie.reg, profile: "${operator_sid}"}          # before registry: above;
      - {hive: NTUSER.DAT.xz, mount: user, profile: "${operator_sid}"}   # paths relative to
      - {hive: SOFTWARE, mount: 'HKLM\\SOFTWARE'}                # this file

Overlays (``extends``): the child is merged into its parent. Mappings merge
key by key, case-insensitively (Windows names are); a ``null`` deletes: a
registry key path set to ``null`` removes that key and everything below it,
a value set to ``null`` removes the value, a file / uninstall entry / tcp
endpoint set to ``null`` disappears. ``profiles`` merge by ``sid``; every
other list (usb_devices, processes, certificates) is replaced as a whole.

Placeholders: ``${name}`` in any string or mapping key is replaced, as plain
text (never evaluated), by ``vars`` given to :func:`instantiate`, falling back
to the image's own ``vars:``. An unknown placeholder is an error.

Registry views: paths are literal, exactly like the contract (a 64-bit
process's spelling). An x64 image has Windows' two views
(:mod:`fleetcheck.sim.wow64`): redirected keys are separate trees under
``WOW6432Node``; each shared key (``SOFTWARE\\Policies``,
``...\\CurrentVersion\\Policies``, ``ProfileList``, ``SystemCertificates``, ...)
is one node seen under both ``SOFTWARE\\X`` and ``SOFTWARE\\WOW6432Node\\X``, and
``SOFTWARE\\Classes\\WOW6432Node`` is ``SOFTWARE\\WOW6432Node\\Classes``; the
loader links them (and merges a key written under both spellings). ``view: 32``
sugar (activex, uninstall) lands where the redirector puts a 32-bit write:
``WOW6432Node`` for a redirected key, the shared key itself for a shared one,
the native path on x86.

Certificates (``days_left`` relative to the ``now`` given to instantiate) are
stored the way Windows stores them: a serialized element (DER in property
0x20, key-provider info in property 2 — software CSP for ``kind: file``, the
token CSP for ``kind: hardware``, none when ``private_key: false``) in
``HKU\\<SID>\\Software\\Microsoft\\SystemCertificates\\My\\Certificates\\<THUMBPRINT>``
value ``Blob`` (``store: registry``) or in the file
``{profile}\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\<THUMBPRINT>``
(``store: appdata``).

The loader also writes what Windows itself keeps in the registry and the agent
reads: ``ProfileList\\<SID>\\ProfileImagePath`` for every profile, and
``Internet Explorer\\svcVersion`` / Edge's ``pv`` from ``os``.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fleetcheck.agent.contract import USER_SID_PREFIXES, OsFacts, RegKey, RegValue
from fleetcheck.sim import certgen, wow64

IMAGES_DIR = Path(__file__).resolve().parent / "images"
STATE_FORMAT = "fleetcheck-sim-state/1"
CERT_STORE_KEY = r"Software\Microsoft\SystemCertificates\My\Certificates"
APPDATA_CERT_DIR = r"AppData\Roaming\Microsoft\SystemCertificates\My\Certificates"
# Below a user's Roaming AppData folder: the file-based physical store of CurrentUser\My.
PERSONAL_STORE_SUBDIR = r"Microsoft\SystemCertificates\My\Certificates"
# In a user hive: where Windows keeps the user's known folders (value AppData, REG_EXPAND_SZ).
USER_SHELL_FOLDERS_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders"
DEFAULT_APPDATA = r"%USERPROFILE%\AppData\Roaming"
# agent.ps1's $MachineWideVariables: the only %VARS% the agent expands in a user's folder.
MACHINE_WIDE_VARIABLES = ("SystemDrive", "SystemRoot", "windir", "ProgramData", "ALLUSERSPROFILE", "PUBLIC")
# Windows 10 (build 10240) and later list not-connected devices in Win32_PnPEntity.
FIRST_WIN10_BUILD = 10240
CM_PROB_PHANTOM = 45
PROFILE_LIST_KEY = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList"
EDGE_CLIENT_KEY = (
    r"SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{56EB18F8-B008-4CBD-B6D2-8C97FE7E9062}"
)
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_EXTENDS_DEPTH = 8


class ImageError(ValueError):
    """An image that cannot be loaded; the message names the file and what to fix."""


# --------------------------------------------------------------------------- the YAML model


class _Spec(BaseModel):
    # Hand-written YAML says `DisplayVersion: 7.62` or `version: 2.0`: a number
    # where text is meant is taken as text.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class TypedValue(_Spec):
    """A registry value with an explicit type, in the contract's encoding."""

    t: Literal["SZ", "EXPAND_SZ", "MULTI_SZ", "DWORD", "QWORD", "BINARY", "NONE"]
    v: int | str | list[str]


ValueSpec = TypedValue | int | str | list[str]
RegistrySpec = dict[str, dict[str, ValueSpec]]


class OsSpec(_Spec):
    version: str
    build: int
    caption: str
    edition: str | None = None
    arch: Literal["x86", "x64", "arm64"] = "x64"
    ps_version: str
    clr_version: str
    acp: int = 936
    oem_cp: int = 936
    hostname: str
    domain: str | None = None
    ie_version: str | None = None
    edge_version: str | None = None
    pending_reboot: bool = False


class FileSpec(_Spec):
    """A file: version info for binaries, content (UTF-8 text or base64) for data files."""

    version: str | None = None
    product_version: str | None = None
    size: int | None = Field(default=None, ge=0)
    content: str | None = None
    content_b64: str | None = None


class CertificateSpec(_Spec):
    cn: str
    days_left: float = 200
    issuer: str = certgen.DEFAULT_CA_NAME
    kind: Literal["file", "hardware"] = "file"
    private_key: bool = True
    store: Literal["registry", "appdata"] = "registry"
    subject: dict[str, str] = Field(default_factory=dict)

    @field_validator("subject")
    @classmethod
    def _known_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(certgen.SUBJECT_ATTRIBUTES))
        if unknown:
            raise ValueError(
                f"unknown subject attribute(s) {', '.join(unknown)}; "
                f"use {', '.join(certgen.SUBJECT_ATTRIBUTES)}"
            )
        return value


class UsbDeviceSpec(_Spec):
    """A device instance Windows knows; ``present: false`` is a phantom (not connected)."""

    id: str
    present: bool = True


class ProfileSpec(_Spec):
    sid: str = Field(pattern=r"^S-1-[0-9-]+$")
    user: str | None = None
    path: str
    # User Shell Folders\AppData (REG_EXPAND_SZ) in this user's hive, e.g.
    # 'D:\Redirected\%USERNAME%\AppData\Roaming' or '\\fs01\profiles$\%USERNAME%\AppData';
    # default %USERPROFILE%\AppData\Roaming, as Windows writes it.
    appdata: str | None = None
    loaded: bool = False
    console: bool = False
    interactive: bool = False
    registry: RegistrySpec = Field(default_factory=dict)
    files: dict[str, FileSpec] = Field(default_factory=dict)
    certificates: list[CertificateSpec] = Field(default_factory=list)


class ActiveXSpec(_Spec):
    name: str
    file: str
    version: str
    product_version: str | None = None
    view: Literal[32, 64] = 32
    codebase: str | None = None


class UninstallSpec(_Spec):
    model_config = ConfigDict(
        extra="allow", coerce_numbers_to_str=True
    )  # any further value: Publisher, InstallLocation...
    view: Literal[32, 64] = 64
    DisplayName: str
    DisplayVersion: str | None = None
    Publisher: str | None = None


class ProcessSpec(_Spec):
    name: str
    pid: int | None = None
    user: str | None = None  # a SID or a profile's DOMAIN\\name


class EndpointSpec(_Spec):
    reachable: bool = True
    latency_ms: int = Field(default=20, ge=0)
    refused: bool = False  # unreachable by RST (fast) rather than by timeout


class InstallerSpec(_Spec):
    exit_code: int = 0
    duration_ms: int = Field(default=30000, ge=0)
    registry: RegistrySpec = Field(default_factory=dict)
    uninstall: dict[str, UninstallSpec] = Field(default_factory=dict)
    files: dict[str, FileSpec] = Field(default_factory=dict)
    activex: dict[str, ActiveXSpec] = Field(default_factory=dict)


class RegistryImportSpec(_Spec):
    """Real registry data taken into the image; see :mod:`fleetcheck.sim.regimport`.

    ``file``: a .reg file (``reg export``, UTF-16, or REGEDIT4); its
    HKEY_CURRENT_USER keys go to ``profile``, HKEY_USERS\\<SID> to that profile.
    ``hive``: a saved hive (regf, may be .xz) replacing the key at ``mount``:
    ``user`` (the profile's whole hive), ``classes`` (its Software\\Classes,
    i.e. UsrClass.dat), ``user\\<key>``, or ``HKLM\\<key>`` (e.g. HKLM\\SOFTWARE);
    with ``key``, only that key of the hive (and its tree) is mounted there.
    Imports apply in order, before the image's own ``registry:`` and profiles'
    ``registry:`` (which may patch them).
    """

    file: str | None = None
    hive: str | None = None
    mount: str | None = None
    profile: str | None = None
    key: str | None = None  # take only this key of the hive (e.g. Software\\...\\Internet Settings)


class ImageSpec(_Spec):
    """One simulated PC as written in YAML (after ``extends`` and placeholders)."""

    description: str | None = None
    vars: dict[str, str | int] = Field(default_factory=dict)
    os: OsSpec
    env: dict[str, str] = Field(default_factory=dict)
    registry: RegistrySpec = Field(default_factory=dict)
    activex: dict[str, ActiveXSpec] = Field(default_factory=dict)
    uninstall: dict[str, UninstallSpec] = Field(default_factory=dict)
    files: dict[str, FileSpec] = Field(default_factory=dict)
    profiles: list[ProfileSpec] = Field(default_factory=list)
    usb_devices: list[str | UsbDeviceSpec] = Field(default_factory=list)
    processes: list[ProcessSpec] = Field(default_factory=list)
    tcp: dict[str, EndpointSpec] = Field(default_factory=dict)
    installers: dict[str, InstallerSpec] = Field(default_factory=dict)
    registry_import: list[RegistryImportSpec] = Field(default_factory=list)
    # Folders that exist with nothing in them (a file's folders always exist).
    dirs: list[str] = Field(default_factory=list)
    # A Group Policy "Turn on Script Execution" (MachinePolicy scope); it
    # overrides powershell.exe -ExecutionPolicy for script files (-File).
    execution_policy_gpo: Literal["AllSigned", "RemoteSigned", "Unrestricted", "Bypass", "Restricted"] | None = None


SCHEMA_FILE = Path(__file__).resolve().parent / "image.schema.json"


def image_schema() -> dict[str, Any]:
    """JSON Schema of the image format, for editors and docs.

    Shipped as ``fleetcheck/sim/image.schema.json`` (a test keeps it in sync);
    point an editor at it with ``# yaml-language-server: $schema=<path>``.
    It describes one file: an overlay (``extends``) may leave out what its
    parent provides, so ``os`` is only required after merging.
    """
    schema: dict[str, Any] = _as_file_schema(ImageSpec.model_json_schema())
    schema["title"] = "fleetcheck simulated PC image"
    schema["properties"]["extends"] = {"type": "string", "description": "image this one overlays"}
    return schema


def _as_file_schema(node: Any) -> Any:
    """Loosen the merged-image schema into one for a single file, as the loader reads it.

    Overlays omit what the parent has (no ``required``), delete with ``null``;
    any scalar may be a ``${placeholder}`` string, and numbers stand for text
    (``DisplayVersion: 7.62``). Unknown keys stay errors: that is what an
    editor should catch.
    """
    if isinstance(node, list):
        return [_as_file_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_file_schema(v) for k, v in node.items() if k != "required"}
    kind = out.get("type")
    if kind in ("integer", "number", "boolean"):
        out["type"] = [kind, "string"]
    elif kind == "string" and "pattern" in out:
        out["pattern"] = f"(?:{out['pattern']})|\\$\\{{"  # or a placeholder
    elif kind == "string" and "enum" not in out:
        out["type"] = ["string", "number"]
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = {"anyOf": [out["additionalProperties"], {"type": "null"}]}
    if isinstance(out.get("properties"), dict) and "title" in out:
        out["properties"] = {
            name: {"anyOf": [sub, {"type": "null"}]} for name, sub in out["properties"].items()
        }
    return out


# --------------------------------------------------------------------------- registry tree


def split_path(path: str) -> list[str]:
    """``'A\\\\B\\\\'`` -> ``['A', 'B']``; empty parts (doubled or edge backslashes) dropped."""
    return [part for part in path.split("\\") if part]


class KeyNode:
    """A mutable registry key: case-insensitive names, original spelling kept."""

    __slots__ = ("subkeys", "values")

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, RegValue]] = {}
        self.subkeys: dict[str, tuple[str, KeyNode]] = {}

    def find(self, path: str | list[str]) -> KeyNode | None:
        node: KeyNode | None = self
        for part in split_path(path) if isinstance(path, str) else path:
            entry = node.subkeys.get(part.lower()) if node is not None else None
            if entry is None:
                return None
            node = entry[1]
        return node

    def ensure(self, path: str | list[str]) -> KeyNode:
        node = self
        for part in split_path(path) if isinstance(path, str) else path:
            entry = node.subkeys.get(part.lower())
            if entry is None:
                entry = (part, KeyNode())
                node.subkeys[part.lower()] = entry
            node = entry[1]
        return node

    def detach(self, path: str) -> KeyNode | None:
        """Remove the key at ``path`` (and its tree); return it, or None when absent."""
        parts = split_path(path)
        if not parts:
            return None
        parent = self.find(parts[:-1])
        if parent is None:
            return None
        entry = parent.subkeys.pop(parts[-1].lower(), None)
        return entry[1] if entry else None

    def get(self, name: str) -> RegValue | None:
        entry = self.values.get(name.lower())
        return entry[1] if entry else None

    def set(self, name: str, value: RegValue) -> None:
        old = self.values.get(name.lower())
        self.values[name.lower()] = (old[0] if old else name, value)

    def delete(self, name: str) -> RegValue | None:
        entry = self.values.pop(name.lower(), None)
        return entry[1] if entry else None

    def to_regkey(self, depth: int, skip: frozenset[tuple[int, str]] = frozenset()) -> RegKey:
        """This key as the contract's RegKey, subkeys down to ``depth``.

        ``skip`` holds (id of parent node, lower-case name) links not to follow:
        the WOW6432Node alias when persisting, so the shared tree is written once.
        """
        values = {name: value for name, value in self.values.values()}
        if depth <= 0:
            return RegKey(values=values, truncated=bool(self.subkeys))
        subkeys = {
            name: node.to_regkey(depth - 1, skip)
            for low, (name, node) in self.subkeys.items()
            if (id(self), low) not in skip
        }
        # As agent.ps1: a tree is truncated when any key below it is, so a
        # partial tree never passes for a complete one at the top.
        truncated = any(sub.truncated for sub in subkeys.values())
        return RegKey(values=values, subkeys=subkeys, truncated=truncated)

    def count(self, depth: int) -> int:
        """How many keys ``to_regkey(depth)`` opens (for the cost model)."""
        if depth <= 0:
            return 1
        return 1 + sum(node.count(depth - 1) for _name, node in self.subkeys.values())

    @classmethod
    def from_regkey(cls, key: RegKey) -> KeyNode:
        node = cls()
        for name, value in key.values.items():
            node.values[name.lower()] = (name, value)
        for name, sub in key.subkeys.items():
            node.subkeys[name.lower()] = (name, cls.from_regkey(sub))
        return node


def encode_value(spec: ValueSpec) -> RegValue:
    """The short YAML forms of a registry value, as the contract's RegValue.

    >>> encode_value(1).t, encode_value("x").t, encode_value(["a"]).t
    ('DWORD', 'SZ', 'MULTI_SZ')
    """
    if isinstance(spec, TypedValue):
        value = spec.v
        if spec.t in ("DWORD", "QWORD"):
            if not isinstance(value, int):
                raise ValueError(f"{spec.t} needs an integer, got {value!r}")
            limit = 2**32 if spec.t == "DWORD" else 2**64
            value = value % limit  # negatives as Windows stores them: unsigned
        elif spec.t in ("BINARY", "NONE"):
            if not isinstance(value, str):
                raise ValueError(f"{spec.t} needs base64 text")
            base64.b64decode(value, validate=True)
        elif spec.t == "MULTI_SZ":
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list):
                raise ValueError("MULTI_SZ needs a list of strings")
        elif not isinstance(value, str):
            value = str(value)
        return RegValue(t=spec.t, v=value)
    if isinstance(spec, bool):
        return RegValue(t="DWORD", v=int(spec))
    if isinstance(spec, int):
        if 0 <= spec < 2**32:
            return RegValue(t="DWORD", v=spec)
        if -(2**31) <= spec < 0:
            return RegValue(t="DWORD", v=spec % 2**32)
        return RegValue(t="QWORD", v=spec % 2**64)
    if isinstance(spec, list):
        return RegValue(t="MULTI_SZ", v=[str(item) for item in spec])
    return RegValue(t="SZ", v=str(spec))


# --------------------------------------------------------------------------- live model


@dataclass
class SimFile:
    path: str
    content: bytes | None = None
    size: int | None = None
    version: str | None = None
    product_version: str | None = None

    @property
    def length(self) -> int:
        if self.content is not None:
            return len(self.content)
        return self.size if self.size is not None else 0

    def read(self) -> bytes:
        """The bytes a reader sees; binaries declared by size only read as an 'MZ' stub."""
        if self.content is not None:
            return self.content
        return (b"MZ" + b"\x00" * max(0, self.length - 2))[: self.length]


@dataclass
class UserProfile:
    sid: str
    user: str | None
    path: str
    loaded: bool
    console: bool
    interactive: bool
    hive: KeyNode = field(default_factory=KeyNode)


@dataclass
class ProcessEntry:
    name: str
    pid: int
    sid: str | None = None


@dataclass
class HostImage:
    """One live simulated PC. Mutated by write actions; persisted by SimulatedHost."""

    name: str
    os: OsFacts
    env: dict[str, str]
    hklm: KeyNode
    profiles: list[UserProfile]
    files: dict[str, SimFile]  # lower-case path -> file
    usb_devices: list[str]  # connected device instances
    processes: list[ProcessEntry]
    tcp: dict[str, EndpointSpec]  # "host:port" lower-case
    installers: dict[str, InstallerSpec]  # lower-case path
    now: datetime
    scheduled_reboots: list[dict[str, Any]] = field(default_factory=list)
    # Instances Windows remembers that are not connected (Win32_PnPEntity lists
    # them on Windows 10/11 with ConfigManagerErrorCode 45).
    usb_phantoms: list[str] = field(default_factory=list)
    dirs: dict[str, str] = field(default_factory=dict)  # lower-case path -> path, every folder
    execution_policy_gpo: str | None = None
    scheduled_tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # task name -> what it does
    dir_created: dict[str, str] = field(default_factory=dict)  # lower-case folder -> ISO time, when known

    # ------------------------------------------------------------ lookups
    def profile(self, sid: str) -> UserProfile | None:
        low = sid.lower()
        return next((p for p in self.profiles if p.sid.lower() == low), None)

    def loaded_user_profiles(self) -> list[UserProfile]:
        """Profiles whose hive is under HKEY_USERS and that the agent answers for."""
        return [
            p
            for p in self.profiles
            if p.loaded and p.sid.upper().startswith(USER_SID_PREFIXES)
        ]

    def file(self, path: str) -> SimFile | None:
        return self.files.get(normalize_file_path(path))

    def put_file(self, sim_file: SimFile) -> None:
        self.files[normalize_file_path(sim_file.path)] = sim_file
        self.make_dir(_parent_path(sim_file.path))

    def remove_file(self, path: str) -> SimFile | None:
        """The file goes; its folder stays (as on Windows), even when now empty."""
        return self.files.pop(normalize_file_path(path), None)

    def make_dir(self, path: str) -> None:
        """The folder and every folder above it exist from now on."""
        while path and normalize_file_path(path) not in self.dirs:
            self.dirs[normalize_file_path(path)] = path.rstrip("\\")
            parent = _parent_path(path)
            if parent == path:
                break
            path = parent

    def dir_exists(self, path: str) -> bool:
        return normalize_file_path(path) in self.dirs

    def remove_dir(self, path: str) -> None:
        """Directory.Delete(path, recursive=True): the folder, its files and subfolders."""
        folder = normalize_file_path(path)
        for key in [k for k in self.files if k.startswith(folder + "\\")]:
            del self.files[key]
        for key in [k for k in self.dirs if k == folder or k.startswith(folder + "\\")]:
            del self.dirs[key]
            self.dir_created.pop(key, None)

    def machine_env(self) -> dict[str, str]:
        return dict(self.env)

    def user_env(self, prof: UserProfile) -> dict[str, str]:
        env = dict(self.env)
        name = (prof.user or prof.sid).split("\\")[-1]
        env.update(
            {
                "USERPROFILE": prof.path,
                "APPDATA": prof.path + r"\AppData\Roaming",
                "LOCALAPPDATA": prof.path + r"\AppData\Local",
                "USERNAME": name,
                "TEMP": prof.path + r"\AppData\Local\Temp",
                "TMP": prof.path + r"\AppData\Local\Temp",
            }
        )
        return env

    def all_processes(self) -> list[ProcessEntry]:
        """System processes, the image's own, and one explorer.exe per interactive user."""
        result = [ProcessEntry(name, pid) for name, pid in _SYSTEM_PROCESSES]
        result.extend(self.processes)
        for index, prof in enumerate(self.profiles):
            if prof.interactive and prof.loaded:
                result.append(ProcessEntry("explorer.exe", 3000 + 4 * index, prof.sid))
        return result

    # ------------------------------------------------------------ persistence
    def to_state(self) -> dict[str, Any]:
        """A JSON-ready deep copy of everything mutable (for state_dir and snapshots)."""
        skip = frozenset(_alias_ids(self.hklm))
        return {
            "format": STATE_FORMAT,
            "name": self.name,
            "now": self.now.isoformat(),
            "os": self.os.model_dump(mode="json"),
            "env": dict(self.env),
            "hklm": self.hklm.to_regkey(64, skip).model_dump(mode="json"),
            "profiles": [
                {
                    "sid": p.sid,
                    "user": p.user,
                    "path": p.path,
                    "loaded": p.loaded,
                    "console": p.console,
                    "interactive": p.interactive,
                    "hive": p.hive.to_regkey(64).model_dump(mode="json"),
                }
                for p in self.profiles
            ],
            "files": {
                f.path: {
                    "content_b64": base64.b64encode(f.content).decode("ascii")
                    if f.content is not None
                    else None,
                    "size": f.size,
                    "version": f.version,
                    "product_version": f.product_version,
                }
                for f in sorted(self.files.values(), key=lambda f: f.path.lower())
            },
            "usb_devices": list(self.usb_devices),
            "usb_phantoms": list(self.usb_phantoms),
            "processes": [{"name": p.name, "pid": p.pid, "sid": p.sid} for p in self.processes],
            "tcp": {k: v.model_dump() for k, v in sorted(self.tcp.items())},
            "installers": {
                k: v.model_dump(mode="json") for k, v in sorted(self.installers.items())
            },
            "scheduled_reboots": copy.deepcopy(self.scheduled_reboots),
            "dirs": sorted(self.dirs.values(), key=str.lower),
            "execution_policy_gpo": self.execution_policy_gpo,
            "scheduled_tasks": copy.deepcopy(self.scheduled_tasks),
            "dir_created": dict(sorted(self.dir_created.items())),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HostImage:
        """Rebuild an image persisted with :meth:`to_state`; ImageError when it is not one."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ImageError(f"not a simulator state document (expected format {STATE_FORMAT})")
        try:
            image = cls(
                name=state["name"],
                os=OsFacts.model_validate(state["os"]),
                env=dict(state["env"]),
                hklm=KeyNode.from_regkey(RegKey.model_validate(state["hklm"])),
                profiles=[
                    UserProfile(
                        sid=p["sid"],
                        user=p["user"],
                        path=p["path"],
                        loaded=p["loaded"],
                        console=p["console"],
                        interactive=p["interactive"],
                        hive=KeyNode.from_regkey(RegKey.model_validate(p["hive"])),
                    )
                    for p in state["profiles"]
                ],
                files={},
                usb_devices=list(state["usb_devices"]),
                processes=[ProcessEntry(p["name"], p["pid"], p["sid"]) for p in state["processes"]],
                tcp={k: EndpointSpec.model_validate(v) for k, v in state["tcp"].items()},
                installers={
                    k: InstallerSpec.model_validate(v) for k, v in state["installers"].items()
                },
                now=datetime.fromisoformat(state["now"]),
                scheduled_reboots=list(state.get("scheduled_reboots", [])),
                usb_phantoms=list(state.get("usb_phantoms", [])),
                execution_policy_gpo=state.get("execution_policy_gpo"),
                scheduled_tasks=dict(state.get("scheduled_tasks", {})),
                dir_created=dict(state.get("dir_created", {})),
            )
            for folder in state.get("dirs", []):
                image.make_dir(folder)
            for path, f in state["files"].items():
                content = (
                    base64.b64decode(f["content_b64"]) if f["content_b64"] is not None else None
                )
                image.put_file(
                    SimFile(path, content, f["size"], f["version"], f["product_version"])
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"simulator state is damaged ({type(exc).__name__}: {exc})") from None
        if image.os.arch != "x86":
            _link_wow_classes(image.hklm)
        return image


_SYSTEM_PROCESSES = (
    ("System", 4),
    ("smss.exe", 280),
    ("csrss.exe", 372),
    ("wininit.exe", 444),
    ("winlogon.exe", 480),
    ("services.exe", 540),
    ("lsass.exe", 556),
    ("svchost.exe", 660),
    ("svchost.exe", 744),
    ("spoolsv.exe", 1204),
    ("WmiPrvSE.exe", 2216),
    ("wsmprovhost.exe", 2488),
)


def normalize_file_path(path: str) -> str:
    """Windows paths compare case-insensitively and ignore doubled/trailing backslashes."""
    text = path.strip().replace("/", "\\")
    prefix = "\\\\" if text.startswith("\\\\") else ""
    return prefix + "\\".join(split_path(text)).lower()


def _parent_path(path: str) -> str:
    """The folder holding ``path``, spelled as given (``C:\\x\\y.dll`` -> ``C:\\x``; ``C:`` -> ``C:``)."""
    text = path.rstrip("\\")
    cut = text.rfind("\\")
    if cut <= 0 or (text.startswith("\\\\") and text.count("\\") <= 3):
        return text  # a drive, or \\server\share: the top
    return text[:cut]


def parent_dir(path: str) -> str:
    return normalize_file_path(path).rsplit("\\", 1)[0] if "\\" in normalize_file_path(path) else ""


def _wow_links() -> list[tuple[str, str, bool]]:
    """(alias path, target path, always create) of every one-node-two-paths link on x64.

    * ``SOFTWARE\\WOW6432Node\\Classes`` is ``SOFTWARE\\Classes\\WOW6432Node`` and
      ``SOFTWARE\\Classes\\WOW6432Node\\{AppId,PROTOCOLS,Typelib}`` are
      ``SOFTWARE\\Classes\\{...}``: the symbolic links of "Registry Keys Affected by
      WOW64", section "Windows on Windows 64 (WOW64) Symbolic Links"
      (learn.microsoft.com/en-us/windows/win32/winprog64/shared-registry-keys).
      The simulator's node for the first one is the WOW6432Node\\Classes spelling.
    * every shared key of that page's table (Windows 7+ column) below SOFTWARE,
      outside Classes: ``SOFTWARE\\WOW6432Node\\X`` is ``SOFTWARE\\X`` ("one physical
      copy of the key is mapped into each logical view"). SOFTWARE\\Policies and
      ...\\CurrentVersion\\Policies exist on every Windows, so they are always made.
    """
    links: list[tuple[str, str, bool]] = [
        (r"SOFTWARE\Classes\WOW6432Node", r"SOFTWARE\WOW6432Node\Classes", True)
    ]
    for name in ("AppId", "PROTOCOLS", "Typelib"):
        links.append(
            (r"SOFTWARE\WOW6432Node\Classes" + "\\" + name, r"SOFTWARE\Classes" + "\\" + name, False)
        )
    always = {r"software\policies", r"software\microsoft\windows\currentversion\policies"}
    for root in wow64.shared_hklm_roots():
        alias = "SOFTWARE\\WOW6432Node\\" + root.split("\\", 1)[1]
        links.append((alias, root, root.lower() in always))
    return links


def _alias_ids(hklm: KeyNode) -> list[tuple[int, str]]:
    """The (id of parent node, lower-case name) of every WOW alias link (x64 images).

    Persistence skips these, so each shared tree is written once, under its target.
    """
    result: list[tuple[int, str]] = []
    for alias, target, _always in _wow_links():
        parts = split_path(alias)
        parent = hklm.find(parts[:-1])
        node = hklm.find(target)
        if parent is None or node is None:
            continue
        entry = parent.subkeys.get(parts[-1].lower())
        if entry is not None and entry[1] is node:
            result.append((id(parent), parts[-1].lower()))
    return result


def _merge_nodes(target: KeyNode, source: KeyNode) -> None:
    for low, (name, value) in source.values.items():
        target.values.setdefault(low, (name, value))
    for low, (name, sub) in source.subkeys.items():
        existing = target.subkeys.get(low)
        if existing is None:
            target.subkeys[low] = (name, sub)
        elif existing[1] is not sub:
            _merge_nodes(existing[1], sub)


def _link_wow_classes(hklm: KeyNode) -> None:
    """Give an x64 image its two registry views: each shared key one node, two paths.

    See :func:`_wow_links`. A key that exists under both spellings is merged
    (the target's values win). Shared keys that exist under neither spelling
    are not created, except the two Policies roots.
    """
    for alias, target, always in _wow_links():
        parts = split_path(alias)
        alias_entry = None
        parent_existing = hklm.find(parts[:-1])
        if parent_existing is not None:
            alias_entry = parent_existing.subkeys.get(parts[-1].lower())
        if not always and alias_entry is None and hklm.find(target) is None:
            continue
        node = hklm.ensure(target)
        parent = hklm.ensure(parts[:-1])
        entry = parent.subkeys.get(parts[-1].lower())
        if entry is not None and entry[1] is not node:
            _merge_nodes(node, entry[1])
        spelt = entry[0] if entry else parts[-1]
        parent.subkeys[parts[-1].lower()] = (spelt, node)


# --------------------------------------------------------------------------- loading


@lru_cache(maxsize=64)
def _parse_yaml_cached(text: str, source: str) -> Any:
    # the bounded loader: aliases, depth, sizes and value errors are file:line:col messages
    from fleetcheck.yamlfile import PolicyError, parse_data

    try:
        return parse_data(text, source)
    except PolicyError as exc:
        lines_zh, lines_en = [], []
        for issue in exc.issues:
            where = issue.file + "".join(f":{n}" for n in (issue.line, issue.col) if n is not None)
            lines_zh.append(f"{where}: 不是有效的 YAML：{issue.message.zh.removeprefix('YAML 语法错误：')}")
            lines_en.append(f"{where}: not valid YAML: {issue.message.en.removeprefix('YAML syntax error: ')}")
        raise ImageError("\n".join(lines_zh + lines_en)) from None


def _read_raw(source: str | Path) -> tuple[dict[str, Any], str, Path | None, str]:
    """(raw mapping, name for messages, its directory for relative ``extends``, text)."""
    path: Path | None = None
    if isinstance(source, Path):
        path = source
    elif "\n" not in source and (
        source.endswith((".yaml", ".yml")) or _is_shipped_image(source)
    ):
        path = Path(source) if source.endswith((".yaml", ".yml")) else IMAGES_DIR / f"{source}.yaml"
    if path is not None:
        try:
            text = path.read_bytes()[: 20 * 1024 * 1024].decode("utf-8-sig")
        except OSError as exc:
            raise ImageError(
                f"{path}: cannot read the image ({exc.strerror}); check the name"
            ) from None
        except ValueError:  # not UTF-8, or a NUL in the path
            raise ImageError(f"{path}: not UTF-8 text; save the image as UTF-8") from None
        name = str(path)
    else:
        text, name = str(source), "<image text>"
    raw = _parse_yaml_cached(text, name)
    if not isinstance(raw, dict):
        raise ImageError(f"{name}: an image must be a YAML mapping (os:, registry:, ...)")
    return copy.deepcopy(raw), name, path.parent if path is not None else None, text


def shipped_images() -> list[str]:
    """Names of the images shipped in fleetcheck/sim/images (without .yaml)."""
    return sorted(p.stem for p in IMAGES_DIR.glob("*.yaml"))


def _resolve_extends(ref: str, base_dir: Path | None, name: str) -> Path:
    if ref.endswith((".yaml", ".yml")):
        candidate = (base_dir or Path.cwd()) / ref
    else:
        candidate = (base_dir or IMAGES_DIR) / f"{ref}.yaml"
        if not _is_file(candidate):
            candidate = IMAGES_DIR / f"{ref}.yaml"
    if not _is_file(candidate):
        if len(ref) > 80:
            raise ImageError(f"{name}: extends '{ref[:79]}…', which is not an image; check the name")
        raise ImageError(
            f"{name}: extends '{ref}', which is not an image (no {candidate}); check the name"
        )
    return candidate


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _merge_registry(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for path, values in child.items():
        low = "\\".join(split_path(str(path))).lower()
        matches = [k for k in result if "\\".join(split_path(str(k))).lower() == low]
        if values is None:  # delete the key and its whole tree
            for k in list(result):
                klow = "\\".join(split_path(str(k))).lower()
                if klow == low or klow.startswith(low + "\\"):
                    del result[k]
            continue
        if not matches:
            result[path] = {k: v for k, v in (values or {}).items() if v is not None}
            continue
        merged = _merge_mapping(result[matches[0]] or {}, values)
        result[matches[0]] = merged
    return result


def _merge_mapping(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Case-insensitive key-by-key merge; None deletes; nested mappings merge."""
    result = dict(base)
    lower = {str(k).lower(): k for k in result}
    for key, value in child.items():
        existing = lower.get(str(key).lower())
        if value is None:
            if existing is not None:
                del result[existing]
            continue
        if existing is not None and isinstance(result[existing], dict) and isinstance(value, dict):
            if str(key).lower() in ("registry",):
                result[existing] = _merge_registry(result[existing], value)
            else:
                result[existing] = _merge_mapping(result[existing], value)
        elif existing is not None and str(key).lower() == "profiles":
            result[existing] = _merge_profiles(result[existing], value)
        else:
            if existing is not None:
                del result[existing]
            result[key] = value
            lower[str(key).lower()] = key
    return result


def _merge_profiles(base: Any, child: Any) -> Any:
    if not isinstance(base, list) or not isinstance(child, list):
        return child
    result = list(base)
    for entry in child:
        sid = str(entry.get("sid", "")).lower() if isinstance(entry, dict) else None
        index = next(
            (
                i
                for i, b in enumerate(result)
                if isinstance(b, dict) and str(b.get("sid", "")).lower() == sid
            ),
            None,
        )
        if index is None:
            result.append(entry)
        else:
            result[index] = _merge_mapping(result[index], entry)
    return result


def load_raw(source: str | Path, _depth: int = 0) -> tuple[dict[str, Any], str]:
    """The image as one mapping, its ``extends`` chain merged (placeholders untouched)."""
    raw, name, _sources = _load_chain(source, _depth)
    return raw, name


def _anchor_imports(raw: dict[str, Any], base_dir: Path | None) -> None:
    """Make ``registry_import`` paths relative to the file that names them (before merging)."""
    entries = raw.get("registry_import")
    if base_dir is None or not isinstance(entries, list):
        return
    for entry in entries:
        if isinstance(entry, dict):
            for key in ("file", "hive"):
                if isinstance(entry.get(key), str) and entry[key]:
                    entry[key] = str(base_dir / entry[key])


def _registry_imports(spec: ImageSpec, name: str) -> tuple[KeyNode, dict[str, KeyNode]]:
    """HKLM and the user hives (by upper-case SID) built from ``registry_import``."""
    if not spec.registry_import:
        return KeyNode(), {}
    from fleetcheck.sim import regimport  # builds on this module

    try:
        trees = regimport.build_trees(spec.registry_import, [p.sid for p in spec.profiles], name)
    except regimport.RegImportError as exc:
        raise ImageError(str(exc)) from None
    return trees.hklm, trees.users


def _load_chain(
    source: str | Path, depth: int = 0
) -> tuple[dict[str, Any], str, list[tuple[str, str]]]:
    """Merged mapping, name, and the (name, text) of every file in the chain, child first."""
    raw, name, base_dir, text = _read_raw(source)
    _anchor_imports(raw, base_dir)
    parent_ref = raw.pop("extends", None)
    if parent_ref is None:
        return raw, name, [(name, text)]
    if depth >= _MAX_EXTENDS_DEPTH:
        raise ImageError(f"{name}: 'extends' nests deeper than {_MAX_EXTENDS_DEPTH} (a cycle?)")
    if not isinstance(parent_ref, str):
        raise ImageError(f"{name}: 'extends' must be an image name")
    parent, _, sources = _load_chain(_resolve_extends(parent_ref, base_dir, name), depth + 1)
    try:
        merged = _merge_mapping(parent, raw)
    except (AttributeError, TypeError):  # e.g. a registry key given as text, not a mapping
        raise ImageError(
            f"{name}: cannot be laid over '{parent_ref}': a section that should be a mapping is not"
        ) from None
    return merged, name, [(name, text), *sources]


def _is_shipped_image(name: str) -> bool:
    try:
        return (IMAGES_DIR / f"{name}.yaml").is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


@lru_cache(maxsize=64)
def _round_trip(text: str) -> Any:
    from fleetcheck.yamlfile import parse_text

    doc = parse_text(text, "<image>")  # bounded; only used to find a line for a message
    return doc.data if doc.loaded else None


def _locate(loc: tuple[Any, ...], sources: list[tuple[str, str]]) -> str | None:
    """``file:line:col`` of the deepest part of ``loc`` that one of the files spells out.

    The merged image has no positions; each file of the ``extends`` chain is
    searched (child first) for the same path, keys compared case-insensitively.
    """
    best: tuple[int, str] | None = None
    for name, text in sources:
        node = _round_trip(text)
        found = 0
        position: tuple[int, int] | None = None
        for part in loc:
            if isinstance(node, dict):
                key = next((k for k in node if str(k).lower() == str(part).lower()), None)
                if key is None:
                    break
                line_col = node.lc.key(key) if hasattr(node, "lc") else None
                node = node[key]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                line_col = node.lc.item(part) if hasattr(node, "lc") else None
                node = node[part]
            else:
                break
            found += 1
            if line_col is not None:
                position = (line_col[0] + 1, line_col[1] + 1)
        if position is not None and (best is None or found > best[0]):
            best = (found, f"{name}:{position[0]}:{position[1]}")
    return best[1] if best else None


def _substitute(node: Any, values: dict[str, str], name: str) -> Any:
    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ImageError(
                f"{name}: placeholder ${{{key}}} has no value; pass it in vars or add it under 'vars:'"
            )
        return values[key]

    if isinstance(node, str):
        node = utf16_string(node)
        return _PLACEHOLDER.sub(repl, node) if "${" in node else node
    if isinstance(node, dict):
        return {
            (_substitute(k, values, name) if isinstance(k, str) else str(k)): _substitute(
                v, values, name
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_substitute(item, values, name) for item in node]
    return node


def _describe_errors(exc: ValidationError, name: str, sources: list[tuple[str, str]]) -> str:
    lines = []
    for err in exc.errors()[:20]:
        parts = tuple(p for p in err["loc"] if not str(p).startswith(("function-", "union[")))
        where = _locate(parts, sources) or name
        loc = ".".join(str(p) for p in parts)
        lines.append(f"{where}: {loc or '(top)'}: {err['msg']}")
    more = exc.error_count() - 20
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)


def load_spec(source: str | Path, vars: dict[str, Any] | None = None) -> ImageSpec:
    """Load, merge and validate an image; placeholders filled from ``vars`` then ``vars:``."""
    raw, name, sources = _load_chain(source)
    defaults = raw.get("vars") or {}
    if not isinstance(defaults, dict):
        raise ImageError(f"{name}: 'vars' must be a mapping of name: value")
    values = {str(k): str(v) for k, v in defaults.items()}
    values.update({str(k): str(v) for k, v in (vars or {}).items()})
    raw = _substitute(raw, values, name)
    try:
        return ImageSpec.model_validate(raw)
    except ValidationError as exc:
        raise ImageError(_describe_errors(exc, name, sources)) from None


def _default_env(os_spec: OsSpec) -> dict[str, str]:
    env = {
        "SystemDrive": "C:",
        "SystemRoot": r"C:\Windows",
        "windir": r"C:\Windows",
        "ProgramFiles": r"C:\Program Files",
        "CommonProgramFiles": r"C:\Program Files\Common Files",
        "ProgramData": r"C:\ProgramData",
        "ALLUSERSPROFILE": r"C:\ProgramData",
        "PUBLIC": r"C:\Users\Public",
        "COMPUTERNAME": os_spec.hostname.upper(),
        "USERDOMAIN": os_spec.domain or os_spec.hostname.upper(),
        # WinRM runs the agent as the connecting admin: these are the admin's.
        "USERNAME": "Administrator",
        "USERPROFILE": r"C:\Users\Administrator",
        "APPDATA": r"C:\Users\Administrator\AppData\Roaming",
        "LOCALAPPDATA": r"C:\Users\Administrator\AppData\Local",
        "TEMP": r"C:\Users\Administrator\AppData\Local\Temp",
        "TMP": r"C:\Users\Administrator\AppData\Local\Temp",
    }
    if os_spec.arch != "x86":
        env["ProgramFiles(x86)"] = r"C:\Program Files (x86)"
        env["CommonProgramFiles(x86)"] = r"C:\Program Files (x86)\Common Files"
        env["ProgramW6432"] = r"C:\Program Files"
    return env


def expand_env(text: str, env: dict[str, str]) -> str:
    """Expand ``%VAR%`` like ExpandEnvironmentVariables: case-insensitive, unknown left as is."""
    lower = {k.lower(): v for k, v in env.items()}

    def repl(match: re.Match[str]) -> str:
        return lower.get(match.group(1).lower(), match.group(0))

    return re.sub(r"%([^%\\]+)%", repl, text)


def _apply_registry(root: KeyNode, spec: RegistrySpec, where: str) -> None:
    for path, values in spec.items():
        node = root.ensure(path)
        for value_name, value in values.items():
            try:
                node.set(value_name, encode_value(value))
            except ValueError as exc:
                raise ImageError(
                    f"{where}: registry '{path}' value '{value_name}': {exc}"
                ) from None


def _view_path(arch: str, view: int, path: str) -> str:
    """Where a key written in the ``view``-bit view of HKLM physically lives.

    The WOW64 registry redirector (:func:`fleetcheck.sim.wow64.physical_path`):
    on x64 a redirected key goes below ``WOW6432Node``, a shared key (e.g.
    ``SOFTWARE\\Policies``) stays where it is; native on x86. The redirected
    Classes subkeys are spelt ``SOFTWARE\\WOW6432Node\\Classes`` (the
    simulator's node for ``SOFTWARE\\Classes\\WOW6432Node``).
    """
    physical = wow64.physical_path(arch, "HKLM", path, 32 if view == 32 else 64)
    parts = split_path(physical)
    if (
        len(parts) >= 3
        and parts[0].lower() == "software"
        and parts[1].lower() == "classes"
        and parts[2].lower() == "wow6432node"
    ):
        return "\\".join([parts[0], parts[2], parts[1], *parts[3:]])
    return physical


def _file_from_spec(path: str, spec: FileSpec) -> SimFile:
    content: bytes | None = None
    if spec.content is not None:
        content = spec.content.encode("utf-8")
    elif spec.content_b64 is not None:
        content = base64.b64decode(spec.content_b64)
    size = spec.size if content is None else None
    if content is None and size is None:
        size = 262_144 if spec.version else 0
    return SimFile(path, content, size, spec.version, spec.product_version)


def apply_software(
    image: HostImage,
    registry: RegistrySpec,
    uninstall: dict[str, UninstallSpec],
    files: dict[str, FileSpec],
    activex: dict[str, ActiveXSpec],
    where: str,
) -> None:
    """Add registry keys, Uninstall entries, files and ActiveX registrations to an image.

    Used at load time and by ``run_installer`` (an installer's declared effect).
    """
    arch = image.os.arch
    _apply_registry(image.hklm, registry, where)
    for key_name, entry in uninstall.items():
        path = _view_path(
            arch,
            entry.view,
            r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall" + "\\" + key_name,
        )
        node = image.hklm.ensure(path)
        for value_name, value in entry.model_dump(exclude={"view"}, exclude_none=True).items():
            node.set(value_name, encode_value(value))
    for path, fspec in files.items():
        full = expand_env(path, image.env)
        image.put_file(_file_from_spec(full, fspec))
    for clsid, ax in activex.items():
        base = _view_path(arch, ax.view, r"SOFTWARE\Classes\CLSID" + "\\" + clsid)
        key = image.hklm.ensure(base)
        key.set("", RegValue(t="SZ", v=ax.name))
        server = image.hklm.ensure(base + r"\InprocServer32")
        full = expand_env(ax.file, image.env)
        server.set("", RegValue(t="SZ", v=full))
        server.set("ThreadingModel", RegValue(t="SZ", v="Apartment"))
        image.put_file(SimFile(full, None, 262_144, ax.version, ax.product_version or ax.version))
        if ax.codebase:
            unit = image.hklm.ensure(
                _view_path(
                    arch,
                    ax.view,
                    r"SOFTWARE\Microsoft\Code Store Database\Distribution Units" + "\\" + clsid,
                )
            )
            unit.set("Installer", RegValue(t="SZ", v="MSICD"))
            unit.set("SystemComponent", RegValue(t="DWORD", v=0))
            image.hklm.ensure(
                _view_path(
                    arch,
                    ax.view,
                    r"SOFTWARE\Microsoft\Code Store Database\Distribution Units"
                    + "\\"
                    + clsid
                    + r"\DownloadInformation",
                )
            ).set("CODEBASE", RegValue(t="SZ", v=ax.codebase))
            image.hklm.ensure(
                _view_path(
                    arch,
                    ax.view,
                    r"SOFTWARE\Microsoft\Code Store Database\Distribution Units"
                    + "\\"
                    + clsid
                    + r"\InstalledVersion",
                )
            ).set("", RegValue(t="SZ", v=ax.version.replace(".", ",")))


def _profile_file_path(prof: ProfileSpec, path: str) -> str:
    if path.lower().startswith("{profile}"):
        return prof.path + path[len("{profile}") :]
    if re.match(r"^[A-Za-z]:|^\\\\", path):
        return path
    return prof.path + "\\" + path.lstrip("\\")


_SURROGATE = re.compile("[\ud800-\udfff]")
_UNRESOLVED_VARIABLE = re.compile(r"%[^%\\]+%")


def utf16_string(text: str) -> str:
    """A Windows string (any sequence of UTF-16 code units) in its one Python spelling.

    Windows allows unpaired surrogates in registry strings and process names;
    agent.ps1 writes every code unit as ``\\uXXXX``, and ``json.loads`` joins a
    valid pair into one code point and keeps a lone surrogate as it is. An
    image can say either (YAML ``"\\ud800"`` in double quotes is a lone
    surrogate): a valid pair written as two escapes is joined here the same way.
    """
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _escape_surrogates(json_text: str) -> str:
    """JSON text (``ensure_ascii=False``) with lone surrogates as ``\\uXXXX``: valid UTF-8."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)


def user_appdata_raw(prof: UserProfile) -> str | None:
    """User Shell Folders\\AppData of the user's hive as stored (not expanded)."""
    node = prof.hive.find(USER_SHELL_FOLDERS_KEY)
    value = node.get("AppData") if node is not None else None
    if value is None or not isinstance(value.v, str) or value.t not in ("SZ", "EXPAND_SZ"):
        return None
    return value.v


def user_appdata_dir(image: HostImage, prof: UserProfile) -> str:
    """Where Windows keeps this user's Roaming AppData (FOLDERID_RoamingAppData).

    The User Shell Folders value expanded in the user's own environment
    (the shell does that at logon), the default when there is none.
    Raises ImageError when a variable is not the user's.
    """
    raw = user_appdata_raw(prof)
    text = raw if raw is not None and raw.strip() else DEFAULT_APPDATA
    folder = expand_env(text, image.user_env(prof)).strip()
    if _UNRESOLVED_VARIABLE.search(folder):
        raise ImageError(f"profile {prof.sid}: AppData folder {raw!r} has a variable the user does not have")
    return folder


def user_personal_store_dir(image: HostImage, prof: UserProfile) -> str:
    """The folder of the user's file-based Personal store (``CurrentUser\\My``):
    ``%APPDATA%\\Microsoft\\SystemCertificates\\My\\Certificates`` with the user's
    (possibly redirected) AppData. Where a certificate imported for that user lands."""
    return user_appdata_dir(image, prof).rstrip("\\") + "\\" + PERSONAL_STORE_SUBDIR


def agent_appdata(image: HostImage, prof: UserProfile) -> str | None:
    """The AppData folder as agent.ps1's Resolve-UserAppData reports it (Profile.appdata).

    Only %USERPROFILE%, %USERNAME% (the user's) and the machine-wide variables
    are expanded; None when another variable is left, or the hive is not loaded.
    """
    if not prof.loaded or not prof.path:
        return None
    raw = user_appdata_raw(prof)
    if raw is None or not raw.strip():
        return prof.path + r"\AppData\Roaming"
    env = {"USERPROFILE": prof.path}
    if prof.user:
        env["USERNAME"] = prof.user.rsplit("\\", 1)[-1]
    for name in MACHINE_WIDE_VARIABLES:
        machine = next((v for k, v in image.env.items() if k.lower() == name.lower()), None)
        if machine:
            env[name] = machine
    text = expand_env(raw, env)
    return None if _UNRESOLVED_VARIABLE.search(text) else text.strip()


def _install_certificate(image: HostImage, prof: UserProfile, spec: CertificateSpec) -> str:
    leaf = certgen.LeafSpec(
        cn=spec.cn, days_left=spec.days_left, issuer=spec.issuer, subject=dict(spec.subject)
    )
    der = certgen.leaf_certificate(leaf, image.now).public_bytes(Encoding.DER)
    thumb = certgen.thumbprint(der)
    blob = certgen.store_blob(der, spec.kind, spec.private_key)
    if spec.store == "registry":
        key = prof.hive.ensure(CERT_STORE_KEY + "\\" + thumb)
        key.set("Blob", RegValue(t="BINARY", v=base64.b64encode(blob).decode("ascii")))
    else:
        image.put_file(SimFile(user_personal_store_dir(image, prof) + "\\" + thumb, blob))
    return thumb


def build_image(spec: ImageSpec, name: str, now: datetime) -> HostImage:
    """Turn a validated spec into a live image (certificates made for ``now``)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    o = spec.os
    env = _default_env(o)
    env.update(spec.env)
    imported_hklm, imported_users = _registry_imports(spec, name)
    image = HostImage(
        name=name,
        os=OsFacts(
            version=o.version,
            build=o.build,
            caption=o.caption,
            edition=o.edition,
            arch=o.arch,
            ps_version=o.ps_version,
            clr_version=o.clr_version,
            acp=o.acp,
            oem_cp=o.oem_cp,
            hostname=o.hostname,
            domain=o.domain,
            pending_reboot=o.pending_reboot,
            ie_version=o.ie_version,
            edge_version=o.edge_version,
        ),
        env=env,
        hklm=imported_hklm,
        profiles=[],
        files={},
        usb_devices=[d for d in spec.usb_devices if isinstance(d, str)]
        + [d.id for d in spec.usb_devices if not isinstance(d, str) and d.present],
        usb_phantoms=[d.id for d in spec.usb_devices if not isinstance(d, str) and not d.present],
        processes=[],
        tcp={k.strip().lower(): v for k, v in spec.tcp.items()},
        installers={normalize_file_path(expand_env(k, env)): v for k, v in spec.installers.items()},
        now=now,
        execution_policy_gpo=spec.execution_policy_gpo,
    )
    image.make_dir(expand_env(r"%SystemRoot%\Temp", env))  # always there on Windows
    for folder in spec.dirs:
        image.make_dir(expand_env(folder, env))
    apply_software(image, spec.registry, spec.uninstall, spec.files, spec.activex, name)
    if o.ie_version:
        ie = image.hklm.ensure(r"SOFTWARE\Microsoft\Internet Explorer")
        if ie.get("svcVersion") is None:
            ie.set("svcVersion", RegValue(t="SZ", v=o.ie_version))
            ie.set("Version", RegValue(t="SZ", v="9.11." + o.ie_version.split(".", 2)[-1]))
    if o.edge_version:
        edge_key = (
            EDGE_CLIENT_KEY if o.arch != "x86" else EDGE_CLIENT_KEY.replace("WOW6432Node\\", "")
        )
        image.hklm.ensure(edge_key).set("pv", RegValue(t="SZ", v=o.edge_version))
    for pspec in spec.profiles:
        prof = UserProfile(
            pspec.sid, pspec.user, pspec.path, pspec.loaded, pspec.console, pspec.interactive
        )
        if pspec.sid.upper() in imported_users:
            prof.hive = imported_users[pspec.sid.upper()]
        image.profiles.append(prof)
        plist = image.hklm.ensure(PROFILE_LIST_KEY + "\\" + pspec.sid)
        plist.set("ProfileImagePath", RegValue(t="EXPAND_SZ", v=pspec.path))
        prof.hive.ensure(CERT_STORE_KEY)  # every real user hive has an (often empty) My store
        # ...and its known folders; Windows writes AppData unexpanded (REG_EXPAND_SZ).
        prof.hive.ensure(USER_SHELL_FOLDERS_KEY).set(
            "AppData", RegValue(t="EXPAND_SZ", v=pspec.appdata or DEFAULT_APPDATA)
        )
        _apply_registry(prof.hive, pspec.registry, f"{name}: profile {pspec.sid}")
        for fpath, fspec in pspec.files.items():
            full = expand_env(_profile_file_path(pspec, fpath), image.user_env(prof))
            image.put_file(_file_from_spec(full, fspec))
        for cert in pspec.certificates:
            _install_certificate(image, prof, cert)
        # Every used profile has its file-based Personal store folder (CryptoAPI makes it on first
        # use), so importing a certificate adds a file there and removing it leaves the folder.
        try:
            image.make_dir(user_personal_store_dir(image, prof))
        except ImageError:
            pass  # an AppData that uses a variable this user lacks: nothing to create
    for index, proc in enumerate(spec.processes):
        owner = None
        if proc.user:
            owner = next(
                (
                    p.sid
                    for p in image.profiles
                    if proc.user.lower() in (p.sid.lower(), (p.user or "").lower())
                ),
                None,
            )
            if owner is None:
                raise ImageError(
                    f"{name}: process {proc.name} runs as unknown user {proc.user}; add that profile"
                )
        image.processes.append(ProcessEntry(proc.name, proc.pid or 5000 + 4 * index, owner))
    if o.arch != "x86":
        _link_wow_classes(image.hklm)
    return image


def instantiate(
    source: str | Path, vars: dict[str, Any] | None = None, now: datetime | None = None
) -> HostImage:
    """Load an image (shipped name, path, or YAML text) and build a live PC from it.

    ``now`` is required in spirit: certificates' ``days_left`` count from it.
    (None means 2026-01-01 UTC, so pure code never reads the clock.)

    >>> img = instantiate("win10-compliant", {"hostname": "TRADE-PC07"},
    ...                   datetime(2026, 3, 1, tzinfo=timezone.utc))
    >>> img.os.hostname
    'TRADE-PC07'
    """
    spec = load_spec(source, vars)
    when = now or datetime(2026, 1, 1, tzinfo=timezone.utc)
    name = (
        source.stem
        if isinstance(source, Path)
        else (Path(source).stem if "\n" not in str(source) else "image")
    )
    return build_image(spec, name, when)


def dump_state(image: HostImage) -> str:
    """The persisted form (UTF-8 JSON text) of an image."""
    return _escape_surrogates(json.dumps(image.to_state(), ensure_ascii=False, indent=1, sort_keys=True))
