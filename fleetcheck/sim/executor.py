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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic_core import PydanticSerializationError

from fleetcheck.agent import agent_script
from fleetcheck.agent.contract import (
    REBOOT_TASK_PATTERN,
    REBOOT_TOKEN_PATTERN,
    USER_SID_PREFIXES,
    Action,
    ActionResult,
    Answer,
    CancelReboot,
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
    CERT_STORE_KEY,
    CM_PROB_PHANTOM,
    FIRST_WIN10_BUILD,
    PERSONAL_STORE_SUBDIR,
    HostImage,
    ImageError,
    KeyNode,
    SimFile,
    UserProfile,
    agent_appdata,
    apply_software,
    expand_env,
    normalize_file_path,
    parent_dir,
    user_appdata_raw,
    user_personal_store_dir,
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
COST_SCHTASKS_MS = 120.0

# agent.ps1's $StaleTaskMinutes / $StaleRebootMinutes.
STALE_TASK_MINUTES = 60
STALE_REBOOT_MINUTES = 2 * 24 * 60

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
MSG_IMPORT_TIMEOUT = "the import task did not finish within {ms} ms"
MSG_INSTALLER_KILLED = (
    "installer still running after {ms} ms: WinRM ends it with this command's shell, so it did not "
    "complete; give it a longer timeout or install by hand"
)
MSG_UNC_SECOND_HOP = (
    "installer on a network share cannot be read from this WinRM session: {path} (second hop: "
    "an NTLM or Basic logon has no network credentials); copy the installer to the PC first, "
    "or connect with CredSSP or Kerberos delegation"
)
MSG_REBOOT_WAITING = "a fleetcheck reboot is already scheduled ({task})"
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


# agent.ps1's $MaxBackupBytes: the backups of one request, summed. Base64 makes
# 4/3 of it, 11,184,812 bytes, which leaves 5.3 MiB of the transport's 16 MiB
# output cap (fleetcheck.transport.session.MAX_OUTPUT_BYTES) for the rest.
MAX_BACKUP_BYTES = 8 * 1024 * 1024
MSG_TOO_LARGE_TO_BACK_UP = (
    "file of {size} bytes is too large to back up (at most {cap} bytes of backups per request, "
    "{left} left): not changed"
)


@dataclass
class WorkReport:
    """The simulator's accounting of agent time, by category (see the module docstring).

    Also the one per-request state the agent keeps across actions: what is left
    of the request's backup budget (agent.ps1's ``$State.BackupBytesLeft``).
    """

    lines: dict[str, list[float]] = field(default_factory=dict)  # category -> [count, ms]
    backup_bytes_left: int = MAX_BACKUP_BYTES
    # The WinRM logon can reach the network (CredSSP, Kerberos with delegation);
    # NTLM and Basic logons cannot: the "second hop".
    delegated: bool = False

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
    if sim is None or (is_unc(path) and not work.delegated):
        # File.Exists answers false for a file it may not open: on a share,
        # from a logon without network credentials, that is every file.
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


def host_path(text: str, env: dict[str, str], expand: bool = True) -> str:
    """agent.ps1's Expand-HostPath: expand (unless ``expand`` is false: a REG_SZ is literal),
    trim, keep a leading quoted part.

    ``"C:\\x.exe" /s`` -> ``C:\\x.exe``; an unterminated quote is just dropped.
    """
    text = (expand_env(text, env) if expand else text).strip()
    if text.startswith('"'):
        end = text.find('"', 1)
        text = text[1:end] if end > 0 else text[1:]
    return text


_FS_REDIRECT_EXEMPT = ("catroot\\", "catroot2\\", "drivers\\etc\\", "logfiles\\", "spool\\")


def wow64_host_path(text: str, env: dict[str, str], expand: bool = True) -> str:
    """agent.ps1's ConvertTo-Wow64Path: a path as a 32-bit process on 64-bit Windows sees it.

    No ``ProgramFiles(x86)`` in the environment (32-bit Windows): :func:`host_path`.
    """
    if not env.get("ProgramFiles(x86)"):
        return host_path(text, env, expand)
    if expand:
        text = re.sub(r"(?i)%ProgramFiles%", "%ProgramFiles(x86)%", text)
        text = re.sub(r"(?i)%CommonProgramFiles%", "%CommonProgramFiles(x86)%", text)
    text = host_path(text, env, expand)
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
    *,
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
        expand = value.t == "EXPAND_SZ"  # only REG_EXPAND_SZ holds %VARS% Windows expands
        if query.follow_wow64:
            target = wow64_host_path(value.v, env, expand)
        else:
            target = host_path(value.v, env, expand)
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
                sid=prof.sid,
                path=query.path,
            )
            for prof in image.loaded_user_profiles()
        ]
    if query.hive == "HKLM":
        return [_read_key(image.hklm, query, image, env, work, sid=None, path=query.path)]
    # Below HKEY_USERS itself: the first path part names the hive (a SID).
    parts = [p for p in query.path.split("\\") if p]
    prof = image.profile(parts[0]) if parts else None
    if prof is None or not prof.loaded:
        work.charge("registry_key", COST_KEY_OPEN_MS)
        return [Answer(id=query.id, status="absent")]
    return [_read_key(prof.hive, query, image, env, work, sid=None, path="\\".join(parts[1:]))]


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
        # Directory.Exists: a folder exists with or without files in it (and,
        # like File.Exists, is false for a share this logon may not reach).
        if not image.dir_exists(folder) or (is_unc(folder) and not work.delegated):
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
    """An action the agent would refuse; the message is safe to show (internal: becomes the action's result)."""


MAX_TREE_DEPTH = 20  # agent.ps1's $MaxTreeDepth: deeper trees are not deleted (backup incomplete)


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


def _use_backup_budget(work: WorkReport, size: int) -> None:
    """agent.ps1's Use-BackupBudget: refused before anything changes when it does not fit."""
    if size > work.backup_bytes_left:
        raise ActionRefused(
            MSG_TOO_LARGE_TO_BACK_UP.format(size=size, cap=MAX_BACKUP_BYTES, left=work.backup_bytes_left)
        )
    work.backup_bytes_left -= size


def _write_file(image: HostImage, action: WriteFile, work: WorkReport) -> ActionResult:
    path = expand_env(action.path, image.machine_env())
    work.charge("write", COST_WRITE_FILE_MS)
    existing = image.file(path)
    if existing is not None:
        _use_backup_budget(work, existing.length)
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
    """As agent.ps1's one-shot task in the user's session, step by step.

    The agent makes ``%SystemRoot%\\Temp\\fleetcheck-<guid>`` with ``cert.pfx``,
    ``password.bin`` and ``task.xml``, registers ``\\fleetcheck-import-<guid>``
    and starts it. Whether PowerShell runs the task's script is decided by the
    command line the shipped agent.ps1 builds (:func:`task_launch`) and the
    image's Group Policy execution policy (:func:`script_file_blocked`): a
    script that never runs leaves the agent polling until ``timeout_ms``. The
    task script deletes ``password.bin`` and ``cert.pfx`` in every path; the
    agent then deletes the task and the folder.
    """
    prof = _profile_for(image, action.sid)
    if not (prof.loaded and prof.interactive):
        work.charge("write", COST_SET_VALUE_MS)
        raise ActionRefused(MSG_NO_SESSION.format(sid=action.sid))
    work.charge("import_pfx", COST_IMPORT_PFX_MS)
    try:
        data = base64.b64decode(action.pfx, validate=True)
    except ValueError:
        raise ActionRefused("Invalid length for a Base-64 char array or string.") from None
    folder, task = start_import_task(image, action.sid, data, action.password.encode("utf-8"))
    try:
        if task_launch("New-ImportTaskXml") == "file" and script_file_blocked(image):
            # powershell.exe -File import.ps1 refuses the unsigned script and
            # exits; result.txt never appears.
            work.charge("import_pfx", float(action.timeout_ms))
            raise ActionRefused(MSG_IMPORT_TIMEOUT.format(ms=action.timeout_ms))
        try:
            return _import_in_session(image, prof, action, data)
        finally:
            # The task script's finally block: the secret and the PFX are gone.
            image.remove_file(folder + "\\password.bin")
            image.remove_file(folder + "\\cert.pfx")
    finally:
        # The agent's finally block: schtasks /Delete, Directory.Delete.
        image.scheduled_tasks.pop(task, None)
        image.remove_dir(folder)
        work.charge("schtasks", COST_SCHTASKS_MS * 3, 3)


def _import_in_session(
    image: HostImage, prof: UserProfile, action: ImportPfx, data: bytes
) -> ActionResult:
    """The task script itself: every certificate of the PFX that has a private
    key goes into the user's My store."""
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
    # X509Store("My", CurrentUser).Add in the user's session: Windows keeps the user's
    # Personal store as files in the (possibly redirected) roaming AppData,
    # %APPDATA%\Microsoft\SystemCertificates\My\Certificates\<thumbprint> ("Certificate
    # Store Migration"; docs/windows-semantics.md W42), not in the registry key.
    try:
        store_dir = user_personal_store_dir(image, prof)
    except ImageError as exc:
        raise ActionRefused(str(exc)) from None
    thumbprints = []
    for item in with_keys:
        der = item.certificate.public_bytes(serialization.Encoding.DER)
        thumb = certgen.thumbprint(der)
        image.put_file(SimFile(store_dir + "\\" + thumb, certgen.store_blob(der, "file")))
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
    # agent.ps1 resolves {appdata} as for a query: refused where the session cannot reach it.
    base, error = _agent_appdata_dir(image, prof)
    if base is None:
        raise ActionRefused(error or MSG_APPDATA_UNRESOLVED.format(sid=prof.sid))
    file_path = expand_env(base + "\\" + PERSONAL_STORE_SUBDIR + "\\" + thumb, image.machine_env())
    stored = image.file(file_path)
    if stored is not None:
        _use_backup_budget(work, stored.length)
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
    """An image's ``installers:`` entry is the installer's file and its effect.

    The agent waits for the installer at most ``timeout_ms``; one still running
    then is ended by WinRM with the shell's other processes as soon as the
    command returns, so its effects are not applied (``changed`` stays true:
    a killed installer may have changed something). An installer on a share
    cannot be read from a logon without network credentials (NTLM, Basic: the
    second hop) and is refused with the cause and the remedy.
    """
    path = host_path(action.path, image.machine_env())
    installer = image.installers.get(normalize_file_path(path))
    if is_unc(path) and not work.delegated:
        work.charge("write", COST_FILE_STAT_MS)
        raise ActionRefused(MSG_UNC_SECOND_HOP.format(path=path))
    if installer is None:
        work.charge("write", COST_FILE_STAT_MS)
        raise ActionRefused(f"installer not found: {path}")
    if installer.duration_ms > action.timeout_ms:
        work.charge("installer", float(action.timeout_ms))
        return ActionResult(
            id=action.id,
            status="error",
            changed=True,
            error=MSG_INSTALLER_KILLED.format(ms=action.timeout_ms),
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
    """A one-time SYSTEM task ``\\fleetcheck-reboot-<guid>`` at now + ``delay_s``.

    Its folder ``%SystemRoot%\\Temp\\fleetcheck-reboot-<guid>`` holds
    ``guard.txt`` (the guarded process names) and ``message.txt``; when the
    time comes (:func:`run_due_tasks`) the task reboots only if none of them
    runs, else it skips and writes why to ``result.txt``. One fleetcheck
    reboot at a time: a second one while one waits is refused.
    """
    work.charge("write", COST_REBOOT_MS)
    waiting = [
        name for name, task in sorted(image.scheduled_tasks.items())
        if task.get("kind") == "reboot" and task.get("result") is None and not task.get("booted_since")
    ]
    if waiting:
        raise ActionRefused(MSG_REBOOT_WAITING.format(task=waiting[0]))
    token = action.token or uuid.uuid4().hex
    if re.match(REBOOT_TOKEN_PATTERN, token) is None or token.endswith("\n"):
        raise ActionRefused("token must be 32 lowercase hex digits")
    folder = temp_dir(image) + "\\fleetcheck-reboot-" + token
    task = "\\fleetcheck-reboot-" + token
    at = image.now + timedelta(seconds=max(action.delay_s, 60))  # agent.ps1: at least a minute ahead
    _make_private_folder(image, folder)
    guard = [name.strip() for name in action.guard_processes if name.strip()]
    image.put_file(SimFile(folder + "\\guard.txt", "\r\n".join(guard).encode("utf-8")))
    image.put_file(SimFile(folder + "\\message.txt", action.message[:500].encode("utf-8")))
    image.scheduled_tasks[task] = {
        "kind": "reboot", "folder": folder, "created": image.now.isoformat(),
        "at": at.isoformat(), "guard": guard, "result": None,
    }
    image.scheduled_reboots.append(
        {"delay_s": action.delay_s, "message": action.message[:500], "task": task, "at": at.isoformat()}
    )
    # No pending-reboot marker: Windows sets none for a task that will run
    # shutdown.exe later (the agent's pending_reboot fact cannot see it).
    work.charge("schtasks", COST_SCHTASKS_MS)
    return ActionResult(id=action.id, status="ok", changed=True, exit_code=0, task=task)


MSG_REBOOT_RAN = "the reboot task already ran: {line}"
MSG_REBOOT_NOT_FOUND = "no such reboot task on the PC (it never arrived, or it ran and was removed)"


def _cancel_reboot(image: HostImage, action: CancelReboot, work: WorkReport) -> ActionResult:
    """agent.ps1's Invoke-CancelReboot: a reboot that has not happened is cancelled.

    A task still waiting (no ``result.txt``) or one that skipped (``SKIPPED``)
    is deleted (``schtasks /Delete /TN <task> /F``) with its folder, and its
    ``scheduled_reboots`` entry goes; a ``result.txt`` saying anything else
    (``REBOOTING``, ``ERROR``): the task ran, nothing is touched, ``skipped``.
    Neither task nor folder: ``skipped`` too.
    """
    if re.match(REBOOT_TASK_PATTERN, action.task) is None or action.task.endswith("\n"):
        raise ActionRefused("not a fleetcheck reboot task name")
    folder = temp_dir(image) + "\\" + action.task[1:]
    result = image.file(folder + "\\result.txt")
    if result is not None:
        line = result.read().decode("utf-8", "replace").strip()
        if not line.startswith("SKIPPED "):
            return ActionResult(id=action.id, status="skipped", error=MSG_REBOOT_RAN.format(line=line),
                                task=action.task)
    work.charge("schtasks", COST_SCHTASKS_MS)
    deleted = image.scheduled_tasks.pop(action.task, None) is not None
    had_folder = normalize_file_path(folder) in image.dirs
    if had_folder:
        image.remove_dir(folder)
    image.scheduled_reboots[:] = [r for r in image.scheduled_reboots if r.get("task") != action.task]
    if not deleted and not had_folder:
        return ActionResult(id=action.id, status="skipped", error=MSG_REBOOT_NOT_FOUND, task=action.task)
    return ActionResult(id=action.id, status="ok", changed=True, task=action.task)


def run_due_tasks(image: HostImage, when: datetime) -> list[tuple[str, str]]:
    """Time reaches ``when``: every fleetcheck reboot task that is due runs once.

    The task's script (agent.ps1's ``$RebootTaskScript``) lists the processes:
    a guarded one running -> ``SKIPPED`` with the names, written to the task
    folder's ``result.txt``, no reboot; none -> ``REBOOTING`` and ``shutdown.exe
    /r /t 0`` without ``/f`` (applications are asked to close, not killed).
    Returns ``(task, result line)`` per task run; the caller reboots the PC when
    a result starts with ``REBOOTING``.
    """
    ran: list[tuple[str, str]] = []
    for name, task in sorted(image.scheduled_tasks.items()):
        if task.get("kind") != "reboot" or task.get("result") is not None:
            continue
        if datetime.fromisoformat(task["at"]) > when:
            continue
        wanted = {_process_key(p) for p in task.get("guard", [])}
        running = sorted({p.name for p in image.all_processes() if _process_key(p.name) in wanted})
        stamp = when.isoformat()
        if task.get("booted_since"):
            line = f"SKIPPED {stamp} the PC restarted since this reboot was scheduled"
        elif running:
            line = f"SKIPPED {stamp} guarded process running: {', '.join(running)}"
        else:
            line = f"REBOOTING {stamp}"
        task["result"] = line
        image.put_file(SimFile(task["folder"] + "\\result.txt", line.encode("utf-8")))
        if not line.startswith("REBOOTING"):
            # No reboot: the scheduled one is over, a new fix may schedule again.
            image.scheduled_reboots[:] = [r for r in image.scheduled_reboots if r.get("task") != name]
        ran.append((name, line))
    return ran


def _process_key(name: str) -> str:
    low = name.strip().lower()
    return low.removesuffix(".exe")


# --------------------------------------------------------------------------- tasks and their folders


def agent_source() -> str:
    """The shipped agent.ps1 as text (what the simulator reads the agent's choices from)."""
    return agent_script().decode("utf-8")


def task_launch(function: str, source: str | None = None) -> str:
    """How agent.ps1's ``function`` starts PowerShell for a task: ``encoded`` or ``file``.

    Read from the agent itself, so the simulator models what the shipped agent
    really asks Windows for, not what it is meant to ask for.
    """
    text = agent_source() if source is None else source
    start = text.find(f"function {function} {{")
    if start < 0:
        raise ActionRefused(f"simulator: agent.ps1 has no function {function}")
    end = text.find("\nfunction ", start + 1)
    code = text[start : end if end > 0 else len(text)].splitlines()
    body = "\n".join(line for line in code if not line.lstrip().startswith("#"))
    if "-EncodedCommand" in body:
        return "encoded"
    if "-File" in body:
        return "file"
    raise ActionRefused(f"simulator: cannot tell how agent.ps1's {function} starts PowerShell")


def script_file_blocked(image: HostImage) -> bool:
    """Whether the image's Group Policy execution policy stops ``powershell -File x.ps1``.

    A policy from Group Policy overrides ``-ExecutionPolicy``; AllSigned stops
    the agent's unsigned script, Restricted stops every script file.
    RemoteSigned does not: a file written on the PC carries no mark of the
    web. ``-EncodedCommand`` is not a script file and is never stopped.
    """
    return image.execution_policy_gpo in ("AllSigned", "Restricted")


def temp_dir(image: HostImage) -> str:
    return expand_env(r"%SystemRoot%\Temp", image.machine_env())


def _make_private_folder(image: HostImage, folder: str, when: datetime | None = None) -> None:
    image.make_dir(folder)
    image.dir_created[normalize_file_path(folder)] = (when or image.now).isoformat()


def start_import_task(
    image: HostImage, sid: str, pfx: bytes, secret: bytes, when: datetime | None = None
) -> tuple[str, str]:
    """What agent.ps1 leaves on the PC before it polls: the folder, its files, the task.

    Returns ``(folder, task name)``. Also what an import leaves behind when
    WinRM ended the agent during the poll (the host deadline passed): call it
    with an earlier ``when`` to model that, and a later run with actions
    removes it (:func:`remove_stale_tasks`).
    """
    token = uuid.uuid4().hex
    folder = temp_dir(image) + "\\fleetcheck-" + token
    task = "\\fleetcheck-import-" + token
    created = when or image.now
    _make_private_folder(image, folder, created)
    image.put_file(SimFile(folder + "\\cert.pfx", pfx))
    image.put_file(SimFile(folder + "\\password.bin", secret))
    image.put_file(SimFile(folder + "\\task.xml", b"<Task/>"))
    image.scheduled_tasks[task] = {"kind": "import", "folder": folder, "sid": sid,
                                   "created": created.isoformat(), "result": None}
    return folder, task


_STALE_FOLDER = re.compile(r"^fleetcheck-(reboot-)?([0-9a-f]{32})$")


def remove_stale_tasks(image: HostImage, work: WorkReport) -> list[str]:
    """agent.ps1's Remove-StaleTasks, run before the actions of a request.

    ``fleetcheck-<guid>`` folders under ``%SystemRoot%\\Temp`` older than
    :data:`STALE_TASK_MINUTES` (``fleetcheck-reboot-<guid>``:
    :data:`STALE_REBOOT_MINUTES`) go, with their tasks; so do fleetcheck tasks
    whose folder is gone, by the same bounds. Returns what was removed.
    """
    temp = normalize_file_path(temp_dir(image))
    removed: list[str] = []
    for key, shown in sorted(image.dirs.items()):
        if parent_dir(key) != temp:
            continue
        found = _STALE_FOLDER.match(key.rsplit("\\", 1)[-1])
        if found is None:
            continue
        reboot = found.group(1) is not None
        task_name = ("\\fleetcheck-reboot-" if reboot else "\\fleetcheck-import-") + found.group(2)
        if not _older_than(image, image.dir_created.get(key), reboot):
            continue
        work.charge("schtasks", COST_SCHTASKS_MS)
        image.scheduled_tasks.pop(task_name, None)
        image.remove_dir(shown)
        removed.append(shown)
    for name, task in sorted(image.scheduled_tasks.items()):
        if not re.match(r"^\\fleetcheck-(import|reboot)-[0-9a-f]{32}$", name):
            continue
        if _older_than(image, task.get("created"), task.get("kind") == "reboot"):
            work.charge("schtasks", COST_SCHTASKS_MS)
            del image.scheduled_tasks[name]
            removed.append(name)
    return removed


def _older_than(image: HostImage, created: str | None, reboot: bool) -> bool:
    """A folder the image declares has no recorded time: it is from before, so old."""
    if created is None:
        return True
    bound = STALE_REBOOT_MINUTES if reboot else STALE_TASK_MINUTES
    return image.now - datetime.fromisoformat(created) >= timedelta(minutes=bound)


def is_unc(path: str) -> bool:
    """``\\\\server\\share\\...`` (either slash): a file on another machine."""
    return path.strip().replace("/", "\\").startswith("\\\\")


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
    "cancel_reboot": _cancel_reboot,
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
        if p.sid.upper().startswith(USER_SID_PREFIXES)
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


def execute(
    image: HostImage, request: ProbeRequest, *, delegated: bool = False
) -> tuple[ProbeResponse, WorkReport]:
    """Answer ``request`` from ``image`` (mutating it for write actions).

    ``delegated``: the WinRM logon carries network credentials (CredSSP or
    Kerberos delegation); NTLM and Basic, the simulator's, do not.

    >>> from fleetcheck.sim.image import instantiate
    >>> from fleetcheck.agent.contract import TcpQuery
    >>> resp, work = execute(instantiate("win10-compliant"),
    ...                      ProbeRequest(queries=[TcpQuery(id="t", host="biz.sccc.com", port=443)]))
    >>> resp.answer("t").connected
    True
    """
    work = WorkReport(delegated=delegated)
    work.charge("wmi", COST_WMI_MS * 3, 3)  # Win32_OperatingSystem, ComputerSystem, Process
    answers: list[Answer] = []
    for query in request.queries:
        answers.extend(_answer(image, query, work))
    if request.actions:
        remove_stale_tasks(image, work)
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
