"""Run the agent on one host over WinRM (pywinrm's ``Protocol``), within a deadline.

One :class:`AgentSession` per host probe, never shared between threads: the
NTLM/Kerberos security context and message-encryption sequence numbers live
in the requests session and are not thread-safe.

One probe is, on the wire (NTLM over HTTP with message encryption):

1-2. NTLM handshake (pywinrm's encryption setup): Negotiate → challenge,
     Authenticate; the Negotiate goes pre-emptively (ntlm.py), saving the
     anonymous 401 round trip requests_ntlm would make;
3.   Create (a cmd shell, code page 65001 so Chinese survives);
4.   Command (``powershell.exe … -EncodedCommand <bootstrap>``, cmd.exe skipped);
5-6. Send (stdin: agent + request, in chunks of at most 96 KB of base64, well
     below Windows 7's 150 KB MaxEnvelopeSize: two for the shipped agent);
7.   Receive (our own loop: long-polls until the command is Done, bounded by the
     deadline; pywinrm's own loop retries OperationTimeout forever);
8.   Delete (the shell; that ends its command and frees the WinRM quota).

Signal(terminate) is sent only when the command did not reach Done (error,
deadline, Ctrl-C): once a command is Done and its output fully read, deleting
the shell releases everything, so the extra round trip buys nothing. Cleanup
runs in ``finally`` with its own short, fixed budget so quotas never leak.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import requests
import spnego.exceptions
from winrm import transport as winrm_transport
from winrm.exceptions import (
    AuthenticationError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from fleetcheck.agent import AgentOutputError, build_payload, command_line, parse_output
from fleetcheck.agent.contract import ProbeRequest, ProbeResponse
from fleetcheck.inventory.model import HostSpec
from fleetcheck.loopback import is_loopback
from fleetcheck.transport.envelope import AgentProtocol
from fleetcheck.transport.errors import (
    AgentFailed,
    AuthRejected,
    BadOutput,
    Cancelled,
    ConfigurationError,
    QuotaExceeded,
    Refused,
    TimedOut,
    TlsError,
    TransportError,
    Unreachable,
    WsmanFault,
    message,
)
from fleetcheck.transport.ntlm import EagerNtlmTransport, ntlm_hash_credential

CODEPAGE_UTF8 = 65001
# Windows 7's MaxEnvelopeSizekb is 150; pywinrm base64-encodes stdin once more
# and message encryption adds a little: 72 KB raw → 96 KB base64 per Send.
SEND_CHUNK_BYTES = 72 * 1024
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
# Receive long-polls at most this long per request, so Ctrl-C and the deadline
# are noticed; a healthy agent answers in about a second.
RECEIVE_POLL_S = 10
CLEANUP_BUDGET_S = 5.0
MAX_RECEIVES = 10_000  # a hard bound on the output loop besides the deadline
STDERR_HEAD_LINES = 5

# WSManFault codes of the quota family (0x803381A4-0x803381AC: MaxShells,
# MaxOperations, MaxShellUsers, user/system quota, MaxCommandsPerShell...).
_QUOTA_CODES = frozenset(range(0x803381A4, 0x803381AD))
_OPERATION_TIMEOUT = 0x80338029


@dataclass(frozen=True)
class Deadline:
    """A point in ``time.monotonic()`` time after which the host is given up.

    >>> Deadline.after(120).remaining() <= 120
    True
    """

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()


def auth_unavailable(auth: str) -> str | None:
    """The extra to install when ``auth`` cannot work here, else None."""
    if auth == "kerberos" and not winrm_transport.HAVE_KERBEROS:
        return "kerberos"
    if auth == "credssp" and not winrm_transport.HAVE_CREDSSP:
        return "credssp"
    return None


LOOPBACK_ONLY_ENV = "FLEETCHECK_LOOPBACK_ONLY"


def _loopback_only_violation(address: str) -> bool:
    """True when ``FLEETCHECK_LOOPBACK_ONLY=1`` and ``address`` is not a loopback IP.

    A safety switch for development and the test suite (tests/conftest.py sets
    it): with it on, fleetcheck never opens a connection to anything but
    127.0.0.0/8 or ::1, even when handed a real inventory by mistake. Names are
    refused too (resolving them would already send a DNS query).
    """
    return os.environ.get(LOOPBACK_ONLY_ENV) == "1" and not is_loopback(address)


def _protocol(host: HostSpec) -> Protocol:
    endpoint = host.endpoint
    if _loopback_only_violation(host.address):
        raise ConfigurationError(message(
            f"{LOOPBACK_ONLY_ENV}=1：只允许连接回环地址（127.0.0.0/8），拒绝 {host.address}",
            f"{LOOPBACK_ONLY_ENV}=1: only loopback addresses (127.0.0.0/8) may be contacted; "
            f"{host.address} refused", endpoint))
    missing = auth_unavailable(host.auth)
    if missing:
        raise ConfigurationError(message(
            f"{host.auth} 认证需要额外组件：pip install 'fleetcheck[{missing}]'",
            f"{host.auth} authentication needs an extra: pip install 'fleetcheck[{missing}]'", endpoint))
    if host.auth == "basic" and host.effective_scheme != "https":
        raise ConfigurationError(message(
            "拒绝在明文 HTTP 上使用 Basic 认证（密码会以明文传输）；请改用 https 或 NTLM",
            "Basic authentication over plain HTTP refused (the password would travel in clear); "
            "use https or NTLM", endpoint))
    if not host.user or host.password is None:
        raise ConfigurationError(message(
            "缺少用户名或密码（ansible_user / ansible_password，或使用 --ask-pass）",
            "no user name or password (ansible_user / ansible_password, or --ask-pass)", endpoint))
    validate = host.cert_validation == "validate"
    protocol = AgentProtocol(
        endpoint=endpoint,
        transport=host.auth,
        username=host.user,
        password=host.password.get_secret_value(),
        server_cert_validation="validate" if validate else "ignore",
        ca_trust_path=host.ca_trust_path if validate else None,  # type: ignore[arg-type]
        message_encryption="auto",
        proxy=None,  # a WinRM probe never goes through an environment proxy
        read_timeout_sec=RECEIVE_POLL_S + 10,
        operation_timeout_sec=RECEIVE_POLL_S,
    )
    # Same object, one method more: NTLM over HTTP in two round trips (see ntlm.py).
    protocol.transport.__class__ = EagerNtlmTransport
    if host.auth == "ntlm":
        protocol.transport.password = ntlm_hash_credential(host.password.get_secret_value())
    return protocol


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    seen = 0
    node: BaseException | None = exc
    while node is not None and seen < 16:
        if isinstance(node, kinds):
            return True
        for arg in getattr(node, "args", ()):
            if isinstance(arg, kinds):
                return True
            inner = getattr(arg, "reason", None)
            if isinstance(inner, kinds):
                return True
        node = node.__cause__ or node.__context__
        seen += 1
    return False


def classify(exc: BaseException, endpoint: str) -> TransportError:
    """Map a pywinrm/requests/spnego exception to our typed error (never echoing secrets)."""
    if isinstance(exc, TransportError):
        return exc
    # Network-level causes first: a TLS failure wrapped by pywinrm is still a TLS failure.
    for family in (_network_error, _winrm_error):
        error = family(exc, endpoint)
        if error is not None:
            return error
    return TransportError(message(f"意外错误：{type(exc).__name__}", f"unexpected error: {type(exc).__name__}",
                                  endpoint))


def _network_error(exc: BaseException, endpoint: str) -> TransportError | None:
    """TLS, connect/read timeouts and broken connections (requests), or None."""
    if isinstance(exc, requests.exceptions.SSLError) or _caused_by(exc, (ssl.SSLError,)):
        return TlsError(message(
            "TLS 证书校验失败：请配置 ansible_winrm_ca_trust_path 指向签发该证书的 CA，"
            "或（仅限测试）ansible_winrm_server_cert_validation: ignore",
            "TLS certificate validation failed: point ansible_winrm_ca_trust_path at the issuing CA, "
            "or (testing only) set ansible_winrm_server_cert_validation: ignore", endpoint))
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Unreachable(message("连接超时：主机不可达或防火墙拦截了 WinRM 端口",
                                   "connection timed out: host down or the WinRM port is firewalled", endpoint))
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TimedOut(message("主机已连接但在时限内没有应答（WinRM 服务挂起？）",
                                "connected, but the host did not answer in time (WinRM service hung?)", endpoint))
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return Unreachable(message("连接在传输应答途中断开", "the connection broke while an answer was being sent",
                                   endpoint), transient=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _connection_error(exc, endpoint)
    return None


def _connection_error(exc: requests.exceptions.ConnectionError, endpoint: str) -> TransportError:
    """A connection that could not be made or broke: refused, reset, or anything else."""
    if _caused_by(exc, (ConnectionRefusedError,)):
        return Refused(message("连接被拒绝：WinRM 未启用或端口不对（winrm quickconfig；5985=http，5986=https）",
                               "connection refused: WinRM not enabled or wrong port "
                               "(winrm quickconfig; 5985=http, 5986=https)", endpoint))
    if _caused_by(exc, (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        return Unreachable(message("连接在交换中途被重置", "the connection was reset mid-exchange", endpoint),
                           transient=True)
    return Unreachable(message("无法连接主机（地址、DNS 或网络问题）",
                               "cannot connect (address, DNS or network problem)", endpoint))


def _winrm_error(exc: BaseException, endpoint: str) -> TransportError | None:
    """Rejected credentials, WS-Management faults and timeouts, malformed answers (pywinrm, spnego), or None."""
    if isinstance(exc, (AuthenticationError, spnego.exceptions.SpnegoError, PermissionError)):
        return AuthRejected(message("主机拒绝了凭据：请检查 ansible_user / 密码以及认证方式（ansible_winrm_transport）",
                                    "the host rejected the credentials: check ansible_user / the password "
                                    "and ansible_winrm_transport", endpoint))
    if isinstance(exc, WinRMOperationTimeoutError):
        return TimedOut(message("WS-Management 操作超时", "WS-Management operation timed out", endpoint),
                        transient=True)
    if isinstance(exc, WSManFaultError):
        return _fault(exc, endpoint)
    if isinstance(exc, WinRMTransportError):
        return WsmanFault(message(f"WinRM 返回 HTTP {exc.code}", f"WinRM answered HTTP {exc.code}", endpoint),
                          code=exc.code, transient=exc.code in (502, 503))
    if isinstance(exc, (ET.ParseError, StopIteration, ValueError, KeyError)):
        return WsmanFault(message("WS-Management 应答格式不正确", "malformed WS-Management response", endpoint))
    if isinstance(exc, WinRMError):
        return ConfigurationError(message(f"WinRM 配置错误：{type(exc).__name__}",
                                          f"WinRM configuration error: {exc}", endpoint))
    return None


def _fault(exc: WSManFaultError, endpoint: str) -> WsmanFault:
    code = exc.wsman_fault_code
    reason = (exc.reason or "").strip()[:300]
    low = reason.lower()
    if (code is not None and code in _QUOTA_CODES) or "quota" in low or "maximum number" in low:
        return QuotaExceeded(message(
            f"WinRM 配额已满（{reason}）：稍后重试，或提高 MaxShellsPerUser / MaxConcurrentOperationsPerUser",
            f"WinRM quota exceeded ({reason}): retry later, or raise MaxShellsPerUser / "
            "MaxConcurrentOperationsPerUser", endpoint), code=code, transient=True)
    if code == _OPERATION_TIMEOUT:
        return WsmanFault(message("WS-Management 操作超时", "WS-Management operation timed out", endpoint),
                          code=code, transient=True)
    shown = f"0x{code:08X}" if code is not None else f"HTTP {exc.code}"
    return WsmanFault(message(f"WS-Management 故障 {shown}：{reason}", f"WS-Management fault {shown}: {reason}",
                              endpoint), code=code if code is not None else exc.code)


_CLIXML_TEXT = re.compile(r'<S S="Error">(.*?)</S>', re.DOTALL)
_CLIXML_ESC = re.compile(r"_x([0-9A-Fa-f]{4})_")


def stderr_head(stderr: bytes, lines: int = STDERR_HEAD_LINES) -> str:
    """The first lines of the agent's stderr, CLIXML decoded (PowerShell over WinRM).

    >>> stderr_head(b'#< CLIXML\\r\\n<Objs><S S="Error">boom_x000D__x000A_</S></Objs>')
    'boom'
    """
    text = stderr.decode("utf-8", errors="replace")
    if text.lstrip().startswith("#< CLIXML"):
        parts = _CLIXML_TEXT.findall(text)
        text = "".join(_CLIXML_ESC.sub(lambda m: chr(int(m.group(1), 16)), p) for p in parts)
    kept = [line.rstrip() for line in text.splitlines() if line.strip()][:lines]
    return "\n".join(kept)[:2000]


class AgentSession:
    """One probe of one host: open a shell, run the agent, read its output, clean up.

    >>> # AgentSession(host, Deadline.after(120)).probe(request)  -> ProbeResponse
    """

    def __init__(self, host: HostSpec, deadline: Deadline, cancel: threading.Event | None = None) -> None:
        self.host = host
        self.deadline = deadline
        self.cancel = cancel
        self.endpoint = host.endpoint
        self._protocol: Protocol | None = None

    def probe(self, request: ProbeRequest) -> ProbeResponse:
        """Send ``request`` to the agent and return its validated answer."""
        stdout = self.run_agent(build_payload(request))
        try:
            return parse_output(stdout)
        except AgentOutputError as exc:
            raise BadOutput(message(f"代理输出无效：{exc.reason}", f"invalid agent output: {exc.reason}",
                                    self.endpoint)) from None

    def run_agent(self, payload: bytes) -> bytes:
        """Run the bootstrap with ``payload`` on stdin; the agent's stdout (exit code 0)."""
        try:
            protocol = self._protocol = _protocol(self.host)
        except Exception as exc:  # noqa: BLE001 - pywinrm validates options in its constructor
            raise classify(exc, self.endpoint) from None
        shell_id: str | None = None
        command_id: str | None = None
        done = False
        try:
            with self._step("Create"):
                shell_id = protocol.open_shell(codepage=CODEPAGE_UTF8, noprofile=True)
            executable, args = command_line()
            with self._step("Command"):
                command_id = protocol.run_command(shell_id, executable, args, console_mode_stdin=False,
                                                  skip_cmd_shell=True)
            chunks = [payload[i:i + SEND_CHUNK_BYTES] for i in range(0, len(payload), SEND_CHUNK_BYTES)] or [b""]
            for index, chunk in enumerate(chunks):
                with self._step("Send"):
                    protocol.send_command_input(shell_id, command_id, chunk, end=index == len(chunks) - 1)
            stdout, stderr, exit_code = self._receive(protocol, shell_id, command_id)
            done = True
        finally:
            self._cleanup(protocol, shell_id, command_id if not done else None)
        if exit_code != 0:
            head = stderr_head(stderr)
            raise AgentFailed(message(f"代理退出码 {exit_code}：{head or '（无错误输出）'}",
                                      f"agent exited with code {exit_code}: {head or '(no stderr)'}", self.endpoint),
                              exit_code=exit_code, stderr_head=head)
        return stdout

    def _receive(self, protocol: Protocol, shell_id: str, command_id: str) -> tuple[bytes, bytes, int]:
        out: list[bytes] = []
        err: list[bytes] = []
        size = 0
        for _ in range(MAX_RECEIVES):
            try:
                with self._step("Receive", poll=True):
                    stdout, stderr, exit_code, done = protocol.get_command_output_raw(shell_id, command_id)
            except TimedOut as exc:
                if exc.transient:  # OperationTimeout: no output yet, poll again (deadline-bounded)
                    continue
                raise
            out.append(stdout)
            err.append(stderr)
            size += len(stdout) + len(stderr)
            if size > MAX_OUTPUT_BYTES:
                raise BadOutput(message(f"代理输出超过 {MAX_OUTPUT_BYTES // 2**20} MB，已中止",
                                        f"agent output exceeds {MAX_OUTPUT_BYTES // 2**20} MB; aborted", self.endpoint))
            if done:
                return b"".join(out), b"".join(err), exit_code
        raise TimedOut(message("代理输出读取次数超过上限", "too many Receive rounds for the agent output", self.endpoint))

    @contextmanager
    def _step(self, name: str, poll: bool = False) -> Iterator[None]:
        """One WS-Management exchange under the deadline; exceptions become typed errors."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(message("已中断（Ctrl-C）", "interrupted (Ctrl-C)", self.endpoint))
        remaining = self.deadline.remaining()
        if remaining < 1.0:
            raise TimedOut(message(f"超过主机时限（{name} 之前）", f"host deadline passed (before {name})", self.endpoint))
        self._timeouts(self._protocol, remaining, poll)
        try:
            yield
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001 - every library failure becomes a typed, secret-free error
            raise classify(exc, self.endpoint) from None

    def _timeouts(self, protocol: Protocol | None, remaining: float, poll: bool) -> None:
        if protocol is None:
            return
        op = max(1, min(RECEIVE_POLL_S, int(remaining) - 1)) if poll else max(1, min(20, int(remaining) - 1))
        protocol.operation_timeout_sec = op
        # requests accepts (connect, read); pywinrm passes it through unchanged.
        read = max(1.0, min(remaining, op + 5.0))
        protocol.transport.read_timeout_sec = (min(CONNECT_TIMEOUT_S, remaining), read)  # type: ignore[assignment]

    def _cleanup(self, protocol: Protocol, shell_id: str | None, running_command: str | None) -> None:
        """Best effort, bounded: Signal a command still running, Delete the shell, close sockets."""
        budget = Deadline.after(CLEANUP_BUDGET_S)
        self._timeouts(protocol, CLEANUP_BUDGET_S, poll=False)
        try:
            # Best effort, bounded by the budget: any cleanup failure is dropped on
            # purpose, so that it never hides the real error of the probe.
            if shell_id is not None and running_command is not None and budget.remaining() > 1:
                with suppress(Exception):
                    protocol.cleanup_command(shell_id, running_command)
            if shell_id is not None and budget.remaining() > 1:
                with suppress(Exception):
                    protocol.close_shell(shell_id, close_session=False)
        finally:
            protocol.transport.close_session()


def probe_host(host: HostSpec, request: ProbeRequest, deadline: Deadline,
               cancel: threading.Event | None = None) -> ProbeResponse:
    """Probe one host once (no retries): the agent's validated answer, or a TransportError."""
    return AgentSession(host, deadline, cancel).probe(request)


__all__ = ["AgentSession", "Deadline", "auth_unavailable", "classify", "probe_host", "stderr_head"]
