"""The one contract between Python and the agent: what we ask a host, what it answers.

agent.ps1 (on real Windows) and ``fleetcheck.sim`` (in tests and the demo) both
implement exactly this; neither has a private protocol. The request travels as
JSON (base64 on stdin), the response comes back as one JSON document on stdout.

Design rules, so the agent stays dumb:

* Registry paths are literal. Python asks for ``SOFTWARE\\WOW6432Node\\...`` when
  it wants the 32-bit view; the agent never maps views itself (PowerShell 2.0 /
  .NET 3.5 has no ``RegistryView``).
* A user-scoped query (``hive="HKU"`` with ``per_user=True``) is answered once
  for every *loaded* user hive (SIDs ``S-1-5-21-*`` and ``S-1-12-*``); Python
  decides which of them is the operator.
* Every query answers ``ok`` / ``absent`` / ``error`` on its own, so one failing
  read never loses the others.
* File paths may hold ``%ENVVAR%``; ``{profile}`` at the start of a path is
  replaced by the profile directory of each loaded user (``per_user=True``),
  ``{appdata}`` by that user's Roaming AppData folder as Windows resolves it
  (:attr:`Profile.appdata`). The agent refuses an ``{appdata}`` that is a UNC
  path: a WinRM session authenticated with NTLM cannot reach a network share
  (the "second hop"), and a silent "absent" would hide the store.

Registry values are encoded as ``{"t": TYPE, "v": VALUE}`` where TYPE is the
Windows type name without ``REG_`` (``SZ``, ``EXPAND_SZ``, ``MULTI_SZ``,
``DWORD``, ``QWORD``, ``BINARY``, ``NONE``) and VALUE is a string, a list of
strings, an integer, or base64 text for ``BINARY``/``NONE``. The default value
of a key has the name ``""``.
"""

from __future__ import annotations

import base64
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = 1

Hive = Literal["HKLM", "HKU"]
RegType = Literal["SZ", "EXPAND_SZ", "MULTI_SZ", "DWORD", "QWORD", "BINARY", "NONE"]
Status = Literal["ok", "absent", "error"]
# The names agent.ps1 gives a scheduled reboot: task \fleetcheck-reboot-<token>,
# folder %SystemRoot%\Temp\fleetcheck-reboot-<token>.
REBOOT_TOKEN_PATTERN: Final = r"^[0-9a-f]{32}$"
REBOOT_TASK_PATTERN: Final = r"^\\fleetcheck-reboot-[0-9a-f]{32}$"
REBOOT_TEMP: Final = "%SystemRoot%\\Temp"  # + task name = the folder
# The SIDs whose loaded hive is a real user's (a domain/local account or an
# Entra ID account): the agent answers a per-user query once for each of them.
USER_SID_PREFIXES: Final = ("S-1-5-21-", "S-1-12-")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Item(_Model):
    """What every query and action starts with: its ``kind`` and the ``id`` its answer carries.

    Each query and action narrows ``kind`` to its own literal (the discriminator);
    pydantic keeps an overridden field where the base declared it, so ``kind``
    and ``id`` stay the first two fields on the wire.
    """

    kind: str
    id: str


# --------------------------------------------------------------------------- values


class RegValue(_Model):
    """One registry value. ``v`` is base64 text for BINARY and NONE."""

    t: RegType
    v: int | str | list[str]

    def as_bytes(self) -> bytes:
        if self.t in ("BINARY", "NONE") and isinstance(self.v, str):
            return base64.b64decode(self.v)
        raise TypeError(f"registry value of type {self.t} is not binary")

    def as_int(self) -> int | None:
        """The value as an integer, or None when it is not numeric.

        IE tolerates zone actions written as REG_SZ ("0"); so do we.
        """
        if isinstance(self.v, int):
            return self.v
        if isinstance(self.v, str) and self.t in ("SZ", "EXPAND_SZ"):
            text = self.v.strip()
            try:
                return int(text, 16) if text.lower().startswith("0x") else int(text)
            except ValueError:
                return None
        return None

    def as_str(self) -> str | None:
        if isinstance(self.v, str) and self.t in ("SZ", "EXPAND_SZ"):
            return self.v
        if isinstance(self.v, int):
            return str(self.v)
        return None


class RegKey(_Model):
    """A key with its values and, down to the requested depth, its subkeys.

    ``truncated`` is true when subkeys exist below the requested depth.
    """

    values: dict[str, RegValue] = Field(default_factory=dict)
    subkeys: dict[str, RegKey] = Field(default_factory=dict)
    truncated: bool = False

    def value(self, name: str) -> RegValue | None:
        """Case-insensitive value lookup, as Windows does."""
        if name in self.values:
            return self.values[name]
        low = name.lower()
        for key, val in self.values.items():
            if key.lower() == low:
                return val
        return None

    def subkey(self, path: str) -> RegKey | None:
        """Case-insensitive descent along a backslash-separated relative path."""
        node: RegKey | None = self
        for part in [p for p in path.split("\\") if p]:
            if node is None:
                return None
            found = node.subkeys.get(part)
            if found is None:
                low = part.lower()
                found = next((k for n, k in node.subkeys.items() if n.lower() == low), None)
            node = found
        return node


class FileInfo(_Model):
    """What the agent knows about one file. ``content`` is base64, only when asked."""

    path: str  # after environment expansion
    exists: bool
    size: int | None = None
    version: str | None = None  # FileVersionInfo.FileVersion, as Windows reports it
    product_version: str | None = None
    content: str | None = None
    content_truncated: bool = False

    def content_bytes(self) -> bytes | None:
        return base64.b64decode(self.content) if self.content is not None else None


# --------------------------------------------------------------------------- queries


class RegistryQuery(_Item):
    """Read one key: its values, subkeys down to ``depth`` (0 = values only).

    ``follow`` names values whose data is a file path (env vars expanded, quotes
    and trailing arguments stripped by Python beforehand is not possible, so the
    agent strips surrounding quotes only); the agent reports a FileInfo for each,
    e.g. an ActiveX control's ``InprocServer32`` default value, or Edge's
    ``InternetExplorerIntegrationSiteList`` (with ``follow_content``).

    ``follow_wow64``: resolve the followed paths as a 32-bit process on 64-bit
    Windows would (a 32-bit COM registration is loaded by 32-bit IE):
    ``%ProgramFiles%`` / ``%CommonProgramFiles%`` are the ``(x86)`` folders and the
    File System Redirector maps ``%windir%\\System32`` to ``SysWOW64`` (except its
    exempt subfolders) and ``%windir%\\Sysnative`` to ``System32``. No effect on
    32-bit Windows.
    """

    kind: Literal["registry"] = "registry"
    hive: Hive
    path: str  # below the hive; for HKU, below the user's SID
    per_user: bool = False
    depth: int = Field(default=0, ge=0, le=8)
    follow: list[str] = Field(default_factory=list)
    follow_content: bool = False
    follow_wow64: bool = False
    max_content_bytes: int = 262144


class _FileSystemQuery(_Item):
    """A file or folder on the PC, once per loaded user when ``per_user`` (``{profile}``, ``{appdata}``)."""

    path: str
    per_user: bool = False
    content: bool = False


class FileQuery(_FileSystemQuery):
    """Existence, size, FileVersion and optionally content of one file."""

    kind: Literal["file"] = "file"
    max_content_bytes: int = 262144


class DirQuery(_FileSystemQuery):
    """The files of one directory (not recursive), optionally with contents.

    Used for the operator's ``%APPDATA%`` certificate store
    (``{appdata}\\Microsoft\\SystemCertificates\\My\\Certificates``).
    """

    kind: Literal["dir"] = "dir"
    max_files: int = 200
    max_content_bytes: int = 65536


class PnpQuery(_Item):
    """Win32_PnPEntity instances whose DeviceID starts with ``USB\\VID_<vendor_id>``.

    On Windows 10/11 these include devices that are not connected (phantoms,
    ConfigManagerErrorCode 45, ``Present`` false); each answer entry carries
    what Windows reports about presence (:class:`PnpDevice`), Python decides
    what counts.
    """

    kind: Literal["pnp"] = "pnp"
    vendor_id: str = Field(pattern=r"^[0-9A-Fa-f]{4}$")


class TcpQuery(_Item):
    """A TCP connect test from the host itself."""

    kind: Literal["tcp"] = "tcp"
    host: str
    port: int = Field(ge=1, le=65535)
    timeout_ms: int = Field(default=5000, ge=100, le=30000)


Query = Annotated[
    RegistryQuery | FileQuery | DirQuery | PnpQuery | TcpQuery, Field(discriminator="kind")
]


# --------------------------------------------------------------------------- actions (writes)


class _KeyAction(_Item):
    """A write to one registry key: ``path`` below the hive, below ``sid`` for HKU."""

    hive: Hive
    sid: str | None = None  # required when hive == "HKU"
    path: str


class _ValueAction(_KeyAction):
    """A write to one value of a key (``""`` is the key's default value)."""

    name: str


class SetValue(_ValueAction):
    kind: Literal["set_value"] = "set_value"
    value: RegValue


class DeleteValue(_ValueAction):
    kind: Literal["delete_value"] = "delete_value"


class DeleteKey(_KeyAction):
    """Delete a key tree; the result's ``before`` holds the whole tree as a RegKey."""

    kind: Literal["delete_key"] = "delete_key"


class RestoreKey(_KeyAction):
    """Recreate a key tree exactly as a DeleteKey backup described it (rollback)."""

    kind: Literal["restore_key"] = "restore_key"
    tree: RegKey


class WriteFile(_Item):
    """Write a file (creating folders); the previous content comes back as backup."""

    kind: Literal["write_file"] = "write_file"
    path: str
    content: str  # base64
    delete: bool = False  # remove the file instead (rollback of a created file)


class _UserStoreAction(_Item):
    """A change to the Personal certificate store of the user with ``sid``."""

    sid: str


class ImportPfx(_UserStoreAction):
    """Import a PFX into the Personal store of the user with ``sid``.

    The agent does it in the user's own session (a one-shot scheduled task with
    an interactive-token principal), because the store is the user's, not the
    WinRM account's. ``password`` never appears in any answer.
    """

    kind: Literal["import_pfx"] = "import_pfx"
    # Kept out of repr (so out of logs, tracebacks and validation errors); the
    # wire dump still carries both, which is the point of the action.
    pfx: str = Field(repr=False)  # base64
    password: str = Field(repr=False)
    timeout_ms: int = 60000


class RemoveCert(_UserStoreAction):
    """Remove a certificate (by thumbprint) from the user's Personal store; backup returned."""

    kind: Literal["remove_cert"] = "remove_cert"
    thumbprint: str = Field(pattern=r"^[0-9A-Fa-f]{40}$")


class RunInstaller(_Item):
    """Run an installer on the PC and wait for it, at most ``timeout_ms``.

    WinRM ends a shell's processes when the shell is deleted, so an installer
    still running when the wait ends does not complete (the answer says so);
    the controller keeps ``timeout_ms`` inside its host deadline. ``path`` is
    on the PC: a share is unreadable from an NTLM/Basic logon (second hop).
    """

    kind: Literal["run_installer"] = "run_installer"
    path: str
    args: list[str] = Field(default_factory=list)
    timeout_ms: int = 600000


class ScheduleReboot(_Item):
    """A reboot in ``delay_s`` seconds that never force-closes applications.

    The agent registers a one-time SYSTEM task; at that time the task reboots
    only if none of ``guard_processes`` (image names such as ``TdxW.exe``,
    compared case-insensitively, ``.exe`` optional) runs, and otherwise skips
    and records why (``result.txt`` in its folder). Not ``shutdown /r /t N``:
    a timeout above 0 implies ``/f``.

    ``token`` (32 lowercase hex digits) names the task ``\\fleetcheck-reboot-<token>``
    and its folder; the controller chooses it and records it before sending, so
    rollback can cancel the reboot even when the answer was never recorded.
    Without it the agent makes one up. The result's ``task`` is the name used.
    """

    kind: Literal["schedule_reboot"] = "schedule_reboot"
    delay_s: int = Field(ge=0, le=86400)
    message: str = ""
    guard_processes: list[str] = Field(default_factory=list, max_length=64)
    token: str | None = Field(default=None, pattern=REBOOT_TOKEN_PATTERN)


class CancelReboot(_Item):
    """Cancel a reboot a ScheduleReboot registered and that has not happened (rollback).

    ``task`` is ``\\fleetcheck-reboot-<32 hex>``, nothing else. A task still
    waiting (no ``result.txt``), or one that skipped its reboot (``SKIPPED``),
    is deleted with its folder: ``ok``, ``changed``. One whose ``result.txt``
    says anything else ran (the PC rebooted): ``skipped``, nothing touched,
    ``error`` holds the result line. Neither task nor folder on the PC:
    ``skipped`` too (it never arrived, or it ran and was removed).
    """

    kind: Literal["cancel_reboot"] = "cancel_reboot"
    task: str = Field(pattern=REBOOT_TASK_PATTERN)


Action = Annotated[
    SetValue | DeleteValue | DeleteKey | RestoreKey | WriteFile | ImportPfx | RemoveCert | RunInstaller | ScheduleReboot
    | CancelReboot,
    Field(discriminator="kind"),
]


class ProbeRequest(_Model):
    """Everything one sweep (or one fix) asks of one host, in one round trip."""

    schema_version: Literal[1] = SCHEMA_VERSION
    queries: list[Query] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    want_processes: bool = True


# --------------------------------------------------------------------------- answers


class OsFacts(_Model):
    version: str  # "6.1.7601", "10.0.19045"
    build: int
    caption: str  # "Microsoft Windows 10 专业版"
    edition: str | None = None
    arch: Literal["x86", "x64", "arm64"]
    ps_version: str
    clr_version: str
    acp: int  # ANSI code page, 936 on Simplified Chinese Windows
    oem_cp: int
    hostname: str
    domain: str | None = None
    pending_reboot: bool = False
    ie_version: str | None = None
    edge_version: str | None = None


class Profile(_Model):
    sid: str
    user: str | None = None  # DOMAIN\name when it resolves
    path: str | None = None  # ProfileImagePath, expanded
    # HKU\<SID>\Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders
    # value AppData as stored (REG_EXPAND_SZ, not expanded); None when absent or the
    # hive is not loaded.
    appdata_raw: str | None = None
    # The user's Roaming AppData folder: appdata_raw with %USERPROFILE% and %USERNAME%
    # of this user and machine-wide variables expanded; the Known Folder default
    # {path}\AppData\Roaming when the value is absent; None when the hive is not
    # loaded or a variable could not be resolved for this user.
    appdata: str | None = None
    loaded: bool = False  # its hive is under HKEY_USERS
    console: bool = False  # the user at the physical console (Win32_ComputerSystem.UserName)
    interactive: bool = False  # owns an explorer.exe


class ProcessInfo(_Model):
    name: str  # "explorer.exe"
    pid: int
    sid: str | None = None  # owner, when the agent can tell


class PnpDevice(_Model):
    """One Win32_PnPEntity instance and what Windows says about its presence."""

    device_id: str  # DeviceID, e.g. USB\VID_096E&PID_0807\5&2A3F1C0&0&2
    # Win32_PnPEntity.Present; only Windows 10 and later have it (None elsewhere).
    present: bool | None = None
    # ConfigManagerErrorCode; 45 (CM_PROB_PHANTOM) = "not connected to the computer".
    error_code: int | None = None


class Answer(_Model):
    """One query's answer, for one user hive when ``sid`` is set."""

    id: str
    sid: str | None = None
    status: Status
    error: str | None = None
    key: RegKey | None = None  # registry
    followed: dict[str, FileInfo] = Field(default_factory=dict)  # registry follow
    file: FileInfo | None = None  # file
    files: list[FileInfo] = Field(default_factory=list)  # dir
    devices: list[PnpDevice] = Field(default_factory=list)  # pnp: every matching instance
    connected: bool | None = None  # tcp
    elapsed_ms: int | None = None  # tcp


class ActionResult(_Model):
    id: str
    status: Literal["ok", "error", "skipped"]
    changed: bool = False
    error: str | None = None
    # What was there before (for rollback): a value, a key tree, a file's content.
    before_value: RegValue | None = None
    before_tree: RegKey | None = None
    before_file: FileInfo | None = None
    thumbprint: str | None = None  # import_pfx: the imported certificate
    exit_code: int | None = None  # run_installer / schedule_reboot: the process's exit code
    task: str | None = None  # schedule_reboot / cancel_reboot: the task's name (\\fleetcheck-reboot-<token>)


class ProbeResponse(_Model):
    """The agent's whole answer. ``elapsed_ms`` is agent time on the host."""

    schema_version: Literal[1] = SCHEMA_VERSION
    agent_version: str
    elapsed_ms: int
    os: OsFacts
    profiles: list[Profile] = Field(default_factory=list)
    processes: list[ProcessInfo] = Field(default_factory=list)
    answers: list[Answer] = Field(default_factory=list)
    actions: list[ActionResult] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # whole-section failures (e.g. WMI down)

    def answer(self, query_id: str, sid: str | None = None) -> Answer | None:
        for ans in self.answers:
            if ans.id == query_id and ans.sid == sid:
                return ans
        return None


RegKey.model_rebuild()
