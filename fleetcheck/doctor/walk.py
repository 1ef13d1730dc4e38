"""The doctor's walk: the network exchanges of each step, in order, stopping at the first failure.

I/O lives here; every judgement is :mod:`fleetcheck.doctor.judge`'s. The walk:

1. resolve the address (an IP literal needs no lookup);
2. open a TCP connection to the WinRM port;
3. over https, a TLS handshake validating chain, CA and name as the probe will;
4. POST an empty, unauthenticated request to ``/wsman``: WinRM answers 401 with
   the schemes it offers (and a ``Date`` header);
5. match our transport against the offered schemes (and our own rules);
6. compare clocks from that ``Date`` header (Kerberos only);
7. one agent round trip through the transport (the same code as a scan, a
   read-only request): authentication, authorisation, shell, PowerShell,
   language mode, the agent's answer, the execution policy Group Policy sets.

Every exchange is bounded by the host's deadline; nothing is written on the PC.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

from fleetcheck.agent.contract import ProbeRequest, ProbeResponse
from fleetcheck.doctor import judge
from fleetcheck.doctor.model import (
    Diagnosis,
    Failure,
    StepId,
    StepResult,
    complete,
    not_applicable,
    passed,
)
from fleetcheck.i18n import T
from fleetcheck.inventory.model import HostSpec
from fleetcheck.loopback import is_loopback
from fleetcheck.officetime import utc_now
from fleetcheck.transport import Deadline, TransportError, auth_unavailable, probe_host
from fleetcheck.transport.session import LOOPBACK_ONLY_ENV

CONNECT_TIMEOUT_S = 10.0

Probe = Callable[[HostSpec, ProbeRequest, Deadline], ProbeResponse]


@dataclass(frozen=True)
class WalkOptions:
    """``timeout_s``: the whole walk of one host; ``probe``: the agent round trip (tests may replace it)."""

    timeout_s: float = 60.0
    probe: Probe = probe_host
    now: Callable[[], datetime] = utc_now


@dataclass
class _Walk:
    host: HostSpec
    options: WalkOptions
    deadline: Deadline
    ip: str | None = None
    offered: list[str] = field(default_factory=list)
    server_date: datetime | None = None

    def timeout(self) -> float:
        return max(0.5, min(CONNECT_TIMEOUT_S, self.deadline.remaining()))

    # ------------------------------------------------------------ 1. name / address
    def resolve(self) -> StepResult | Failure:
        address = self.host.address.strip("[]")
        try:
            ipaddress.ip_address(address)
            self.ip = address
        except ValueError:
            if os.environ.get(LOOPBACK_ONLY_ENV) == "1":
                return _loopback_only(address)
            try:
                infos = socket.getaddrinfo(address, self.host.effective_port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                return Failure(StepId.resolve, "name_not_found",
                               T(f"名称 {address} 无法解析（DNS 中没有它）", f"the name {address} does not resolve (not in DNS)"),
                               T("检查 ansible_host 的拼写和本机的 DNS 设置，或直接写 IP 地址",
                                 "check the spelling of ansible_host and this controller's DNS, or give the IP address"))
            self.ip = str(infos[0][4][0])
            return passed(StepId.resolve, T(f"{address} → {self.ip}", f"{address} → {self.ip}"))
        if os.environ.get(LOOPBACK_ONLY_ENV) == "1" and not is_loopback(address):
            return _loopback_only(address)
        return passed(StepId.resolve, T(f"{address} 是 IP 地址，无需解析", f"{address} is an IP address; no lookup"))

    # ------------------------------------------------------------ 2. TCP
    def tcp(self) -> StepResult | Failure:
        port = self.host.effective_port
        assert self.ip is not None
        try:
            with socket.create_connection((self.ip, port), timeout=self.timeout()):
                pass
        except ConnectionRefusedError:
            return Failure(StepId.tcp, "connection_refused",
                           T(f"端口 {port} 上没有程序监听（连接被拒绝）：WinRM 未启用或在别的端口",
                             f"nothing listens on port {port} (connection refused): WinRM is not enabled or listens "
                             "on another port"),
                           T("在 PC 上以管理员身份运行 winrm quickconfig（HTTP 5985），或 fleetcheck winrm-setup 生成的脚本；"
                             "检查 ansible_port",
                             "on the PC, as administrator: winrm quickconfig (HTTP 5985), or the script fleetcheck "
                             "winrm-setup writes; check ansible_port"))
        except TimeoutError:
            return Failure(StepId.tcp, "filtered",
                           T(f"端口 {port} 没有应答（被防火墙丢弃，或 PC 已关机）",
                             f"no answer on port {port} (dropped by a firewall, or the PC is off)"),
                           T(f"在 Windows 防火墙中允许本机访问 TCP {port}（规则“Windows 远程管理 (HTTP-In)”）；确认 PC 已开机",
                             f"allow TCP {port} from this controller in Windows Firewall (rule \"Windows Remote "
                             "Management (HTTP-In)\"); check the PC is on"))
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return Failure(StepId.tcp, "no_route",
                           T(f"无法连接 {self.ip}:{port}（{reason}）", f"cannot connect to {self.ip}:{port} ({reason})"),
                           T("检查网络路由与 ansible_host", "check the network route and ansible_host"))
        return passed(StepId.tcp, T(f"{self.ip}:{port} 接受连接", f"{self.ip}:{port} accepts connections"))

    # ------------------------------------------------------------ 3. TLS
    def tls(self) -> StepResult | Failure:
        if self.host.effective_scheme != "https":
            return not_applicable(StepId.tls, T("HTTP：NTLM 自行加密消息", "HTTP: NTLM encrypts the messages itself"))
        assert self.ip is not None
        try:
            context = _client_context(self.host)
            with socket.create_connection((self.ip, self.host.effective_port), timeout=self.timeout()) as sock, \
                    context.wrap_socket(sock, server_hostname=self.host.address.strip("[]")) as tls:
                version = tls.version() or "TLS"
        except ssl.SSLError as exc:
            return judge.tls_failure(exc, self.host.address, self.host.ca_trust_path)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return Failure(StepId.tls, "ca_file_unreadable" if isinstance(exc, FileNotFoundError) else "handshake_failed",
                           T(f"TLS 无法开始（{reason}）", f"TLS could not start ({reason})"),
                           T("检查 ansible_winrm_ca_trust_path 指向可读的 PEM 文件",
                             "check that ansible_winrm_ca_trust_path names a readable PEM file"))
        if self.host.cert_validation != "validate":
            return passed(StepId.tls, T(f"{version}；证书未校验（ansible_winrm_server_cert_validation: ignore）",
                                        f"{version}; certificate NOT validated (ansible_winrm_server_cert_validation: ignore)"))
        return passed(StepId.tls, T(f"{version}，证书链、CA 与名称均有效", f"{version}; chain, CA and name valid"))

    # ------------------------------------------------------------ 4. the listener
    def listener(self) -> StepResult | Failure:
        port = self.host.effective_port
        status: int | None = None
        connection: http.client.HTTPConnection
        if self.host.effective_scheme == "https":
            connection = http.client.HTTPSConnection(self.host.address.strip("[]"), port, timeout=self.timeout(),
                                                     context=_client_context(self.host))
        else:
            connection = http.client.HTTPConnection(self.host.address.strip("[]"), port, timeout=self.timeout())
        try:
            connection.request("POST", self.host.wsman_path, body=b"",
                               headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
            response = connection.getresponse()
            response.read(65536)
            status = response.status
            self.offered = [v.split()[0] for v in response.headers.get_all("WWW-Authenticate") or [] if v.strip()]
            self.server_date = _http_date(response.headers.get("Date"))
        except (http.client.HTTPException, OSError):
            status = None
        finally:
            connection.close()
        failure = judge.listener_failure(status, self.offered, port, self.host.wsman_path)
        if failure is not None:
            return failure
        schemes = ", ".join(self.offered)
        return passed(StepId.listener, T(f"HTTP 401，提供：{schemes}", f"HTTP 401, offers: {schemes}"))

    # ------------------------------------------------------------ 5-6. scheme and clock
    def auth_scheme(self) -> StepResult | Failure:
        failure = judge.auth_scheme_failure(self.host, self.offered, auth_unavailable(self.host.auth))
        if failure is not None:
            return failure
        return passed(StepId.auth_scheme, T(f"{self.host.auth}（监听器提供）", f"{self.host.auth} (offered by the listener)"))

    def clock_skew(self) -> StepResult | Failure:
        return judge.clock_skew_step(self.host.auth, self.server_date, self.options.now())

    # ------------------------------------------------------------ 7. the agent
    def probe(self) -> list[StepResult]:
        outcome: ProbeResponse | Failure
        try:
            outcome = self.options.probe(self.host, judge.doctor_request(), self.deadline)
        except TransportError as exc:
            outcome = judge.probe_failure(exc, self.host.user)
        except Exception as exc:  # noqa: BLE001 - the per-host boundary: any failure becomes this host's result
            outcome = _unexpected(StepId.agent, exc)
        return judge.steps_after_probe(self.host.user, outcome)


def _unexpected(step: StepId, exc: Exception) -> Failure:
    """A failure nobody foresaw, named by its type only (its text might carry anything)."""
    name = type(exc).__name__
    return Failure(step, "unexpected_error", T(f"意外错误：{name}", f"unexpected error: {name}"),
                   T("请把 doctor 的输出报告给 fleetcheck 的维护者", "please report doctor's output to fleetcheck's maintainers"))


def _loopback_only(address: str) -> Failure:
    return Failure(StepId.resolve, "loopback_only",
                   T(f"{LOOPBACK_ONLY_ENV}=1：只允许回环地址（127.0.0.0/8），不联系 {address}",
                     f"{LOOPBACK_ONLY_ENV}=1: only loopback addresses (127.0.0.0/8) may be contacted; {address} is not"),
                   T(f"去掉 {LOOPBACK_ONLY_ENV}（它用于测试与开发）", f"unset {LOOPBACK_ONLY_ENV} (it is for tests and development)"))


def _client_context(host: HostSpec) -> ssl.SSLContext:
    """The TLS client context the probe uses: validating (with the inventory's CA file) unless told to ignore."""
    if host.cert_validation == "validate":
        return ssl.create_default_context(cafile=host.ca_trust_path) if host.ca_trust_path else ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def diagnose(host: HostSpec, options: WalkOptions | None = None) -> Diagnosis:
    """Walk every step for ``host``, stopping at the first failing one."""
    options = options or WalkOptions()
    walk = _Walk(host, options, Deadline.after(options.timeout_s))
    done: list[StepResult] = []
    steps = ((StepId.resolve, walk.resolve), (StepId.tcp, walk.tcp), (StepId.tls, walk.tls),
             (StepId.listener, walk.listener), (StepId.auth_scheme, walk.auth_scheme),
             (StepId.clock_skew, walk.clock_skew))
    for step_id, step in steps:
        try:
            outcome = step()
        except Exception as exc:  # noqa: BLE001 - the per-host boundary: any failure becomes this host's result
            outcome = _unexpected(step_id, exc)
        if isinstance(outcome, Failure):
            return complete(host.name, host.endpoint, [*done, outcome.result()])
        done.append(outcome)
    return complete(host.name, host.endpoint, [*done, *walk.probe()])
