"""HTTP(S) listeners of the simulated PCs: one event loop, many loopback addresses.

:class:`WsmanServer` runs one asyncio event loop in a background thread. Every
simulated PC (:class:`Endpoint`) listens on its own loopback address
(``127.0.x.y``; Linux routes all of 127/8 to ``lo``) on 5985 (HTTP) or 5986
(HTTPS). The loop accepts on every socket, parses HTTP, authenticates and
de/encrypts; the simulated processes run on a small bounded thread pool. So a
1,000-PC office costs 1,000 listening sockets, not 1,000 threads. Every answer
is sent with one write on a ``TCP_NODELAY`` socket (Nagle + delayed ACK on
loopback would otherwise add 40 ms) and connections are kept alive, as WinRM
does (NTLM authenticates the connection, not the request).

Authentication, as a default Windows WinRM service configures it:

* **Negotiate/NTLM** (pyspnego's acceptor) on HTTP and HTTPS. One context per
  TCP connection; the handshake runs on POSTs (pywinrm sends an empty body
  first), then on HTTP every SOAP body must be encrypted
  (``multipart/encrypted``, ``application/HTTP-SPNEGO-session-encrypted``,
  ``--Encrypted Boundary``, length-prefixed signature) — plain SOAP on HTTP is
  refused with 401 (``AllowUnencrypted=false``). Over HTTPS the channel binding
  (``tls-server-end-point``) is checked.
* **Basic** only over HTTPS and only on hosts whose office entry says
  ``transport: basic``.
* Wrong credentials → 401 (pywinrm raises ``InvalidCredentialsError``).

pyspnego's NTLM acceptor reads account hashes from the file named by
``NTLM_USER_FILE``. Each simulated PC has its own accounts, so the simulator
writes one smbpasswd-format file per PC (NT hashes, no plain passwords, mode
0600) and points pyspnego at the right one for the duration of each handshake
step, via a small thread-local hook installed once (the event loop thread is
the only one doing NTLM steps).

Limits: request headers 64 KiB; bodies 32 MiB (HTTP 413 beyond). A request
SOAP bigger than the host's MaxEnvelopeSizekb (150 on Windows 7) → HTTP 413
with no body, as WinRM's listener answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import logging
import os
import socket
import ssl
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import spnego
import spnego._ntlm as _spnego_ntlm
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from fleetcheck.sim.faults import FaultSpec
from fleetcheck.sim.tls import ServerCredentials
from fleetcheck.sim.wsman import WinRSService

log = logging.getLogger(__name__)

Scheme = Literal["http", "https"]
Transport = Literal["ntlm", "basic"]

MAX_HEADER_BYTES = 65536
MAX_BODY_BYTES = 32 * 1024 * 1024
IDLE_TIMEOUT_S = 120.0
MAX_REQUESTS_PER_CONNECTION = 100_000

ENCRYPTED_PROTOCOL = b"application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"

# --------------------------------------------------------------------------- NTLM account files

_ntlm_local = threading.local()
_original_credential_file = _spnego_ntlm._get_credential_file
_hook_lock = threading.Lock()


def _simulated_credential_file() -> str | None:
    path = getattr(_ntlm_local, "path", None)
    return path if path else _original_credential_file()


def _install_ntlm_hook() -> None:
    with _hook_lock:
        if _spnego_ntlm._get_credential_file is not _simulated_credential_file:
            _spnego_ntlm._get_credential_file = _simulated_credential_file


def write_ntlm_accounts(path: Path, username: str, password: str) -> None:
    """Write a pyspnego (smbpasswd format) account file for one simulated PC.

    A local account (``admin``, ``.\\admin`` or ``HOST\\admin``) is also
    accepted with an empty or ``.`` domain, as Windows accepts it.
    """
    domain, _, user = username.rpartition("\\")
    lm = lmowfv1(password).hex().upper()
    nt = ntowfv1(password).hex().upper()
    names = {f"{domain}\\{user}" if domain else user}
    if domain in ("", "."):
        names |= {user, f".\\{user}"}
    lines = [f"{name}:1000:{lm}:{nt}:[U]:LCT-00000000" for name in sorted(names)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- endpoints


@dataclass
class Endpoint:
    """One simulated PC's WinRM listener."""

    name: str
    address: str
    port: int
    scheme: Scheme
    transport: Transport
    username: str
    password: str = field(repr=False)
    faults: FaultSpec
    service: WinRSService
    ntlm_accounts: Path
    max_envelope_kb: int = 500
    wire: list[bytes] | None = None  # raw requests as received, when recording (tests)
    # A certificate of its own instead of the office's (the tls_name_mismatch fault).
    credentials: ServerCredentials | None = None

    def basic_allowed(self) -> bool:
        return self.scheme == "https" and self.transport == "basic"

    def check_password(self, username: str, password: str) -> bool:
        want_domain, _, want_user = self.username.rpartition("\\")
        domain, _, user = username.rpartition("\\")
        if user.lower() != want_user.lower() or password != self.password:
            return False
        return domain.lower() == want_domain.lower() or (domain in ("", ".") and want_domain in ("", "."))


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    raw: bytes


@dataclass
class _Connection:
    peer: str
    ntlm: Any = None  # spnego context while handshaking / once done
    ntlm_user: str | None = None
    channel_bindings: GssChannelBindings | None = None


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    cut_in_half: bool = False


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 411: "Length Required",
            413: "Request Entity Too Large", 500: "Internal Server Error"}


class WsmanServer:
    """All listeners of one office, served by one event loop in a background thread.

    >>> server = WsmanServer(endpoints, credentials)  # doctest: +SKIP
    >>> server.start(); ...; server.stop()             # doctest: +SKIP
    """

    def __init__(
        self,
        endpoints: list[Endpoint],
        credentials: ServerCredentials | None,
        *,
        workers: int = 4,
    ) -> None:
        _install_ntlm_hook()
        self.endpoints = endpoints
        self._credentials = credentials
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleetcheck-sim")
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping: asyncio.Event | None = None
        self._cbt: GssChannelBindings | None = None
        self._own_cbt: dict[str, GssChannelBindings] = {}  # endpoints with their own certificate
        self.requests_served = 0

    # ---------------------------------------------------------------- lifecycle

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self, timeout: float = 60.0) -> None:
        """Bind every listener; returns once all accept connections (raises OSError if one cannot)."""
        self._thread = threading.Thread(target=self._loop.run_forever, name="fleetcheck-sim-loop", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._bind_all(), self._loop)
        try:
            future.result(timeout)
        except BaseException:
            self.stop()
            raise

    async def _bind_all(self) -> None:
        self._stopping = asyncio.Event()
        ssl_ctx: ssl.SSLContext | None = None
        if any(e.scheme == "https" for e in self.endpoints):
            if self._credentials is None:
                raise ValueError("HTTPS endpoints need server credentials")
            ssl_ctx = self._credentials.ssl_context()
            digest = hashlib.sha256(self._credentials.certificate_der()).digest()
            self._cbt = GssChannelBindings(application_data=b"tls-server-end-point:" + digest)
        for endpoint in self.endpoints:
            endpoint_ctx = ssl_ctx
            if endpoint.scheme == "https" and endpoint.credentials is not None:
                endpoint_ctx = endpoint.credentials.ssl_context()
                own = hashlib.sha256(endpoint.credentials.certificate_der()).digest()
                self._own_cbt[endpoint.name] = GssChannelBindings(application_data=b"tls-server-end-point:" + own)
            server = await asyncio.start_server(
                functools.partial(self._serve_connection, endpoint),
                host=endpoint.address,
                port=endpoint.port,
                ssl=endpoint_ctx if endpoint.scheme == "https" else None,
                reuse_address=True,
                limit=MAX_HEADER_BYTES,
                backlog=256,
            )
            self._servers.append(server)

    def stop(self, timeout: float = 10.0) -> None:
        """Close listeners and connections, cancel running processes; bounded by ``timeout``."""
        if self._thread is None or not self._loop.is_running():
            self.executor.shutdown(wait=False, cancel_futures=True)
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(timeout)
        except Exception:  # noqa: BLE001 - a stuck shutdown must not block the caller forever
            log.warning("simulator shutdown did not finish in %.0f s", timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._thread = None

    async def _shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for endpoint in self.endpoints:
            endpoint.service.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3)
        self._servers.clear()

    # ---------------------------------------------------------------- connections

    async def _serve_connection(
        self, endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        conn = _Connection(peer=str(peer[0]) if peer else "127.0.0.1", channel_bindings=None)
        if endpoint.scheme == "https":
            conn.channel_bindings = self._own_cbt.get(endpoint.name, self._cbt)
        self._writers.add(writer)
        try:
            if endpoint.faults.hang:
                assert self._stopping is not None
                await self._stopping.wait()
                return
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                request = await self._read_request(reader)
                if request is None:
                    return
                if endpoint.wire is not None:
                    endpoint.wire.append(request.raw)
                if endpoint.faults.latency_ms:
                    await asyncio.sleep(endpoint.faults.latency_ms / 1000.0)
                reply = await self._respond(endpoint, conn, request)
                self.requests_served += 1
                data = self._render(reply)
                if reply.cut_in_half:
                    writer.write(data[: len(data) // 2])
                    await writer.drain()
                    writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()
                if request.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError,
                asyncio.TimeoutError, ValueError):
            return
        except asyncio.CancelledError:
            # Server shutdown: end quietly (asyncio's stream callback would log a cancelled task).
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request | None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = [*lines[0].split(" "), "", ""][:3]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise ValueError("chunked requests are not supported")
        length = int(headers.get("content-length", "0") or "0")
        if length < 0 or length > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        body = await asyncio.wait_for(reader.readexactly(length), IDLE_TIMEOUT_S) if length else b""
        return _Request(method, path, headers, body, head + body)

    @staticmethod
    def _render(reply: _Reply) -> bytes:
        lines = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Error')}", "Server: Microsoft-HTTPAPI/2.0"]
        lines += [f"{k}: {v}" for k, v in reply.headers]
        lines.append(f"Content-Length: {len(reply.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body

    # ---------------------------------------------------------------- one exchange

    def _challenge(self, endpoint: Endpoint) -> _Reply:
        headers = [("WWW-Authenticate", "Negotiate")]
        if endpoint.basic_allowed():
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return _Reply(401, headers=headers)

    async def _respond(self, endpoint: Endpoint, conn: _Connection, request: _Request) -> _Reply:
        if request.method != "POST":
            return _Reply(405 if request.path.lower().startswith("/wsman") else 404)
        if request.path.split("?")[0].lower() != "/wsman":
            return _Reply(404)
        user = self._authenticate(endpoint, conn, request)
        if isinstance(user, _Reply):
            return user
        content_type = request.headers.get("content-type", "")
        encrypted = content_type.lower().startswith("multipart/encrypted")
        soap = self._soap_of(endpoint, conn, request, encrypted)
        if isinstance(soap, _Reply):
            return soap
        if len(soap) > endpoint.max_envelope_kb * 1024:
            return _Reply(413)
        status, answer, is_receive = await endpoint.service.handle(soap, user, conn.peer)
        cut = endpoint.faults.reset_mid_receive and is_receive and status == 200 and b'Name="stdout"' in answer
        if encrypted:
            body = self._encrypt(conn, answer)
            ctype = 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'
        else:
            body = answer
            ctype = "application/soap+xml;charset=UTF-8"
        return _Reply(status, body, [("Content-Type", ctype)], cut_in_half=cut)

    def _authenticate(self, endpoint: Endpoint, conn: _Connection, request: _Request) -> str | _Reply:
        """The authenticated user name ("" when NTLM names none), or the reply that refuses or continues."""
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        scheme_l = scheme.lower()
        if scheme_l in ("negotiate", "ntlm"):
            reply = self._ntlm_step(endpoint, conn, scheme, token.strip())
            return reply if reply is not None else conn.ntlm_user or ""
        if scheme_l == "basic":
            user = self._basic_user(endpoint, token.strip())
            return user if user is not None else self._challenge(endpoint)
        if conn.ntlm is not None and conn.ntlm_user is not None:
            return conn.ntlm_user
        return self._challenge(endpoint)

    @staticmethod
    def _basic_user(endpoint: Endpoint, token: str) -> str | None:
        """The user of a Basic ``Authorization`` header, or None when it is refused."""
        if not endpoint.basic_allowed() or endpoint.faults.unauthorized:
            return None
        try:
            username, _, password = base64.b64decode(token).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return username if endpoint.check_password(username, password) else None

    def _soap_of(self, endpoint: Endpoint, conn: _Connection, request: _Request, encrypted: bool) -> bytes | _Reply:
        """The SOAP envelope of an authenticated request (decrypted), or the reply to send instead."""
        if encrypted:
            if conn.ntlm_user is None:
                return self._challenge(endpoint)
            try:
                return self._decrypt(conn, request.body)
            except (ValueError, SpnegoError, struct.error):
                return _Reply(400)
        if not request.body:
            return _Reply(200)  # end of the NTLM handshake (pywinrm's empty POST)
        if endpoint.scheme == "http":
            # AllowUnencrypted=false: plain SOAP over HTTP is refused.
            return self._challenge(endpoint)
        return request.body

    def _ntlm_step(self, endpoint: Endpoint, conn: _Connection, scheme: str, token_b64: str) -> _Reply | None:
        """Advance the connection's NTLM handshake; None once authenticated (go on with the body)."""
        try:
            token = base64.b64decode(token_b64)
        except ValueError:
            return self._challenge(endpoint)
        msg_type = struct.unpack("<I", token[8:12])[0] if len(token) >= 12 else 0
        _ntlm_local.path = str(endpoint.ntlm_accounts)
        try:
            if msg_type == 1:
                conn.ntlm = spnego.server(
                    hostname=endpoint.address,
                    service="http",
                    protocol="ntlm",
                    options=spnego.NegotiateOptions.use_ntlm,
                    channel_bindings=conn.channel_bindings,
                )
                conn.ntlm_user = None
                challenge = conn.ntlm.step(token) or b""
                return _Reply(401, headers=[("WWW-Authenticate", f"{scheme} {base64.b64encode(challenge).decode()}")])
            if msg_type == 3 and conn.ntlm is not None and conn.ntlm_user is None:
                if endpoint.faults.unauthorized:
                    raise SpnegoError(context_msg="simulated: credentials always rejected")
                conn.ntlm.step(token)
                principal = conn.ntlm.client_principal or ""
                conn.ntlm_user = principal
                return None
        except (SpnegoError, ValueError, struct.error):
            conn.ntlm = None
            conn.ntlm_user = None
            return self._challenge(endpoint)
        finally:
            _ntlm_local.path = None
        conn.ntlm = None
        conn.ntlm_user = None
        return self._challenge(endpoint)

    @staticmethod
    def _decrypt(conn: _Connection, body: bytes) -> bytes:
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        if len(parts) < 2:
            raise ValueError("not a multipart/encrypted body")
        out = b""
        for i in range(0, len(parts) - 1, 2):
            header, payload = parts[i], parts[i + 1]
            if b"Length=" not in header:
                raise ValueError("missing OriginalContent length")
            expected = int(header.split(b"Length=")[1].split(b"\r\n")[0])
            payload = payload.removesuffix(BOUNDARY + b"--\r\n")
            prefix = b"\tContent-Type: application/octet-stream\r\n"
            if not payload.startswith(prefix):
                raise ValueError("missing octet-stream part")
            data = payload[len(prefix):]
            sig_len = struct.unpack("<i", data[:4])[0]
            signature, sealed = data[4 : 4 + sig_len], data[4 + sig_len :]
            plain: bytes = conn.ntlm.unwrap(signature + sealed).data
            if len(plain) != expected:
                raise ValueError("encrypted length does not match")
            out += plain
        return out

    @staticmethod
    def _encrypt(conn: _Connection, message: bytes) -> bytes:
        wrapped: bytes = conn.ntlm.wrap(message, encrypt=True).data
        signature, sealed = wrapped[:16], wrapped[16:]
        return (
            BOUNDARY + b"\r\n"
            b"\tContent-Type: " + ENCRYPTED_PROTOCOL + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(message)).encode() + b"\r\n"
            + BOUNDARY + b"\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", len(signature)) + signature + sealed
            + BOUNDARY + b"--\r\n"
        )
