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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fleetcheck.agent import PayloadError, agent_script, command_line, parse_payload
from fleetcheck.sim.executor import REBOOT_MARKERS, WorkReport, execute
from fleetcheck.sim.image import HostImage, ImageError, dump_state, instantiate

STATE_FILE = "state.json"
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
            raise ImageError(
                f"{path}: simulator state cannot be read ({exc}); delete it to start afresh"
            ) from None
        try:
            return HostImage.from_state(state)
        except ImageError as exc:
            raise ImageError(f"{path}: {exc}; delete it to start afresh") from None

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
        shipped = agent_script()
        if agent != shipped:
            where = next(
                (i for i, (a, b) in enumerate(zip(agent, shipped)) if a != b),
                min(len(agent), len(shipped)),
            )
            return ProcessResult(
                "",
                f"fleetcheck simulator: the agent script differs from the shipped agent.ps1 at byte {where} "
                f"({len(agent)} bytes received, {len(shipped)} shipped).\r\n",
                2,
            )
        with self._lock:
            response, work = execute(self.image, request)
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
            for marker in REBOOT_MARKERS:
                self.image.hklm.detach(marker)
            session = self.image.hklm.find(r"SYSTEM\CurrentControlSet\Control\Session Manager")
            if session is not None:
                session.delete("PendingFileRenameOperations")
            self.image.os = self.image.os.model_copy(update={"pending_reboot": False})
            self._persist()

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
