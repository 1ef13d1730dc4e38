"""Carry out a ProbeRequest against a HostImage, exactly as agent.ps1 would on the PC.

``execute(image, request) -> (ProbeResponse, WorkReport)``. Reads first, then
write actions in request order (as the agent does), each answering on its own:
one failing query or action never loses the others.

Semantics (the contract's, made concrete; checked line by line against
agent.ps1 — where this module and agent.ps1 disagree, agent.ps1 is right):

* registry paths are literal; names compare case-insensitively; an absent key
  answers ``status="absent"``. ``per_user`` answers once per loaded user hive
  (SIDs ``S-1-5-21-*`` / ``S-1-12-*``) with ``sid`` set — for ``hive="HKLM"``
  that repeats the machine read per user, as the agent does; ``hive="HKU"``
  without ``per_user`` reads below ``HKEY_USERS`` itself (the path starts with
  a SID). ``depth`` limits subkeys; a key at the limit that has subkeys is
  ``truncated``, and so is every key above it.
* ``follow``: for each named SZ/EXPAND_SZ value that is not blank: ``%VARS%``
  expanded, trimmed, and a leading quoted part kept (``"C:\\x.exe" /s`` ->
  ``C:\\x.exe``); a FileInfo; ``follow_content`` adds the content (capped).
* ``%VARS%`` are always the agent's own environment, i.e. the WinRM account's
  (``%APPDATA%`` is the admin's!): user files are addressed with ``{profile}``,
  the user's ProfileImagePath, in per-user queries only.
* file / dir: a missing file answers ``status="absent"`` with
  ``file.exists=false``; a missing folder answers ``absent`` with no files.
* pnp: DeviceIDs starting ``USB\\VID_<vendor>`` (``&MI_`` children included,
  as Win32_PnPEntity lists them): the connected ones (ConfigManagerErrorCode 0)
  and, on Windows 10/11 (build >= 10240), the phantoms Windows remembers
  (``Present`` false, code 45 CM_PROB_PHANTOM); before Windows 10 the class has
  no ``Present`` property (None) and lists connected devices only.
* ``{appdata}``: the user's Roaming AppData as agent.ps1's Resolve-UserAppData
  gives it (:func:`fleetcheck.sim.image.agent_appdata`); refused, with the
  agent's messages, when unresolvable, on a share (second hop) or on a drive
  the session lacks.
* strings hold any UTF-16 code unit (a lone surrogate from a registry value
  stays one); the response is JSON with ``\\uXXXX`` escapes, as the agent writes.
* tcp: image ``tcp:`` entries; an unknown endpoint does not connect and costs
  the whole ``timeout_ms`` (accounted, never slept); ``error`` says why, as the
  agent's does, with ``status="ok"``.
* facts: profiles in ProfileList order (by SID); process owners only for
  explorer.exe; ``pending_reboot`` also from the registry markers the agent reads.
* actions: ``before_*`` captured before any change, ``changed`` only when
  something changed; the texts of errors are the agent's (``MSG_*`` below).

Cost model (:class:`WorkReport`): what the agent would spend on the host, summed
into the response's ``elapsed_ms``. PowerShell start-up (~0.5-2 s) is charged by
the server, not here. Figures are typical of a Windows 10 PC, a little slow
for Windows 7:

============================  ===========================================
WMI query                     60 ms each: OS, ComputerSystem, Process
                              (always), PnPEntity (per pnp query)
registry key opened           0.4 ms;  value read 0.05 ms
file stat / version read      0.3 ms / 2 ms; content 0.05 ms per KiB
directory listing             1 ms + per file as above
TCP test                      the endpoint's latency, refused 1 ms, else
                              timeout_ms
JSON output                   0.3 ms per KiB (string building in PS 2.0)
write: value / key / file     2 ms / 2 ms + 0.4 per key / 5 ms
import_pfx                    2,500 ms (scheduled task + certutil)
remove_cert                   5 ms;  schedule_reboot 150 ms (shutdown.exe)
run_installer                 the installer's ``duration_ms``
============================  ===========================================
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic_core import PydanticSerializationError

from fleetcheck.agent.contract import (
    Action,
    ActionResult,
    Answer,
    DeleteKey,
    DeleteValue,
    DirQuery,
    FileInfo,
    FileQuery,
    ImportPfx,
    OsFacts,
    PnpDevice,
    PnpQuery,
    ProbeRequest,
    ProbeResponse,
    ProcessInfo,
    Profile,
    Query,
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
from fleetcheck.sim import certgen
from fleetcheck.sim.image import (
    APPDATA_CERT_DIR,
    CERT_STORE_KEY,
    CM_PROB_PHANTOM,
    FIRST_WIN10_BUILD,
    HostImage,
    KeyNode,
    SimFile,
    UserProfile,
    agent_appdata,
    apply_software,
    expand_env,
    normalize_file_path,
    parent_dir,
    user_appdata_raw,
)

AGENT_VERSION = "1"

COST_WMI_MS = 60.0
COST_KEY_OPEN_MS = 0.4
COST_VALUE_MS = 0.05
COST_FILE_STAT_MS = 0.3
COST_FILE_VERSION_MS = 2.0
COST_CONTENT_PER_KIB_MS = 0.05
COST_DIR_MS = 1.0
COST_TCP_REFUSED_MS = 1.0
COST_JSON_PER_KIB_MS = 0.3
COST_SET_VALUE_MS = 2.0
COST_DELETE_KEY_MS = 2.0
COST_WRITE_FILE_MS = 5.0
COST_IMPORT_PFX_MS = 2500.0
COST_REMOVE_CERT_MS = 5.0
COST_REBOOT_MS = 150.0

# Messages as agent.ps1 (and .NET under it, on English Windows) word them.
# Python should match the marks, not whole texts: a Chinese Windows localizes
# the .NET part ("指定的网络密码不正确。").
MSG_NO_SESSION_MARK = "has no interactive session"
MSG_NO_SESSION = (
    "the user {sid} has no interactive session (no explorer.exe): import not possible now"
)
MSG_IMPORT_FAILED = "import in the user session failed: ERROR "
MSG_BAD_PASSWORD = MSG_IMPORT_FAILED + "The specified network password is not correct."
MSG_NO_PRIVATE_KEY = MSG_IMPORT_FAILED + "the PFX holds no certificate with a private key"
MSG_BAD_PFX = MSG_IMPORT_FAILED + "Cannot find the requested object."
MSG_HIVE_NOT_LOADED = "the user hive of {sid} is not loaded (user not logged on)"
MSG_TCP_REFUSED = "No connection could be made because the target machine actively refused it"
MSG_APPDATA_UNRESOLVED = (
    "the AppData folder of {sid} cannot be resolved (User Shell Folders\\AppData uses a variable of that user)"
)
MSG_APPDATA_SHARE = (
    "the AppData folder of {sid} is on a network share ({path}): a WinRM session cannot read it (second hop)"
)
MSG_APPDATA_NO_DRIVE = (
    "the AppData folder of {sid} is on drive {root}, which this session does not have (a network drive of that user?)"
)


@dataclass
class WorkReport:
    """The simulator's accounting of agent time, by category (see the module docstring)."""

    lines: dict[str, list[float]] = field(default_factory=dict)  # category -> [count, ms]

    def charge(self, category: str, ms: float, count: int = 1) -> None:
        line = self.lines.setdefault(category, [0, 0.0])
        line[0] += count
        line[1] += ms

    @property
    def total_ms(self) -> float:
        return sum(ms for _count, ms in self.lines.values())

    def summary(self) -> str:
        """One line per category, largest first: ``wmi: 4 x = 240.0 ms``."""
        rows = sorted(self.lines.items(), key=lambda item: -item[1][1])
        return "\n".join(f"{cat}: {int(c)} x = {ms:.1f} ms" for cat, (c, ms) in rows)


# --------------------------------------------------------------------------- reads


def _file_info(
    image: HostImage, path: str, want_content: bool, limit: int, work: WorkReport
) -> FileInfo:
    sim = image.file(path)
    work.charge("file_stat", COST_FILE_STAT_MS)
    if sim is None:
        return FileInfo(path=path, exists=False)
    if sim.version or sim.product_version:
        work.charge("file_version", COST_FILE_VERSION_MS)
    content = None
    truncated = False
    if want_content:
        data = sim.read()
        truncated = len(data) > limit
        data = data[:limit]
        work.charge("file_content", COST_CONTENT_PER_KIB_MS * (len(data) / 1024))
        content = base64.b64encode(data).decode("ascii")
    return FileInfo(
        path=path,
        exists=True,
        size=sim.length,
        version=sim.version,
        product_version=sim.product_version,
        content=content,
        content_truncated=truncated,
    )


def host_path(text: str, env: dict[str, str]) -> str:
    """agent.ps1's Expand-HostPath: expand, trim, keep a leading quoted part.

    ``"C:\\x.exe" /s`` -> ``C:\\x.exe``; an unterminated quote is just dropped.
    """
    text = expand_env(text, env).strip()
    if text.startswith('"'):
        end = text.find('"', 1)
        text = text[1:end] if end > 0 else text[1:]
    return text


_FS_REDIRECT_EXEMPT = ("catroot\\", "catroot2\\", "drivers\\etc\\", "logfiles\\", "spool\\")


def wow64_host_path(text: str, env: dict[str, str]) -> str:
    """agent.ps1's ConvertTo-Wow64Path: a path as a 32-bit process on 64-bit Windows sees it.

    No ``ProgramFiles(x86)`` in the environment (32-bit Windows): :func:`host_path`.
    """
    if not env.get("ProgramFiles(x86)"):
        return host_path(text, env)
    text = re.sub(r"(?i)%ProgramFiles%", "%ProgramFiles(x86)%", text)
    text = re.sub(r"(?i)%CommonProgramFiles%", "%CommonProgramFiles(x86)%", text)
    text = host_path(text, env)
    windir = env.get("SystemRoot", r"C:\Windows").rstrip("\\")
    system32, sysnative = windir + "\\System32\\", windir + "\\Sysnative\\"
    low = text.lower()
    if low.startswith(sysnative.lower()):
        return system32 + text[len(sysnative):]
    if not low.startswith(system32.lower()):
        return text
    rest = text[len(system32):]
    if rest.lower().startswith(_FS_REDIRECT_EXEMPT):
        return text
    return windir + "\\SysWOW64\\" + rest


def _read_key(
    root: KeyNode,
    query: RegistryQuery,
    image: HostImage,
    env: dict[str, str],
    work: WorkReport,
    sid: str | None,
    path: str,
) -> Answer:
    node = root.find(path)
    work.charge("registry_key", COST_KEY_OPEN_MS)
    if node is None:
        return Answer(id=query.id, sid=sid, status="absent")
    key = node.to_regkey(query.depth)
    opened = node.count(query.depth) - 1
    if opened:
        work.charge("registry_key", COST_KEY_OPEN_MS * opened, opened)
    work.charge("registry_value", COST_VALUE_MS * _count_values(key), _count_values(key))
    followed: dict[str, FileInfo] = {}
    for name in query.follow:
        value = node.get(name)
        if value is None or not isinstance(value.v, str) or value.t not in ("SZ", "EXPAND_SZ"):
            continue
        if not value.v.strip():
            continue
        target = wow64_host_path(value.v, env) if query.follow_wow64 else host_path(value.v, env)
        followed[name] = _file_info(
            image, target, query.follow_content, query.max_content_bytes, work
        )
    return Answer(id=query.id, sid=sid, status="ok", key=key, followed=followed)


def _count_values(key: RegKey) -> int:
    return len(key.values) + sum(_count_values(sub) for sub in key.subkeys.values())


def _answer_registry(image: HostImage, query: RegistryQuery, work: WorkReport) -> list[Answer]:
    env = image.machine_env()  # the agent expands with its own (the WinRM account's) environment
    if query.per_user:
        # One answer per loaded user hive, whatever the hive (as agent.ps1:
        # per_user on HKLM just repeats the machine read for each SID).
        return [
            _read_key(
                prof.hive if query.hive == "HKU" else image.hklm,
                query,
                image,
                env,
                work,
                prof.sid,
                query.path,
            )
            for prof in image.loaded_user_profiles()
        ]
    if query.hive == "HKLM":
        return [_read_key(image.hklm, query, image, env, work, None, query.path)]
    # Below HKEY_USERS itself: the first path part names the hive (a SID).
    parts = [p for p in query.path.split("\\") if p]
    prof = image.profile(parts[0]) if parts else None
    if prof is None or not prof.loaded:
        work.charge("registry_key", COST_KEY_OPEN_MS)
        return [Answer(id=query.id, status="absent")]
    return [_read_key(prof.hive, query, image, env, work, None, "\\".join(parts[1:]))]


def _user_paths(
    image: HostImage, path: str, per_user: bool
) -> list[tuple[str | None, str | None, str | None]] | str:
    """(sid, expanded path, error) triples a file/dir query covers, or one error message.

    ``{profile}`` is the user's ProfileImagePath, ``{appdata}`` the user's Roaming
    AppData as the agent resolves it (an error for that user where the agent
    refuses it); ``%VARS%`` are the agent's own (the WinRM account's), exactly as
    ExpandEnvironmentVariables gives them.
    """
    env = image.machine_env()
    token = next((t for t in ("{profile}", "{appdata}") if path.startswith(t)), None)
    if not per_user:
        if token is not None:
            return f"{token} needs per_user=true"
        return [(None, expand_env(path, env), None)]
    result: list[tuple[str | None, str | None, str | None]] = []
    for prof in image.loaded_user_profiles():
        if token == "{appdata}":
            base, error = _agent_appdata_dir(image, prof)
            if base is None:
                result.append((prof.sid, None, error))
                continue
            user_path = base + path[len(token) :]
        else:
            user_path = prof.path + path[len("{profile}") :] if token else path
        result.append((prof.sid, expand_env(user_path, env), None))
    return result


def _agent_appdata_dir(image: HostImage, prof: UserProfile) -> tuple[str | None, str | None]:
    """agent.ps1's Resolve-QueryPath for ``{appdata}``: (folder, None) or (None, its error)."""
    folder = agent_appdata(image, prof)
    if not folder:
        return None, MSG_APPDATA_UNRESOLVED.format(sid=prof.sid)
    if folder.startswith("\\\\"):
        return None, MSG_APPDATA_SHARE.format(sid=prof.sid, path=folder)
    root = folder[:3] if len(folder) >= 2 and folder[1] == ":" else ""
    if not root or not _drive_exists(image, root):
        return None, MSG_APPDATA_NO_DRIVE.format(sid=prof.sid, root=root)
    return folder, None


def _drive_exists(image: HostImage, root: str) -> bool:
    """Directory.Exists("D:\\") in the WinRM session: the system drive, or a drive holding a file."""
    drive = root[:2].lower()
    if drive == image.env.get("SystemDrive", "C:").lower():
        return True
    return any(key.startswith(drive + "\\") for key in image.files)


def _answer_file(image: HostImage, query: FileQuery, work: WorkReport) -> list[Answer]:
    targets = _user_paths(image, query.path, query.per_user)
    if isinstance(targets, str):
        return [Answer(id=query.id, status="error", error=targets)]
    answers = []
    for sid, path, error in targets:
        if path is None:
            answers.append(Answer(id=query.id, sid=sid, status="error", error=error))
            continue
        info = _file_info(image, path, query.content, query.max_content_bytes, work)
        answers.append(
            Answer(id=query.id, sid=sid, status="ok" if info.exists else "absent", file=info)
        )
    return answers


def _answer_dir(image: HostImage, query: DirQuery, work: WorkReport) -> list[Answer]:
    targets = _user_paths(image, query.path, query.per_user)
    if isinstance(targets, str):
        return [Answer(id=query.id, status="error", error=targets)]
    answers = []
    for sid, path, error in targets:
        if path is None:  # the agent refused this user's path ({appdata})
            answers.append(Answer(id=query.id, sid=sid, status="error", error=error))
            continue
        work.charge("dir_list", COST_DIR_MS)
        folder = normalize_file_path(path)
        members = sorted(
            (f for key, f in image.files.items() if parent_dir(key) == folder),
            key=lambda f: f.path.lower(),
        )
        folder_exists = bool(members) or any(key.startswith(folder + "\\") for key in image.files)
        if not folder_exists:
            answers.append(Answer(id=query.id, sid=sid, status="absent"))
            continue
        infos = [
            _file_info(image, f.path, query.content, query.max_content_bytes, work)
            for f in members[: query.max_files]
        ]
        answers.append(Answer(id=query.id, sid=sid, status="ok", files=infos))
    return answers


def _answer_pnp(image: HostImage, query: PnpQuery, work: WorkReport) -> list[Answer]:
    """Win32_PnPEntity as Windows answers it: phantoms too on Windows 10/11."""
    work.charge("wmi", COST_WMI_MS)
    prefix = f"USB\\VID_{query.vendor_id}".upper()
    win10 = image.os.build >= FIRST_WIN10_BUILD
    present = True if win10 else None  # no Present property before Windows 10
    devices = [
        PnpDevice(device_id=d, present=present, error_code=0)
        for d in image.usb_devices
        if d.upper().startswith(prefix)
    ]
    if win10:
        connected = {d.upper() for d in image.usb_devices}
        devices += [
            PnpDevice(device_id=d, present=False, error_code=CM_PROB_PHANTOM)
            for d in image.usb_phantoms
            if d.upper().startswith(prefix) and d.upper() not in connected
        ]
    return [Answer(id=query.id, status="ok", devices=devices)]


def _answer_tcp(image: HostImage, query: TcpQuery, work: WorkReport) -> list[Answer]:
    endpoint = image.tcp.get(f"{query.host}:{query.port}".lower())
    error: str | None = None
    if endpoint is not None and endpoint.reachable and endpoint.latency_ms <= query.timeout_ms:
        elapsed, connected = endpoint.latency_ms, True
    elif endpoint is not None and endpoint.refused:
        elapsed, connected = int(COST_TCP_REFUSED_MS), False
        error = MSG_TCP_REFUSED
    else:
        elapsed, connected = query.timeout_ms, False
        error = f"no connection within {query.timeout_ms} ms"
    work.charge("tcp", float(elapsed))
    return [Answer(id=query.id, status="ok", error=error, connected=connected, elapsed_ms=elapsed)]


_READERS: dict[str, Callable[[HostImage, Any, WorkReport], list[Answer]]] = {
    "registry": _answer_registry,
    "file": _answer_file,
    "dir": _answer_dir,
    "pnp": _answer_pnp,
    "tcp": _answer_tcp,
}


def _answer(image: HostImage, query: Query, work: WorkReport) -> list[Answer]:
    reader: Callable[[HostImage, Any, WorkReport], list[Answer]] = _READERS[query.kind]
    try:
        return reader(image, query, work)
    except Exception as exc:  # noqa: BLE001 - one failing read never loses the others
        return [Answer(id=query.id, status="error", error=f"{type(exc).__name__}: {exc}")]


# --------------------------------------------------------------------------- writes


class ActionRefused(Exception):
    """An action the agent would refuse; the message is safe to show."""


MAX_TREE_DEPTH = 20  # agent.ps1's $MaxTreeDepth: deeper trees are not deleted (backup incomplete)
MAX_BACKUP_BYTES = 16 * 1024 * 1024  # agent.ps1's $MaxBackupBytes


def _hive_root(image: HostImage, hive: str, sid: str | None, *, write: bool) -> KeyNode | None:
    """The root a write action works under; None when the user hive is not loaded.

    On Windows an unloaded hive is simply not under HKEY_USERS: opening a key
    there finds nothing (deletes change nothing), creating one fails.
    """
    if hive == "HKLM":
        return image.hklm
    if not sid:
        raise ActionRefused("sid is required for HKU")
    prof = image.profile(sid)
    if prof is None or not prof.loaded:
        if write:
            raise ActionRefused(MSG_HIVE_NOT_LOADED.format(sid=sid))
        return None
    return prof.hive


def _require_path(path: str) -> list[str]:
    parts = [p for p in path.split("\\") if p]
    if not parts:
        raise ActionRefused("refusing to delete or replace a hive root (empty path)")
    return parts


def _set_value(image: HostImage, action: SetValue, work: WorkReport) -> ActionResult:
    work.charge("write", COST_SET_VALUE_MS)
    root = _hive_root(image, action.hive, action.sid, write=True)
    assert root is not None
    node = root.find(action.path)
    before = node.get(action.name) if node is not None else None
    if before == action.value:
        return ActionResult(id=action.id, status="ok", changed=False, before_value=before)
    root.ensure(action.path).set(action.name, action.value)
    return ActionResult(id=action.id, status="ok", changed=True, before_value=before)


def _delete_value(image: HostImage, action: DeleteValue, work: WorkReport) -> ActionResult:
    work.charge("write", COST_SET_VALUE_MS)
    root = _hive_root(image, action.hive, action.sid, write=False)
    node = root.find(action.path) if root is not None else None
    before = node.delete(action.name) if node is not None else None
    return ActionResult(id=action.id, status="ok", changed=before is not None, before_value=before)


def _delete_key(image: HostImage, action: DeleteKey, work: WorkReport) -> ActionResult:
    work.charge("write", COST_DELETE_KEY_MS)
    _require_path(action.path)
    root = _hive_root(image, action.hive, action.sid, write=False)
    node = root.find(action.path) if root is not None else None
    if root is None or node is None:
        return ActionResult(id=action.id, status="ok", changed=False)
    tree = node.to_regkey(MAX_TREE_DEPTH)
    if tree.truncated:
        raise ActionRefused(
            f"key tree deeper than {MAX_TREE_DEPTH} levels: not deleted (backup would be incomplete)"
        )
    work.charge("write", COST_KEY_OPEN_MS * node.count(MAX_TREE_DEPTH))
    root.detach(action.path)
    return ActionResult(id=action.id, status="ok", changed=True, before_tree=tree)


def _restore_key(image: HostImage, action: RestoreKey, work: WorkReport) -> ActionResult:
    work.charge("write", COST_DELETE_KEY_MS)
    parts = _require_path(action.path)
    root = _hive_root(image, action.hive, action.sid, write=True)
    assert root is not None
    wanted = _canonical(action.tree)
    existing = root.find(parts)
    before = existing.to_regkey(MAX_TREE_DEPTH) if existing is not None else None
    if before is not None and before == wanted:
        return ActionResult(id=action.id, status="ok", changed=False, before_tree=before)
    parent = root.ensure(parts[:-1])
    old = parent.subkeys.get(parts[-1].lower())
    parent.subkeys[parts[-1].lower()] = (
        old[0] if old else parts[-1],
        KeyNode.from_regkey(wanted),
    )
    work.charge("write", COST_KEY_OPEN_MS * _count_keys(wanted))
    return ActionResult(id=action.id, status="ok", changed=True, before_tree=before)


def _canonical(tree: RegKey, level: int = 0) -> RegKey:
    """The tree as a fresh read would give it back (truncated false), or refused when too deep."""
    if level > MAX_TREE_DEPTH:
        raise ActionRefused("tree to restore is too deep")
    for name in tree.subkeys:
        if not name or "\\" in name:
            raise ActionRefused(f"bad subkey name in tree: {name}")
    return RegKey(
        values=dict(tree.values),
        subkeys={name: _canonical(sub, level + 1) for name, sub in tree.subkeys.items()},
    )


def _count_keys(tree: RegKey) -> int:
    return 1 + sum(_count_keys(sub) for sub in tree.subkeys.values())


def _write_file(image: HostImage, action: WriteFile, work: WorkReport) -> ActionResult:
    path = expand_env(action.path, image.machine_env())
    work.charge("write", COST_WRITE_FILE_MS)
    before = _file_info(image, path, True, MAX_BACKUP_BYTES, work)
    if before.exists and before.content_truncated:
        raise ActionRefused(
            f"file larger than {MAX_BACKUP_BYTES} bytes: not changed (backup would be incomplete)"
        )
    if action.delete:
        removed = image.remove_file(path)
        return ActionResult(
            id=action.id, status="ok", changed=removed is not None, before_file=before
        )
    data = base64.b64decode(action.content, validate=True)
    if before.exists and before.content_bytes() == data:
        return ActionResult(id=action.id, status="ok", changed=False, before_file=before)
    image.put_file(SimFile(path, data))
    return ActionResult(id=action.id, status="ok", changed=True, before_file=before)


def _profile_for(image: HostImage, sid: str) -> UserProfile:
    prof = image.profile(sid)
    if prof is None:
        raise ActionRefused(f"no profile with sid {sid} on this PC")
    return prof


def _import_pfx(image: HostImage, action: ImportPfx, work: WorkReport) -> ActionResult:
    """As agent.ps1's one-shot task in the user's session: every certificate of the
    PFX that has a private key goes into the user's registry My store."""
    prof = _profile_for(image, action.sid)
    if not (prof.loaded and prof.interactive):
        work.charge("write", COST_SET_VALUE_MS)
        raise ActionRefused(MSG_NO_SESSION.format(sid=action.sid))
    work.charge("import_pfx", COST_IMPORT_PFX_MS)
    try:
        data = base64.b64decode(action.pfx, validate=True)
    except ValueError:
        raise ActionRefused("Invalid length for a Base-64 char array or string.") from None
    try:
        pfx = pkcs12.load_pkcs12(data, action.password.encode("utf-8"))
    except ValueError as exc:
        # cryptography: "Invalid password or PKCS12 data"; Windows tells them apart.
        if data[:1] == b"\x30" and "password" in str(exc).lower():
            raise ActionRefused(MSG_BAD_PASSWORD) from None
        raise ActionRefused(MSG_BAD_PFX) from None
    except Exception:  # noqa: BLE001 - any parser failure: the same plain answer, no password
        raise ActionRefused(MSG_BAD_PFX) from None
    with_keys = [pfx.cert] if pfx.cert is not None and pfx.key is not None else []
    if not with_keys:
        raise ActionRefused(MSG_NO_PRIVATE_KEY)
    thumbprints = []
    for item in with_keys:
        der = item.certificate.public_bytes(serialization.Encoding.DER)
        thumb = certgen.thumbprint(der)
        encoded = base64.b64encode(certgen.store_blob(der, "file")).decode("ascii")
        key = prof.hive.ensure(CERT_STORE_KEY + "\\" + thumb)
        key.set("Blob", RegValue(t="BINARY", v=encoded))
        thumbprints.append(thumb)
    # Like X509Store.Add, re-adding the same certificate still reports success.
    return ActionResult(id=action.id, status="ok", changed=True, thumbprint=thumbprints[0])


def _remove_cert(image: HostImage, action: RemoveCert, work: WorkReport) -> ActionResult:
    """Both homes of the Personal store are backed up and cleared: the registry
    key (before_tree) and the %APPDATA% file (before_file, exists=false if none)."""
    prof = _profile_for(image, action.sid)
    if not prof.loaded:
        raise ActionRefused(MSG_HIVE_NOT_LOADED.format(sid=action.sid))
    thumb = action.thumbprint.upper()
    work.charge("write", COST_REMOVE_CERT_MS)
    file_path = prof.path + "\\" + APPDATA_CERT_DIR + "\\" + thumb
    before_file = _file_info(image, file_path, True, MAX_BACKUP_BYTES, work)
    node = prof.hive.find(CERT_STORE_KEY + "\\" + thumb)
    before_tree = node.to_regkey(MAX_TREE_DEPTH) if node is not None else None
    if node is not None:
        prof.hive.detach(CERT_STORE_KEY + "\\" + thumb)
    if before_file.exists:
        image.remove_file(file_path)
    return ActionResult(
        id=action.id,
        status="ok",
        changed=before_tree is not None or before_file.exists,
        before_tree=before_tree,
        before_file=before_file,
    )


def _run_installer(image: HostImage, action: RunInstaller, work: WorkReport) -> ActionResult:
    """An image's ``installers:`` entry is the installer's file and its effect."""
    path = host_path(action.path, image.machine_env())
    installer = image.installers.get(normalize_file_path(path))
    if installer is None:
        work.charge("write", COST_FILE_STAT_MS)
        raise ActionRefused(f"installer not found: {path}")
    if installer.duration_ms > action.timeout_ms:
        # Still running: the agent does not kill it (a half-run installer is worse).
        work.charge("installer", float(action.timeout_ms))
        apply_software(
            image, installer.registry, installer.uninstall, installer.files, installer.activex, path
        )
        return ActionResult(
            id=action.id,
            status="error",
            changed=True,
            error=f"installer still running after {action.timeout_ms} ms",
        )
    work.charge("installer", float(installer.duration_ms))
    code = installer.exit_code
    if code not in (0, 3010, 1641):
        return ActionResult(
            id=action.id,
            status="error",
            changed=True,
            exit_code=code,
            error=f"installer exit code {code}",
        )
    apply_software(
        image, installer.registry, installer.uninstall, installer.files, installer.activex, path
    )
    if code in (3010, 1641):  # success, reboot required / initiated
        image.os = image.os.model_copy(update={"pending_reboot": True})
    return ActionResult(id=action.id, status="ok", changed=True, exit_code=code)


def _schedule_reboot(image: HostImage, action: ScheduleReboot, work: WorkReport) -> ActionResult:
    """shutdown.exe /r /t N: recorded; a second one while one is pending fails with 1190."""
    work.charge("write", COST_REBOOT_MS)
    if image.scheduled_reboots:
        return ActionResult(
            id=action.id, status="error", exit_code=1190, error="shutdown.exe exit code 1190"
        )
    image.scheduled_reboots.append({"delay_s": action.delay_s, "message": action.message[:500]})
    image.os = image.os.model_copy(update={"pending_reboot": True})
    return ActionResult(id=action.id, status="ok", changed=True, exit_code=0)


_WRITERS: dict[str, Callable[[HostImage, Any, WorkReport], ActionResult]] = {
    "set_value": _set_value,
    "delete_value": _delete_value,
    "delete_key": _delete_key,
    "restore_key": _restore_key,
    "write_file": _write_file,
    "import_pfx": _import_pfx,
    "remove_cert": _remove_cert,
    "run_installer": _run_installer,
    "schedule_reboot": _schedule_reboot,
}


def _act(image: HostImage, action: Action, work: WorkReport) -> ActionResult:
    writer = _WRITERS[action.kind]
    try:
        return writer(image, action, work)
    except ActionRefused as exc:
        return ActionResult(id=action.id, status="error", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one failing action never loses the others
        # Never echo the action: an import_pfx carries a password.
        return ActionResult(
            id=action.id, status="error", error=f"{action.kind} failed ({type(exc).__name__})"
        )


# --------------------------------------------------------------------------- facts


def _profiles(image: HostImage) -> list[Profile]:
    """As agent.ps1 lists them: ProfileList order (sorted by SID), user SIDs only."""
    return [
        Profile(
            sid=p.sid,
            user=p.user,
            path=p.path,
            appdata_raw=user_appdata_raw(p) if p.loaded else None,
            appdata=agent_appdata(image, p),
            loaded=p.loaded,
            console=p.console and p.loaded,
            interactive=p.interactive and p.loaded,
        )
        for p in sorted(image.profiles, key=lambda prof: prof.sid)
        if p.sid.upper().startswith(("S-1-5-21-", "S-1-12-"))
    ]


REBOOT_MARKERS = (
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending",
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
)


def _os_facts(image: HostImage) -> OsFacts:
    """The image's OS facts; pending_reboot also from the registry markers the agent reads."""
    pending = image.os.pending_reboot or any(image.hklm.find(k) is not None for k in REBOOT_MARKERS)
    session = image.hklm.find(r"SYSTEM\CurrentControlSet\Control\Session Manager")
    renames = session.get("PendingFileRenameOperations") if session is not None else None
    if renames is not None and isinstance(renames.v, list) and any(renames.v):
        pending = True
    return (
        image.os
        if pending == image.os.pending_reboot
        else image.os.model_copy(update={"pending_reboot": pending})
    )


def execute(image: HostImage, request: ProbeRequest) -> tuple[ProbeResponse, WorkReport]:
    """Answer ``request`` from ``image`` (mutating it for write actions).

    >>> from fleetcheck.sim.image import instantiate
    >>> from fleetcheck.agent.contract import TcpQuery
    >>> resp, work = execute(instantiate("win10-compliant"),
    ...                      ProbeRequest(queries=[TcpQuery(id="t", host="biz.sccc.com", port=443)]))
    >>> resp.answer("t").connected
    True
    """
    work = WorkReport()
    work.charge("wmi", COST_WMI_MS * 3, 3)  # Win32_OperatingSystem, ComputerSystem, Process
    answers: list[Answer] = []
    for query in request.queries:
        answers.extend(_answer(image, query, work))
    results = [_act(image, action, work) for action in request.actions]
    processes = []
    if request.want_processes:
        # The agent asks WMI for an owner only for explorer.exe (GetOwnerSid is slow).
        processes = [
            ProcessInfo(name=p.name, pid=p.pid, sid=p.sid if p.name == "explorer.exe" else None)
            for p in image.all_processes()
        ]
    response = ProbeResponse(
        agent_version=AGENT_VERSION,
        elapsed_ms=0,
        os=_os_facts(image),
        profiles=_profiles(image),
        processes=processes,
        answers=answers,
        actions=results,
    )
    try:
        size_kib = len(response.model_dump_json()) / 1024
    except PydanticSerializationError:  # a lone surrogate: not UTF-8, but fine as agent JSON
        size_kib = len(agent_json(response)) / 1024
    work.charge("json_output", COST_JSON_PER_KIB_MS * size_kib)
    return response.model_copy(update={"elapsed_ms": round(work.total_ms)}), work


def agent_json(response: ProbeResponse) -> str:
    """The response as agent.ps1 writes it: ASCII JSON, every other code unit ``\\uXXXX``.

    ``json.dumps(ensure_ascii=True)`` escapes exactly the UTF-16 code units (a
    non-BMP character as its surrogate pair, a lone surrogate as itself), so the
    text holds any Windows string and ``json.loads`` gives it back unchanged.
    """
    return json.dumps(response.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":"))


def certificate_subject(der: bytes) -> str:
    """RFC 4514 subject of a DER certificate (a convenience for tests and the demo)."""
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()
