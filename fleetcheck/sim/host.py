"""SimulatedHost: one simulated Windows PC as the WS-Management server sees it.

The server (fleetcheck.sim.server) turns a WinRM Command + Send into
:meth:`SimulatedHost.run`; this class decides what "running" means:

* ``powershell.exe`` with exactly :func:`fleetcheck.agent.command_line`'s
  arguments, and a stdin payload whose agent script equals the shipped
  agent.ps1 byte for byte: the request is executed against the image and the
  response printed as compact ASCII-only JSON, exit code 0;
* the same command with a payload that is not two base64 lines, carries a
  different agent, or a request that breaks the contract: a message on stderr,
  exit code 2 (what the bootstrap / agent do on Windows);
* ``powershell.exe`` with other arguments: refused with a clear message,
  exit code 1 (the simulator runs no other PowerShell);
* any other program (``ipconfig``, ``cmd /c dir``): cmd.exe's own
  "'X' is not recognized as an internal or external command" text, exit 1.

One request at a time per host (a lock). With ``state_dir`` the image is
persisted (``state.json``, UTF-8 JSON, written atomically) after every request
that carries write actions and after the test helpers (login, plug_usb...),
and a new SimulatedHost on the same folder starts from it: fixes survive a
restart, and a later sweep sees them. One state_dir per host.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from fleetcheck.agent import PayloadError, agent_wire, command_line, parse_payload
from fleetcheck.i18n import T
from fleetcheck.sim.executor import REBOOT_MARKERS, WorkReport, execute, run_due_tasks
from fleetcheck.sim.image import (
    ActiveXSpec,
    HostImage,
    ImageError,
    ProcessEntry,
    UserProfile,
    apply_software,
    dump_state,
    image_error,
    instantiate,
)

STATE_FILE = "state.json"
PORTAL = "https://biz.sccc.com"
# What IE installs from the portal's CAB files today (guide 一.4 / R10): the
# versions the shipped compliant images carry (CertEnroll exactly 2.0.4.8,
# JITVCTK >= 2.0.24.42, JITVCTKEx >= 2.1.9.4), registered in the 32-bit view
# IE uses, with their Distribution Units entry.
_DOWNLOADED = r"%SystemRoot%\Downloaded Program Files"
PORTAL_CONTROLS: dict[str, ActiveXSpec] = {
    "{33BBBFD1-0A97-4339-9032-F68F19CB3030}": ActiveXSpec(
        name="CertEnroll Control", file=_DOWNLOADED + r"\JITCertEnroll.ocx", version="2.0.4.8",
        view=32, codebase=PORTAL + "/cab/JITCertEnroll.cab"),
    "{707C7D52-85A8-4584-8954-573EFCE77488}": ActiveXSpec(
        name="JITVCTK Class", file=_DOWNLOADED + r"\JITComVCTK_S.dll", version="2.0.24.42",
        view=32, codebase=PORTAL + "/cab/JITComVCTK_S.cab"),
    "{B0EF56AD-D711-412D-BE74-A751595F3633}": ActiveXSpec(
        name="JITVCTKEx Class", file=_DOWNLOADED + r"\JITDSignEx.dll", version="2.1.9.6",
        view=32, codebase=PORTAL + "/cab/JITDSign.cab"),
}
NOT_RECOGNIZED = (
    "'{name}' is not recognized as an internal or external command,\r\n"
    "operable program or batch file.\r\n"
)


@dataclass(frozen=True)
class ProcessResult:
    """What one command printed and returned; ``agent_ms`` is the simulated agent time."""

    stdout: str
    stderr: str
    exit_code: int
    agent_ms: int = 0


class SimulatedHost:
    """A simulated PC: an instantiated image behind a lock, optionally persisted.

    >>> host = SimulatedHost.from_image("win10-compliant", {"hostname": "TRADE-PC01"})
    >>> host.run("ipconfig", [], b"").exit_code
    1
    """

    def __init__(self, image: HostImage, state_dir: Path | None = None) -> None:
        self._lock = threading.RLock()
        self.state_dir = Path(state_dir) if state_dir is not None else None
        loaded = self._load_state()
        self.image: HostImage = loaded if loaded is not None else image
        self.last_work: WorkReport | None = None
        self.requests = 0
        # The simulated WinRM service speaks NTLM and Basic, whose logons carry
        # no network credentials (the second hop); a test sets this to model a
        # CredSSP or Kerberos-delegated session.
        self.delegated_credentials = False
        if loaded is None:
            self._persist()

    @classmethod
    def from_image(
        cls,
        source: str | Path,
        vars: dict[str, Any] | None = None,
        now: datetime | None = None,
        state_dir: Path | None = None,
    ) -> SimulatedHost:
        """Instantiate ``source`` unless ``state_dir`` already holds this host's state."""
        if state_dir is not None and (Path(state_dir) / STATE_FILE).is_file():
            host = cls.__new__(cls)
            host._lock = threading.RLock()
            host.state_dir = Path(state_dir)
            state = host._load_state()
            assert state is not None
            host.image = state
            host.last_work = None
            host.requests = 0
            host.delegated_credentials = False
            return host
        return cls(instantiate(source, vars, now), state_dir)

    # ------------------------------------------------------------ persistence
    def _load_state(self) -> HostImage | None:
        if self.state_dir is None:
            return None
        path = self.state_dir / STATE_FILE
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise image_error(str(path), T(
                f"无法读取模拟器状态（{exc}）；删除它即可重新开始",
                f"simulator state cannot be read ({exc}); delete it to start afresh",
            )) from None
        try:
            return HostImage.from_state(state, str(path))
        except ImageError as exc:
            raise ImageError([
                replace(issue, message=T(f"{issue.message.zh}；删除它即可重新开始", f"{issue.message.en}; delete it to start afresh"))
                for issue in exc.issues
            ]) from None

    def _persist(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        text = dump_state(self.image)
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=self.state_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.state_dir / STATE_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------ the one entry point
    def run(self, executable: str, arguments: list[str], stdin: bytes) -> ProcessResult:
        """Run one command as WinRM would; see the module docstring for what is accepted."""
        _exe, expected_args = command_line()
        name = executable.strip().strip('"')
        base = name.replace("/", "\\").rsplit("\\", 1)[-1].lower()
        if base not in ("powershell.exe", "powershell"):
            return ProcessResult("", NOT_RECOGNIZED.format(name=_shown_command(name, arguments)), 1)
        if list(arguments) != list(expected_args):
            return ProcessResult(
                "",
                "fleetcheck simulator: only the shipped fleetcheck bootstrap runs here "
                "(powershell.exe arguments differ from fleetcheck.agent.command_line()).\r\n",
                1,
            )
        try:
            agent, request = parse_payload(stdin)
        except PayloadError as exc:
            return ProcessResult("", f"fleetcheck bootstrap: {exc}\r\n", 2)
        shipped = agent_wire()
        if agent != shipped:
            where = next(
                (i for i, (a, b) in enumerate(zip(agent, shipped, strict=False)) if a != b),
                min(len(agent), len(shipped)),
            )
            return ProcessResult(
                "",
                f"fleetcheck simulator: the agent script differs from the shipped agent.ps1 (as sent) at byte {where} "
                f"({len(agent)} bytes received, {len(shipped)} shipped).\r\n",
                2,
            )
        with self._lock:
            response, work = execute(self.image, request, delegated=self.delegated_credentials)
            self.last_work = work
            self.requests += 1
            if request.actions:
                self._persist()
        stdout = json.dumps(
            response.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":")
        )
        return ProcessResult(stdout + "\r\n", "", 0, response.elapsed_ms)

    # ------------------------------------------------------------ helpers for tests and the demo
    def login(self, user: str) -> None:
        """``user`` (DOMAIN\\name or SID) logs on at the console: hive loaded, explorer running."""
        with self._lock:
            prof = self._find_profile(user)
            for other in self.image.profiles:
                other.console = False
            prof.loaded = prof.console = prof.interactive = True
            self._persist()

    def logout(self, user: str) -> None:
        """``user`` logs off: no session, hive unloaded (it stays on disk for the next logon)."""
        with self._lock:
            prof = self._find_profile(user)
            prof.loaded = prof.console = prof.interactive = False
            self._persist()

    def plug_usb(self, device_id: str) -> None:
        """A device appears (add its ``&MI_00`` child separately if it has one)."""
        with self._lock:
            if device_id.upper() not in (d.upper() for d in self.image.usb_devices):
                self.image.usb_devices.append(device_id)
            self._persist()

    def unplug(self, device_id: str) -> None:
        """A device and its interface children (``USB\\VID_x&PID_y&MI_nn\\...``) disappear.

        Children carry no link to their parent in their ID, so the children taken
        away are the ones listed after the parent (one per interface number),
        as images and :meth:`plug_usb` list them.
        """
        with self._lock:
            devices = self.image.usb_devices
            upper = device_id.upper()
            index = next((i for i, d in enumerate(devices) if d.upper() == upper), None)
            if index is None:
                return
            vid_pid = "\\".join(upper.split("\\")[:2])  # USB\VID_096E&PID_0807
            removed = {index}
            interfaces: set[str] = set()
            for position in range(index + 1, len(devices)):
                dev = devices[position].upper()
                if not dev.startswith(vid_pid + "&MI_"):
                    break  # the next device (or another token): its children are its own
                interface = dev.split("\\")[1]
                if interface not in interfaces:
                    interfaces.add(interface)
                    removed.add(position)
            self.image.usb_devices = [d for i, d in enumerate(devices) if i not in removed]
            self._persist()

    def reboot(self) -> None:
        """The PC restarts: scheduled reboots and pending-reboot markers are gone.

        Sessions are kept (trading PCs log the operator on automatically);
        call :meth:`logout` to model a PC left at the logon screen.
        """
        with self._lock:
            self.image.scheduled_reboots.clear()
            for task in self.image.scheduled_tasks.values():
                if task.get("kind") == "reboot" and task.get("result") is None:
                    task["booted_since"] = True  # when due, it sees the newer boot time and skips
            for marker in REBOOT_MARKERS:
                self.image.hklm.detach(marker)
            session = self.image.hklm.find(r"SYSTEM\CurrentControlSet\Control\Session Manager")
            if session is not None:
                session.delete("PendingFileRenameOperations")
            self.image.os = self.image.os.model_copy(update={"pending_reboot": False})
            self._persist()

    def time_reaches(self, when: datetime) -> list[tuple[str, str]]:
        """The PC's clock reaches ``when``: fleetcheck's reboot tasks that are due run.

        Each re-checks the guarded processes at that moment: one running -> the
        task skips (its ``result.txt`` says which process), no reboot; none ->
        the PC reboots (:meth:`reboot`). Returns ``(task, result line)`` per task.
        """
        with self._lock:
            ran = run_due_tasks(self.image, when)
            if any(line.startswith("REBOOTING") for _task, line in ran):
                self.reboot()
            self.image.now = max(self.image.now, when)
            self._persist()
            return ran

    def start_process(self, name: str, user: str | None = None) -> None:
        """A process starts (e.g. the operator opens the trading client)."""
        with self._lock:
            sid = self._find_profile(user).sid if user else None
            pid = 6000 + 4 * len(self.image.processes)
            self.image.processes.append(ProcessEntry(name, pid, sid))
            self._persist()

    def stop_process(self, name: str) -> None:
        """Every process of that image name ends."""
        with self._lock:
            low = name.lower()
            self.image.processes = [p for p in self.image.processes if p.name.lower() != low]
            self._persist()

    def visit_portal(self) -> list[str]:
        """The operator opens https://biz.sccc.com in IE: IE installs the missing controls.

        This is the guide's last step of an ActiveX repair (四): after fleetcheck
        deleted a stale registration and the PC rebooted, the operator opens the
        portal and IE reinstalls the control from the portal's CAB. For each of
        :data:`PORTAL_CONTROLS` that has no registration at all (machine, either
        view, or the operator's own hive), the control is registered in the
        32-bit view with the portal's current version, its file and its
        ``Distribution Units`` entry — exactly as the shipped compliant images
        carry it. A control that is registered (even a wrong version, even
        disabled) is left alone: IE does not replace a control it already has,
        which is why the stale one must be deleted first.

        Decisions: the controls land machine-wide (operators of trading PCs are
        local administrators, so IE installs CABs for the machine), installed on
        behalf of the operator logged on at the console. No effect (returns
        ``[]``) when nobody is logged on at the console, or when the PC cannot
        reach the portal (its ``biz.sccc.com:443`` endpoint is unreachable).
        Whether the fleetcheck-scheduled reboot happened first is not checked:
        call :meth:`reboot` before, as the operator would.

        Returns the CLSIDs installed.

        >>> host = SimulatedHost.from_image("win10-certenroll-old", {"hostname": "TRADE-PC01"})
        >>> host.visit_portal()  # the old CertEnroll is still registered: IE keeps it
        []
        """
        with self._lock:
            operator = next((p for p in self.image.profiles if p.loaded and p.console and p.interactive), None)
            endpoint = self.image.tcp.get("biz.sccc.com:443")
            if operator is None or endpoint is None or not endpoint.reachable or endpoint.refused:
                return []
            missing = {c: ax for c, ax in PORTAL_CONTROLS.items() if not self._registered(c, operator)}
            if missing:
                apply_software(self.image, {}, {}, {}, missing, "visit_portal")
                self._persist()
            return list(missing)

    def _registered(self, clsid: str, operator: UserProfile) -> bool:
        """A COM registration of ``clsid`` anywhere IE looks (what the activex check reads)."""
        machine = (rf"SOFTWARE\Classes\CLSID\{clsid}", rf"SOFTWARE\Classes\WOW6432Node\CLSID\{clsid}",
                   rf"SOFTWARE\WOW6432Node\Classes\CLSID\{clsid}")
        user = (rf"Software\Classes\CLSID\{clsid}", rf"Software\Classes\WOW6432Node\CLSID\{clsid}")
        return any(self.image.hklm.find(p + r"\InprocServer32") is not None for p in machine) or any(
            operator.hive.find(p + r"\InprocServer32") is not None for p in user)

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of registry, files, stores and devices, for exact before/after comparison."""
        with self._lock:
            return copy.deepcopy(self.image.to_state())

    def reload(self) -> None:
        """Re-read ``state_dir`` (another process or test changed it)."""
        with self._lock:
            state = self._load_state()
            if state is not None:
                self.image = state

    def _find_profile(self, user: str) -> Any:
        low = user.lower()
        for prof in self.image.profiles:
            if low in (prof.sid.lower(), (prof.user or "").lower()):
                return prof
        raise KeyError(f"no profile {user!r} on {self.image.os.hostname}")


def _shown_command(name: str, arguments: list[str]) -> str:
    """The word cmd.exe complains about: the program, or what follows ``cmd /c``."""
    base = name.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    if (
        base in ("cmd", "cmd.exe")
        and arguments
        and arguments[0].lower() in ("/c", "/k")
        and len(arguments) > 1
    ):
        return arguments[1].split()[0]
    if (
        base in ("cmd", "cmd.exe")
        and arguments
        and len(arguments[0]) > 2
        and arguments[0][:2].lower() in ("/c", "/k")
    ):
        return arguments[0][2:].strip().split()[0]
    return name
