"""WS-Management / WinRS message handling for the simulator: what a Windows WinRM service answers.

This module knows SOAP, not HTTP: :class:`WinRSService` takes one decrypted SOAP
request and returns ``(http_status, soap_bytes)``. Transport, authentication and
message encryption live in :mod:`fleetcheck.sim.server`.

The answers copy the structure of real Windows answers recorded in
``shared/reference/winrm-captures/`` (same elements, namespace prefixes,
attributes, fault subcodes and ``WSManFault`` codes); ``tests/sim`` holds them
to it. Supported operations, as pywinrm sends them:

* ``transfer/Create`` of a ``windows/shell/cmd`` shell. The ``WINRS_CODEPAGE``
  option decides how process output becomes bytes: 65001 → UTF-8, 936 → GBK,
  437 (pywinrm's default) → code page 437, where every character the code page
  lacks becomes ``?`` as on Windows. Without the option the host's OEM code
  page applies (936 on Chinese Windows).
* ``shell/Command`` (Command + Arguments), ``shell/Send`` (base64 stdin chunks,
  ``End="true"`` closes stdin and starts the process), ``shell/Receive``,
  ``shell/Signal`` (terminate, ctrl_c), ``transfer/Delete``, and
  ``transfer/Get`` of ``wsman/1/config`` (what pypsrp asks to learn
  ``MaxEnvelopeSizekb``).
* When a command is Received without any Send, it runs with empty stdin (a
  real ``cmd.exe`` program does not wait for input; the agent's bootstrap then
  reports that its payload is missing).
* Receive answers at most what fits the client's ``MaxEnvelopeSize``; while the
  process has not finished within the client's ``OperationTimeout`` it answers
  the real ``w:TimedOut`` fault (WSManFault 2150858793), which pywinrm turns
  into ``WinRMOperationTimeoutError`` so the caller polls again.
* Unknown ShellId/CommandId → ``w:InvalidSelectors`` (2150858843); a Receive
  without CommandId → ``w:InvalidParameter`` (87); an invalid
  ``OperationTimeout`` → ``a:InvalidMessageInformationHeader`` (2150858767).
* Windows 7 (WinRM 2.0) quotas: a 6th concurrent shell of one user →
  ``w:QuotaLimit`` (2150859173). The request-size quota (MaxEnvelopeSizekb 150)
  is enforced by the HTTP layer, which answers HTTP 413 with no body, as
  WinRM's HTTP.sys listener does (the client reports "the request size
  exceeded the configured MaxEnvelopeSize quota").

Every value placed into XML is escaped; identifiers are generated here.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

from fleetcheck.sim.faults import FaultSpec, HostOutput, shape_output

# --------------------------------------------------------------------------- namespaces

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDR = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
RESOURCE_CONFIG = "http://schemas.microsoft.com/wbem/wsman/1/config"

ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ACTION_COMMAND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
ACTION_SEND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
ACTION_RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
ACTION_SIGNAL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"

STATE_RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
STATE_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
SIGNAL_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
SIGNAL_CTRL_C = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

# WSManFault codes seen on real Windows (see the captures).
CODE_TIMED_OUT = 2150858793
CODE_INVALID_SELECTORS = 2150858843
CODE_INVALID_HEADER = 2150858767
CODE_MAX_SHELLS = 2150859173
CODE_INVALID_PARAMETER = 87
CODE_ACTION_NOT_SUPPORTED = 2150858754
CODE_ACCESS_DENIED = 5  # ERROR_ACCESS_DENIED
CODE_FILE_NOT_FOUND = 2147942402  # HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)

STATUS_CONTROL_C_EXIT = -1073741510

# Room kept in every Receive envelope for the SOAP around the streams.
_ENVELOPE_OVERHEAD = 4096

# Namespace declarations of real answers, per answer kind (copied from the captures).
_NS_OPERATION = (
    'xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
)
_NS_RECEIVE = (
    'xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
)
_NS_DELETE = (
    'xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
)
_NS_GET = (
    'xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
)
_NS_FAULT = (
    'xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
)


# --------------------------------------------------------------------------- the process seam


class ProcessResultLike(Protocol):
    """What ``SimulatedHost.run`` returns (``fleetcheck.sim.host.ProcessResult``)."""

    stdout: str
    stderr: str
    exit_code: int
    agent_ms: int


class ProcessRunner(Protocol):
    """The simulated PC: runs one process to completion (``SimulatedHost`` satisfies it)."""

    def run(self, executable: str, arguments: list[str], stdin: bytes) -> ProcessResultLike: ...


# --------------------------------------------------------------------------- request parsing


class SoapFault(Exception):
    """A WS-Management fault to answer with HTTP 500 (structure as on Windows). Internal: the server's answer."""

    def __init__(
        self,
        code: str,
        subcode: str,
        reason: str,
        wsman_code: int,
        *,
        detail: str | None = None,
        message: str | None = None,
        provider: bool = False,
        action: str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.wsman_code = wsman_code
        self.detail = detail
        self.message = message if message is not None else reason
        self.provider = provider
        self.action = action


@dataclass(frozen=True)
class WsmanRequest:
    """The parts of one SOAP request the service needs."""

    action: str
    message_id: str
    resource_uri: str
    max_envelope_size: int
    operation_timeout_s: float
    selectors: dict[str, str]
    options: dict[str, str]
    body: ET.Element | None

    @property
    def shell_id(self) -> str | None:
        return self.selectors.get("ShellId")


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str) -> float | None:
    """xs:duration as WS-Management uses it (``PT20S``, ``PT60.000S``) in seconds, or None.

    >>> parse_duration("PT20S")
    20.0
    """
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = match.groups()
    return (
        int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    )


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def parse_request(soap: bytes, machine: str) -> WsmanRequest:
    """Parse a SOAP envelope; raise :class:`SoapFault` on a request Windows would reject."""
    try:
        root = ET.fromstring(soap)
    except ET.ParseError:
        raise SoapFault(
            "s:Sender",
            "w:SchemaValidationError",
            "The SOAP XML in the message does not match the corresponding XML schema definition. "
            "Change the XML and retry. ",
            2150858817,
        ) from None
    header = root.find(_q(NS_SOAP, "Header"))
    body_parent = root.find(_q(NS_SOAP, "Body"))
    if header is None:
        raise SoapFault(
            "s:Sender",
            "a:InvalidMessageInformationHeader",
            "The WS-Management service cannot process the request. "
            "The request contains one or more invalid SOAP headers. ",
            CODE_INVALID_HEADER,
            action="http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
        )

    def text(ns: str, name: str) -> str:
        node = header.find(_q(ns, name))
        return (node.text or "").strip() if node is not None else ""

    timeout_text = text(NS_WSMAN, "OperationTimeout") or "PT60S"
    timeout = parse_duration(timeout_text)
    if timeout is None or timeout <= 0:
        raise SoapFault(
            "s:Sender",
            "a:InvalidMessageInformationHeader",
            "The WS-Management service cannot process the request. "
            "The request contains one or more invalid SOAP headers. ",
            CODE_INVALID_HEADER,
            message="The WS-Management service cannot process the request. The XML contains an invalid "
            f"timeout field in the SOAP header: {timeout_text}. ",
            action="http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
        )
    try:
        max_env = int(text(NS_WSMAN, "MaxEnvelopeSize") or "153600")
    except ValueError:
        max_env = 153600
    selectors = {
        sel.get("Name", ""): (sel.text or "").strip()
        for sel in header.iter(_q(NS_WSMAN, "Selector"))
    }
    options = {
        opt.get("Name", ""): (opt.text or "").strip() for opt in header.iter(_q(NS_WSMAN, "Option"))
    }
    body = None
    if body_parent is not None and len(body_parent):
        body = body_parent[0]
    return WsmanRequest(
        action=text(NS_ADDR, "Action"),
        message_id=text(NS_ADDR, "MessageID"),
        resource_uri=text(NS_WSMAN, "ResourceURI"),
        max_envelope_size=max(max_env, 8192),
        operation_timeout_s=timeout,
        selectors=selectors,
        options=options,
        body=body,
    )


# --------------------------------------------------------------------------- answer building


def _header(action: str, relates_to: str) -> str:
    return (
        f"<s:Header><a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>{ANONYMOUS}</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
    )


def envelope(ns_decl: str, action: str, relates_to: str, body: str) -> bytes:
    """One SOAP answer: namespaces as Windows declares them, fresh MessageID, RelatesTo."""
    return (
        f"<s:Envelope {ns_decl}>{_header(action, relates_to)}<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault_envelope(fault: SoapFault, relates_to: str, machine: str) -> bytes:
    """A WSMan fault exactly shaped like the captured ones."""
    detail = f"<w:FaultDetail>{escape(fault.detail)}</w:FaultDetail>" if fault.detail else ""
    message = escape(fault.message)
    if fault.provider:
        message = (
            '<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">'
            f"{message}</f:ProviderFault>"
        )
    body = (
        "<s:Fault><s:Code>"
        f"<s:Value>{fault.code}</s:Value><s:Subcode><s:Value>{fault.subcode}</s:Value></s:Subcode>"
        f'</s:Code><s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
        f"<s:Detail>{detail}"
        f'<f:WSManFault xmlns:f="{NS_FAULT}" Code="{fault.wsman_code}" Machine={quoteattr(machine)}>'
        f"<f:Message>{message}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return envelope(_NS_FAULT, fault.action, relates_to or "uuid:00000000-0000-0000-0000-000000000000", body)


def timed_out_fault() -> SoapFault:
    text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
    return SoapFault("s:Receiver", "w:TimedOut", text, CODE_TIMED_OUT)


def unknown_command_fault() -> SoapFault:
    return SoapFault(
        "s:Sender",
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid "
        "selectors for the resource. ",
        CODE_INVALID_SELECTORS,
        detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
        message="The Windows Remote Shell received a request to perform an operation on a command "
        "identifier that does not exist. Either the command has completed execution or the client "
        "specified an invalid command identifier. ",
    )


def unknown_shell_fault(shell_id: str) -> SoapFault:
    return SoapFault(
        "s:Sender",
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid "
        "selectors for the resource. ",
        CODE_INVALID_SELECTORS,
        detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
        message=f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
        "shell was not found on the server. Possible causes are: the specified ShellId is incorrect or "
        "the shell no longer exists on the server. Provide the correct ShellId or create a new shell "
        "and retry the operation. ",
    )


def max_shells_fault(limit: int) -> SoapFault:
    return SoapFault(
        "s:Sender",
        "w:QuotaLimit",
        "The WS-Management service cannot process the request. The maximum number of concurrent shells "
        "for this user has been exceeded. Close existing shells or raise the quota for this user. ",
        CODE_MAX_SHELLS,
        message=f"The WS-Management service cannot process the request. This user is allowed a maximum "
        f"number of {limit} concurrent shells, which has been exceeded. Close existing shells or raise "
        "the quota for this user. ",
    )


def access_denied_fault() -> SoapFault:
    """What WinRM answers a Create from an account its plugin's SDDL does not admit (not an administrator)."""
    return SoapFault("s:Sender", "w:AccessDenied", "Access is denied. ", CODE_ACCESS_DENIED)


def file_not_found_fault() -> SoapFault:
    """CreateProcess of a program that does not exist (captured: test_winrs_no_cmd_shell.yml)."""
    return SoapFault("s:Receiver", "w:InternalError", "The system cannot find the file specified. ",
                     CODE_FILE_NOT_FOUND, provider=True)


def invalid_parameter_fault() -> SoapFault:
    return SoapFault(
        "s:Sender",
        "w:InvalidParameter",
        "The parameter is incorrect. ",
        CODE_INVALID_PARAMETER,
        detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue",
        provider=True,
    )


def internal_error_fault(reason: str, code: int) -> SoapFault:
    """The generic provider failure (the ``wsman_500`` fault injection uses it)."""
    return SoapFault("s:Receiver", "w:InternalError", reason, code, provider=True)


def action_not_supported_fault(action: str) -> SoapFault:
    return SoapFault(
        "s:Sender",
        "a:ActionNotSupported",
        "The action is not supported by the service. ",
        CODE_ACTION_NOT_SUPPORTED,
        message=f"The WS-Management service cannot process the request because the action {action} "
        "is not supported. ",
        action="http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
    )


# --------------------------------------------------------------------------- shells and commands


@dataclass
class Command:
    """One process started in a shell."""

    command_id: str
    executable: str
    arguments: list[str]
    stdin: bytearray = field(default_factory=bytearray)
    stdin_seen: bool = False
    started: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0
    out_pos: int = 0
    err_pos: int = 0
    delivered_done: bool = False


@dataclass
class Shell:
    shell_id: str
    owner: str
    codepage: int
    client_ip: str
    working_directory: str | None
    commands: dict[str, Command] = field(default_factory=dict)


@dataclass(frozen=True)
class HostProfile:
    """What the WinRM service of one simulated PC is like (from its image)."""

    machine: str  # the address clients use, shown in faults' Machine attribute
    endpoint_url: str  # e.g. http://127.0.1.5:5985/wsman
    os_version: str = "10.0.19045"
    oem_codepage: int = 936

    @property
    def is_winrm2(self) -> bool:
        """Windows 7 / 2008 R2: WinRM 2.0 quotas apply."""
        parts = self.os_version.split(".")
        try:
            return (int(parts[0]), int(parts[1])) <= (6, 1)
        except (ValueError, IndexError):
            return False

    @property
    def max_shells_per_user(self) -> int:
        return 5 if self.is_winrm2 else 30

    @property
    def max_envelope_kb(self) -> int:
        return 150 if self.is_winrm2 else 500


def _filtered_local_account(user: str) -> bool:
    """Whether UAC remote restrictions filter ``user``'s token: a local account, not the built-in Administrator.

    The NTLM principal of a local account has no domain (or ``.``); the
    built-in Administrator (RID 500, here by its default name) is exempt while
    FilterAdministratorToken is off, as by default.
    """
    domain, _, name = user.rpartition("\\")
    return domain in ("", ".") and name.lower() != "administrator"


@dataclass
class ReceiveReply:
    """A Receive answer, kept apart so the HTTP layer can cut it (reset_mid_receive)."""

    soap: bytes


class WinRSService:
    """The Windows Remote Shell service of one simulated PC.

    Runs inside the simulator's event loop; processes run on ``executor``.
    ``host_factory`` returns the simulated PC on first use (instantiating an
    image can be slow; an office of 500 PCs must start fast).
    """

    def __init__(
        self,
        profile: HostProfile,
        host_factory: Callable[[], ProcessRunner],
        faults: FaultSpec,
        executor: Executor,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.profile = profile
        self._host_factory = host_factory
        self.faults = faults
        self._executor = executor
        self._clock = clock
        self.shells: dict[str, Shell] = {}
        self.processes_started = 0

    # ---------------------------------------------------------------- entry point

    async def handle(self, soap: bytes, user: str, client_ip: str) -> tuple[int, bytes, bool]:
        """Answer one SOAP request: (HTTP status, SOAP bytes, is a Receive with output)."""
        relates = ""
        try:
            req = parse_request(soap, self.profile.machine)
            relates = req.message_id
            if self.faults.wsman_500:
                raise internal_error_fault(
                    "The WS-Management service cannot process the request. The WMI service or the WMI "
                    "provider returned an unknown error: HRESULT 0x80041033 ",
                    2150859193,
                )
            if req.action == ACTION_RECEIVE:
                reply = await self._receive(req)
                return 200, reply.soap, True
            return 200, await self._dispatch(req, user, client_ip), False
        except SoapFault as fault:
            return 500, fault_envelope(fault, relates, self.profile.machine), False

    async def _dispatch(self, req: WsmanRequest, user: str, client_ip: str) -> bytes:
        if req.action == ACTION_GET and req.resource_uri.startswith(RESOURCE_CONFIG):
            return self._get_config(req)
        if req.resource_uri and req.resource_uri != RESOURCE_CMD:
            raise action_not_supported_fault(req.action)
        if req.action == ACTION_CREATE:
            return self._create(req, user, client_ip)
        if req.action == ACTION_COMMAND:
            return self._command(req)
        if req.action == ACTION_SEND:
            return self._send(req)
        if req.action == ACTION_SIGNAL:
            return self._signal(req)
        if req.action == ACTION_DELETE:
            return self._delete(req)
        raise action_not_supported_fault(req.action)

    # ---------------------------------------------------------------- operations

    def _shell(self, req: WsmanRequest) -> Shell:
        shell_id = req.shell_id or ""
        shell = self.shells.get(shell_id.upper())
        if shell is None:
            raise unknown_shell_fault(shell_id)
        return shell

    def _create(self, req: WsmanRequest, user: str, client_ip: str) -> bytes:
        if self.faults.access_denied or (self.faults.token_filtering and _filtered_local_account(user)):
            raise access_denied_fault()
        owned = self.faults.shells_in_use + sum(1 for s in self.shells.values() if s.owner.lower() == user.lower())
        if owned >= self.profile.max_shells_per_user:
            raise max_shells_fault(self.profile.max_shells_per_user)
        codepage = self.profile.oem_codepage
        if "WINRS_CODEPAGE" in req.options:
            try:
                codepage = int(req.options["WINRS_CODEPAGE"])
            except ValueError:
                raise invalid_parameter_fault() from None
        body = req.body
        workdir = None
        if body is not None:
            node = body.find(_q(NS_SHELL, "WorkingDirectory"))
            workdir = node.text if node is not None else None
        shell_id = str(uuid.uuid4()).upper()
        self.shells[shell_id] = Shell(shell_id, user, codepage, client_ip, workdir)
        address = escape(self.profile.endpoint_url)
        wd = f"<rsp:WorkingDirectory>{escape(workdir)}</rsp:WorkingDirectory>" if workdir else ""
        owner = escape(user.rsplit("\\", maxsplit=1)[-1] if user.startswith(".\\") else user)
        out = (
            f"<x:ResourceCreated><a:Address>{address}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{RESOURCE_CMD}</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
            f"</a:ReferenceParameters></x:ResourceCreated>"
            f'<rsp:Shell xmlns:rsp="{NS_SHELL}"><rsp:ShellId>{shell_id}</rsp:ShellId>'
            f"<rsp:ResourceUri>{RESOURCE_CMD}</rsp:ResourceUri><rsp:Owner>{owner}</rsp:Owner>"
            f"<rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP>{wd}"
            "<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>"
            "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
            "<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
        )
        return envelope(_NS_OPERATION, ACTION_CREATE + "Response", req.message_id, out)

    def _command(self, req: WsmanRequest) -> bytes:
        shell = self._shell(req)
        body = req.body
        if body is None or body.tag != _q(NS_SHELL, "CommandLine"):
            raise invalid_parameter_fault()
        exe_node = body.find(_q(NS_SHELL, "Command"))
        executable = (exe_node.text or "").strip() if exe_node is not None else ""
        arguments: list[str] = []
        for node in body.findall(_q(NS_SHELL, "Arguments")):
            # pywinrm joins all arguments into one element; split like a command line would.
            arguments.extend((node.text or "").split())
        if self.faults.powershell_missing and executable.lower().rsplit("\\", 1)[-1] in ("powershell", "powershell.exe"):
            raise file_not_found_fault()
        command_id = str(uuid.uuid4()).upper()
        shell.commands[command_id] = Command(command_id, executable, arguments)
        out = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
        return envelope(_NS_OPERATION, ACTION_COMMAND + "Response", req.message_id, out)

    def _find_command(self, shell: Shell, command_id: str | None) -> Command:
        cmd = shell.commands.get((command_id or "").upper())
        if cmd is None:
            raise unknown_command_fault()
        return cmd

    def _send(self, req: WsmanRequest) -> bytes:
        shell = self._shell(req)
        body = req.body
        stream = body.find(_q(NS_SHELL, "Stream")) if body is not None else None
        if stream is None:
            raise invalid_parameter_fault()
        cmd = self._find_command(shell, stream.get("CommandId"))
        if cmd.started:
            # stdin is closed once End was sent; Windows rejects further input.
            raise invalid_parameter_fault()
        try:
            cmd.stdin += base64.b64decode((stream.text or "").strip(), validate=False)
        except ValueError:
            raise invalid_parameter_fault() from None
        cmd.stdin_seen = True
        if (stream.get("End") or "").lower() == "true":
            self._start(shell, cmd)
        return envelope(_NS_OPERATION, ACTION_SEND + "Response", req.message_id, "<rsp:SendResponse/>")

    def _signal(self, req: WsmanRequest) -> bytes:
        shell = self._shell(req)
        body = req.body
        if body is None:
            raise invalid_parameter_fault()
        cmd = self._find_command(shell, body.get("CommandId"))
        code_node = body.find(_q(NS_SHELL, "Code"))
        code = (code_node.text or "").strip() if code_node is not None else ""
        if code == SIGNAL_TERMINATE:
            if cmd.task is not None:
                cmd.task.cancel()
            shell.commands.pop(cmd.command_id, None)
        elif code == SIGNAL_CTRL_C and not cmd.done.is_set():
            if cmd.task is not None:
                cmd.task.cancel()
            cmd.exit_code = STATUS_CONTROL_C_EXIT
            cmd.started = True
            cmd.done.set()
        return envelope(_NS_OPERATION, ACTION_SIGNAL + "Response", req.message_id, "<rsp:SignalResponse/>")

    def _delete(self, req: WsmanRequest) -> bytes:
        shell = self._shell(req)
        for cmd in shell.commands.values():
            if cmd.task is not None:
                cmd.task.cancel()
        self.shells.pop(shell.shell_id, None)
        return envelope(_NS_DELETE, ACTION_DELETE + "Response", req.message_id, "")

    def _get_config(self, req: WsmanRequest) -> bytes:
        kb = self.profile.max_envelope_kb
        shells = self.profile.max_shells_per_user if self.profile.is_winrm2 else 2147483647
        body = (
            f'<cfg:Config xmlns:cfg="{RESOURCE_CONFIG}"><cfg:MaxEnvelopeSizekb>{kb}</cfg:MaxEnvelopeSizekb>'
            "<cfg:MaxTimeoutms>60000</cfg:MaxTimeoutms><cfg:MaxBatchItems>32000</cfg:MaxBatchItems>"
            "<cfg:MaxProviderRequests>4294967295</cfg:MaxProviderRequests>"
            "<cfg:Service><cfg:AllowUnencrypted>false</cfg:AllowUnencrypted>"
            "<cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts>"
            "</cfg:Service><cfg:Winrs><cfg:AllowRemoteShellAccess>true</cfg:AllowRemoteShellAccess>"
            "<cfg:IdleTimeout>7200000</cfg:IdleTimeout>"
            f"<cfg:MaxMemoryPerShellMB>{150 if self.profile.is_winrm2 else 2147483647}</cfg:MaxMemoryPerShellMB>"
            f"<cfg:MaxShellsPerUser>{shells}</cfg:MaxShellsPerUser></cfg:Winrs></cfg:Config>"
        )
        return envelope(_NS_GET, ACTION_GET + "Response", req.message_id, body)

    # ---------------------------------------------------------------- processes

    def _start(self, shell: Shell, cmd: Command) -> None:
        if cmd.started:
            return
        cmd.started = True
        self.processes_started += 1
        cmd.task = asyncio.get_running_loop().create_task(self._run(shell, cmd))

    async def _run(self, shell: Shell, cmd: Command) -> None:
        loop = asyncio.get_running_loop()
        began = self._clock()
        try:
            host = self._host_factory()
            result: Any = await loop.run_in_executor(
                self._executor, host.run, cmd.executable, list(cmd.arguments), bytes(cmd.stdin)
            )
            output = HostOutput(result.stdout, result.stderr, int(result.exit_code))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken image must not take the service down
            output = HostOutput("", f"fleetcheck simulator: host failed: {type(exc).__name__}\r\n", 1)
        stdout, stderr, exit_code = shape_output(output, shell.codepage, self.faults)
        # Charge PowerShell start-up and a slow agent as wall time, like a real PC.
        charge = self.faults.agent_ms / 1000.0 + self.faults.slow_agent_s
        remaining = charge - (self._clock() - began)
        if remaining > 0:
            await asyncio.sleep(remaining)
        cmd.stdout, cmd.stderr, cmd.exit_code = stdout, stderr, exit_code
        cmd.done.set()

    async def _receive(self, req: WsmanRequest) -> ReceiveReply:
        shell = self._shell(req)
        body = req.body
        stream = body.find(_q(NS_SHELL, "DesiredStream")) if body is not None else None
        if stream is None or not stream.get("CommandId"):
            raise invalid_parameter_fault()
        cmd = self._find_command(shell, stream.get("CommandId"))
        if not cmd.started:
            self._start(shell, cmd)
        if not cmd.done.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(cmd.done.wait()), req.operation_timeout_s)
            except asyncio.TimeoutError:
                raise timed_out_fault() from None
        return ReceiveReply(self._receive_body(req, cmd))

    def _receive_body(self, req: WsmanRequest, cmd: Command) -> bytes:
        # base64 grows 4/3; keep the envelope under the client's MaxEnvelopeSize.
        budget = max(1024, (req.max_envelope_size - _ENVELOPE_OVERHEAD) * 3 // 4)
        cid = cmd.command_id
        parts: list[str] = []
        out = cmd.stdout[cmd.out_pos : cmd.out_pos + budget]
        cmd.out_pos += len(out)
        budget -= len(out)
        if out:
            parts.append(
                f'<rsp:Stream Name="stdout" CommandId="{cid}">{base64.b64encode(out).decode()}</rsp:Stream>'
            )
        err = cmd.stderr[cmd.err_pos : cmd.err_pos + max(budget, 0)]
        cmd.err_pos += len(err)
        if err:
            parts.append(
                f'<rsp:Stream Name="stderr" CommandId="{cid}">{base64.b64encode(err).decode()}</rsp:Stream>'
            )
        finished = cmd.out_pos >= len(cmd.stdout) and cmd.err_pos >= len(cmd.stderr)
        if finished:
            parts.append(f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>')
            parts.append(f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>')
            parts.append(
                f'<rsp:CommandState CommandId="{cid}" State="{STATE_DONE}">'
                f"<rsp:ExitCode>{cmd.exit_code}</rsp:ExitCode></rsp:CommandState>"
            )
            cmd.delivered_done = True
        else:
            parts.append(f'<rsp:CommandState CommandId="{cid}" State="{STATE_RUNNING}"></rsp:CommandState>')
        out_xml = "<rsp:ReceiveResponse>" + "".join(parts) + "</rsp:ReceiveResponse>"
        return envelope(_NS_RECEIVE, ACTION_RECEIVE + "Response", req.message_id, out_xml)

    def close(self) -> None:
        """Cancel every running process (server shutdown)."""
        for shell in self.shells.values():
            for cmd in shell.commands.values():
                if cmd.task is not None:
                    cmd.task.cancel()
        self.shells.clear()
