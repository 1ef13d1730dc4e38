"""The live model of one simulated PC (:class:`HostImage`) and its persisted form.

Mutated by the executor's write actions exactly as agent.ps1 would change the
real PC; :func:`dump_state` / :meth:`HostImage.from_state` persist it.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleetcheck.agent.contract import USER_SID_PREFIXES, OsFacts, RegKey
from fleetcheck.i18n import T
from fleetcheck.sim import wow64
from fleetcheck.sim.image.spec import EndpointSpec, InstallerSpec, image_error
from fleetcheck.sim.regtree import KeyNode, split_path

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
    def from_state(cls, state: dict[str, Any], source: str = "<simulator state>") -> HostImage:
        """Rebuild an image persisted with :meth:`to_state`; ImageError (naming ``source``) when it is not one."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise image_error(source, T(
                f"不是模拟器状态文档（应为格式 {STATE_FORMAT}）",
                f"not a simulator state document (expected format {STATE_FORMAT})",
            ))
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
            raise image_error(source, T(
                f"模拟器状态已损坏（{type(exc).__name__}: {exc}）",
                f"simulator state is damaged ({type(exc).__name__}: {exc})",
            )) from None
        if image.os.arch != "x86":
            link_wow_classes(image.hklm)
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


def wow_links() -> list[tuple[str, str, bool]]:
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
    for alias, target, _always in wow_links():
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


def link_wow_classes(hklm: KeyNode) -> None:
    """Give an x64 image its two registry views: each shared key one node, two paths.

    See :func:`wow_links`. A key that exists under both spellings is merged
    (the target's values win). Shared keys that exist under neither spelling
    are not created, except the two Policies roots.
    """
    for alias, target, always in wow_links():
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



_SURROGATE = re.compile("[\ud800-\udfff]")


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


def dump_state(image: HostImage) -> str:
    """The persisted form (UTF-8 JSON text) of an image."""
    return _escape_surrogates(json.dumps(image.to_state(), ensure_ascii=False, indent=1, sort_keys=True))
