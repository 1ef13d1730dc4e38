"""Judging each step of the doctor's walk from what was observed. Pure: no I/O.

The walk (:mod:`fleetcheck.doctor.walk`) does the network exchanges and hands
their outcome here; every cause and remedy is written here, bilingual.
Windows behaviour relied on (sources in docs/windows-semantics.md):

* WinRM answers an unauthenticated POST to ``/wsman`` with HTTP 401 and one
  ``WWW-Authenticate`` header per enabled scheme (``Negotiate``, ``Kerberos``,
  ``Basic realm="WSMAN"``, ``CredSSP``).
* Wrong password, locked-out and disabled accounts all get HTTP 401 over
  WinRM; only the PC's Security log (event 4625, Status/Sub Status) tells them
  apart.
* An account WinRM's plugin does not admit gets the ``w:AccessDenied`` fault
  (WSManFault code 5) to Create. A local administrator account other than the
  built-in Administrator gets the same fault under UAC remote restrictions
  (its network logon token is filtered) unless
  ``HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System``
  ``LocalAccountTokenFilterPolicy`` = 1; domain accounts are not filtered.
* CreateProcess of a missing ``powershell.exe`` is the provider fault
  0x80070002 ("The system cannot find the file specified.").
* ConstrainedLanguage mode stops a script at its first method call on a
  non-core type ("... supported only on core types in this language mode").
* Group Policy "Turn on Script Execution" writes ``EnableScripts`` and
  ``ExecutionPolicy`` under ``HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\PowerShell``
  (MachinePolicy scope), which overrides ``powershell -ExecutionPolicy Bypass``
  for script files; ``-EncodedCommand`` (how fleetcheck's agent runs) is not a
  script file.
"""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta

from fleetcheck.agent.contract import ProbeRequest, ProbeResponse, RegistryQuery
from fleetcheck.doctor.model import Failure, StepId, StepResult, not_applicable, passed
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec
from fleetcheck.transport.errors import (
    AgentFailed,
    AuthRejected,
    BadOutput,
    ConfigurationError,
    QuotaExceeded,
    Refused,
    TimedOut,
    TlsError,
    TransportError,
    Unreachable,
    WsmanFault,
)

POWERSHELL_POLICY_KEY = r"SOFTWARE\Policies\Microsoft\Windows\PowerShell"
POLICY_QUERY_ID = "doctor.powershell_policy"
ACCESS_DENIED = 5
FILE_NOT_FOUND = 0x80070002
MAX_CLOCK_SKEW = timedelta(minutes=5)  # Kerberos' default "Maximum tolerance for computer clock synchronization"

#: The WWW-Authenticate schemes each of our transports can use.
SCHEMES_FOR: dict[str, frozenset[str]] = {
    "ntlm": frozenset({"negotiate", "ntlm"}),
    "kerberos": frozenset({"negotiate", "kerberos"}),
    "basic": frozenset({"basic"}),
    "credssp": frozenset({"credssp"}),
}

# OpenSSL verify codes (X509_V_ERR_*).
_NAME_CODES = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_EXPIRED_CODES = frozenset({9, 10})  # CERT_NOT_YET_VALID, CERT_HAS_EXPIRED
_UNTRUSTED_CODES = frozenset({2, 18, 19, 20, 21})  # issuer unknown, self-signed, chain incomplete


def doctor_request() -> ProbeRequest:
    """What the doctor asks the agent: the PowerShell Group Policy key, nothing written."""
    return ProbeRequest(
        queries=[RegistryQuery(id=POLICY_QUERY_ID, hive="HKLM", path=POWERSHELL_POLICY_KEY)],
        want_processes=False,
    )


def is_filtered_local_account(user: str | None) -> bool:
    """A local account (``name``, ``.\\name``) other than the built-in Administrator.

    ``PCNAME\\name`` cannot be told from ``DOMAIN\\name`` without asking the
    PC, so it counts as a domain account here.
    """
    domain, _, name = (user or "").rpartition("\\")
    return domain in ("", ".") and name.lower() != "administrator"


# --------------------------------------------------------------------------- before authentication


def tls_failure(exc: ssl.SSLError, address: str, ca_path: str | None) -> Failure:
    """Why the TLS handshake failed: certificate name, CA/chain, validity, or the handshake itself."""
    code = getattr(exc, "verify_code", None)
    ca_zh, ca_en = (ca_path, ca_path) if ca_path else ("系统 CA 证书库", "the system's CA store")
    if code in _NAME_CODES:
        return Failure(StepId.tls, "name_mismatch",
                       T(f"PC 的 HTTPS 证书不是为 {address} 签发的（名称/IP 不匹配）",
                         f"the PC's HTTPS certificate was not issued for {address} (name/IP mismatch)"),
                       T("为该名称或地址重新签发 WinRM 证书（SAN 含 ansible_host 的值）并重建 HTTPS 监听器，"
                         "或让 ansible_host 使用证书上的名称",
                         "issue the WinRM certificate for this name or address (a SAN with the ansible_host value) "
                         "and re-create the HTTPS listener, or set ansible_host to the name on the certificate"))
    if code in _EXPIRED_CODES:
        return Failure(StepId.tls, "certificate_expired",
                       T("PC 的 HTTPS 证书已过期或尚未生效", "the PC's HTTPS certificate has expired or is not yet valid"),
                       T("续订 WinRM 证书并更新 HTTPS 监听器的 CertificateThumbprint；检查 PC 时钟",
                         "renew the WinRM certificate and update the HTTPS listener's CertificateThumbprint; "
                         "check the PC's clock"))
    if code in _UNTRUSTED_CODES:
        return Failure(StepId.tls, "untrusted_ca",
                       T(f"PC 的 HTTPS 证书链无法验证到受信任的 CA（使用 {ca_zh}）",
                         f"the PC's HTTPS certificate does not chain to a trusted CA (using {ca_en})"),
                       T("把签发 CA 的证书（PEM）配置为 ansible_winrm_ca_trust_path；自签名证书也要这样信任",
                         "point ansible_winrm_ca_trust_path at the issuing CA's certificate (PEM); a self-signed "
                         "certificate must be trusted the same way"))
    return Failure(StepId.tls, "handshake_failed",
                   T(f"TLS 握手失败（{type(exc).__name__}）", f"the TLS handshake failed ({type(exc).__name__})"),
                   T("确认端口 5986 上是 WinRM 的 HTTPS 监听器（winrm enumerate winrm/config/listener），且 PC 启用了 TLS 1.2",
                     "check that WinRM's HTTPS listener is on port 5986 (winrm enumerate winrm/config/listener) "
                     "and that TLS 1.2 is enabled on the PC"))


def listener_failure(status: int | None, offered: list[str], port: int, path: str) -> Failure | None:
    """None when the listener answers as WinRM does (401 with schemes), else why not."""
    if status == 401 and offered:
        return None
    zh, en = (f"HTTP {status}", f"HTTP {status}") if status is not None else ("不是 HTTP 应答", "not an HTTP answer")
    return Failure(StepId.listener, "not_wsman",
                   T(f"端口 {port} 有程序应答，但 {path} 上不是 WS-Management（{zh}，没有 WWW-Authenticate）",
                     f"something answers on port {port}, but not WS-Management at {path} "
                     f"({en}, no WWW-Authenticate)"),
                   T("在 PC 上运行 winrm enumerate winrm/config/listener 查看监听器；确认 ansible_port 与 "
                     "ansible_winrm_path 正确（默认 5985/5986、/wsman）",
                     "run winrm enumerate winrm/config/listener on the PC; check ansible_port and "
                     "ansible_winrm_path (defaults 5985/5986, /wsman)"))


def auth_scheme_failure(host: HostSpec, offered: list[str], missing_extra: str | None) -> Failure | None:
    """None when our transport can authenticate with what the listener offers."""
    if host.auth == "basic" and host.effective_scheme != "https":
        return Failure(StepId.auth_scheme, "basic_over_http",
                       T("清单要求在明文 HTTP 上使用 Basic 认证：fleetcheck 拒绝这样做（密码会以明文传输；"
                         "Windows 默认也拒绝：AllowUnencrypted=false、Basic=false）",
                         "the inventory asks for Basic authentication over plain HTTP: fleetcheck refuses it "
                         "(the password would travel in clear; Windows refuses it by default too: "
                         "AllowUnencrypted=false, Basic=false)"),
                       T("改用 ansible_winrm_transport: ntlm（HTTP 上的消息也会加密），或使用 https（端口 5986）",
                         "use ansible_winrm_transport: ntlm (messages are encrypted over HTTP too), or https "
                         "(port 5986)"))
    if missing_extra is not None:
        return Failure(StepId.auth_scheme, "extra_missing",
                       T(f"本机缺少 {host.auth} 认证所需的组件", f"this controller lacks what {host.auth} authentication needs"),
                       T(f"pip install 'fleetcheck[{missing_extra}]'", f"pip install 'fleetcheck[{missing_extra}]'"))
    if not host.user or host.password is None:
        return Failure(StepId.auth_scheme, "no_credentials",
                       T("清单没有给出用户名或密码", "the inventory gives no user name or password"),
                       T("设置 ansible_user / ansible_password（或使用 --ask-pass）",
                         "set ansible_user / ansible_password (or use --ask-pass)"))
    wanted = SCHEMES_FOR.get(host.auth, frozenset())
    if not wanted & {scheme.lower() for scheme in offered}:
        shown = ", ".join(offered)
        return Failure(StepId.auth_scheme, "scheme_not_offered",
                       T(f"监听器不提供 {host.auth} 认证（它提供：{shown}）",
                         f"the listener does not offer {host.auth} authentication (it offers: {shown})"),
                       T("改用它提供的方式（ansible_winrm_transport），或在 PC 上启用该方式"
                         "（winrm get winrm/config/service/auth）",
                         "use a scheme it offers (ansible_winrm_transport), or enable this one on the PC "
                         "(winrm get winrm/config/service/auth)"))
    return None


def clock_skew_step(auth: str, server_date: datetime | None, now: datetime) -> StepResult | Failure:
    """Kerberos refuses clocks more than 5 minutes apart; other schemes do not care."""
    if auth != "kerberos":
        return not_applicable(StepId.clock_skew, T(f"{auth} 认证不依赖时钟同步（只有 Kerberos 需要）",
                                                   f"{auth} authentication does not depend on the clock "
                                                   "(only Kerberos does)"))
    if server_date is None:
        return not_applicable(StepId.clock_skew, T("监听器的应答没有 Date 头，无法比较时钟",
                                                   "the listener's answer has no Date header to compare clocks"))
    skew = abs(server_date - now)
    minutes = skew.total_seconds() / 60
    if skew > MAX_CLOCK_SKEW:
        return Failure(StepId.clock_skew, "clock_skew",
                       T(f"PC 的时钟与本机相差 {minutes:.0f} 分钟，Kerberos 最多容许 5 分钟",
                         f"the PC's clock is {minutes:.0f} minutes off this controller's; Kerberos allows 5"),
                       T("同步两边的时间（域成员：w32tm /resync；本机：NTP）",
                         "synchronise both clocks (domain member: w32tm /resync; controller: NTP)"))
    return passed(StepId.clock_skew, T(f"相差 {skew.total_seconds():.0f} 秒", f"{skew.total_seconds():.0f} s apart"))


# --------------------------------------------------------------------------- the agent's round trip


def probe_failure(exc: TransportError, user: str | None) -> Failure:
    """Which step a failed agent round trip stops at (the transport's own classification, refined)."""
    text = exc.text
    if isinstance(exc, AuthRejected):
        return Failure(StepId.authentication, "credentials_rejected",
                       T("PC 拒绝了凭据（HTTP 401）：密码错误，或帐户已锁定/已禁用——WinRM 不区分这几种情况",
                         "the PC rejected the credentials (HTTP 401): a wrong password, or the account is locked "
                         "out or disabled — WinRM does not say which"),
                       T("检查 ansible_user / ansible_password（本地帐户写作 .\\名称）；在 PC 的安全日志里查看事件 4625："
                         "Sub Status 0xC000006A 为密码错误，0xC0000234 为帐户锁定，0xC0000072 为帐户禁用",
                         "check ansible_user / ansible_password (a local account as .\\name); on the PC, Security "
                         "event 4625 tells: Sub Status 0xC000006A wrong password, 0xC0000234 locked out, "
                         "0xC0000072 disabled"))
    if isinstance(exc, QuotaExceeded):
        return Failure(StepId.shell, "quota_exceeded", text,
                       T("关闭残留的 shell（重启 WinRM 服务：Restart-Service WinRM），或提高配额："
                         "winrm set winrm/config/winrs @{MaxShellsPerUser=\"30\"}",
                         "close leftover shells (restart the WinRM service: Restart-Service WinRM), or raise the "
                         "quota: winrm set winrm/config/winrs @{MaxShellsPerUser=\"30\"}"))
    if isinstance(exc, WsmanFault):
        return _fault_failure(exc, user)
    if isinstance(exc, AgentFailed):
        return _agent_failure(exc)
    return _other_failure(exc)


def _fault_failure(exc: WsmanFault, user: str | None) -> Failure:
    if exc.code == ACCESS_DENIED and is_filtered_local_account(user):
        return Failure(StepId.remote_uac, "token_filtered",
                       T(f"WinRM 拒绝访问本地帐户 {user}：UAC 远程限制筛掉了本地管理员的令牌"
                         "（或该帐户根本不是管理员）",
                         f"WinRM denied access to the local account {user}: UAC remote restrictions filter a "
                         "local administrator's token (or the account is not an administrator at all)"),
                       T("在 PC 上设置 HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System 的 "
                         "LocalAccountTokenFilterPolicy = 1（DWORD），或改用域管理员帐户",
                         "on the PC set LocalAccountTokenFilterPolicy = 1 (DWORD) under "
                         "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System, or use a domain "
                         "administrator account"))
    if exc.code == ACCESS_DENIED:
        return Failure(StepId.authorisation, "access_denied",
                       T(f"WinRM 拒绝访问（Access is denied）：{user} 不是这台 PC 的管理员",
                         f"WinRM denied access (Access is denied): {user} is not an administrator of this PC"),
                       T("把该帐户（或其所在组）加入 PC 的本地 Administrators 组",
                         "add the account (or a group it is in) to the PC's local Administrators group"))
    if exc.code == FILE_NOT_FOUND:
        return Failure(StepId.powershell, "powershell_missing",
                       T("PC 上无法启动 powershell.exe（系统找不到指定的文件）",
                         "powershell.exe cannot be started on the PC (the system cannot find the file specified)"),
                       T("安装 Windows PowerShell（Windows 7 SP1：Windows Management Framework 5.1），"
                         "或修复 %SystemRoot%\\System32\\WindowsPowerShell\\v1.0",
                         "install Windows PowerShell (Windows 7 SP1: Windows Management Framework 5.1), or repair "
                         "%SystemRoot%\\System32\\WindowsPowerShell\\v1.0"))
    return Failure(StepId.shell, "wsman_fault", exc.text,
                   T("在 PC 上查看 Microsoft-Windows-WinRM/Operational 日志中的同一故障",
                     "look up the same fault in the PC's Microsoft-Windows-WinRM/Operational log"))


def _agent_failure(exc: AgentFailed) -> Failure:
    if "language mode" in exc.stderr_head.lower():
        return Failure(StepId.language_mode, "constrained_language",
                       T("PowerShell 运行在 ConstrainedLanguage（受限语言）模式，代理无法运行"
                         "（AppLocker/WDAC 脚本规则或 __PSLockdownPolicy 环境变量）",
                         "PowerShell runs in ConstrainedLanguage mode, which stops the agent (AppLocker/WDAC "
                         "script rules or the __PSLockdownPolicy environment variable)"),
                       T("在 AppLocker/WDAC 策略中允许管理员运行 PowerShell（FullLanguage），"
                         "或去掉 __PSLockdownPolicy；之后用 fleetcheck doctor 复查",
                         "let administrators run PowerShell in FullLanguage in the AppLocker/WDAC policy, or remove "
                         "__PSLockdownPolicy; then run fleetcheck doctor again"))
    return Failure(StepId.agent, "agent_failed", exc.text,
                   T("用 fleetcheck selftest 检查这台 PC；错误输出见上", "check this PC with fleetcheck selftest; its error output is above"))


def _other_failure(exc: TransportError) -> Failure:
    if isinstance(exc, TlsError):
        return Failure(StepId.tls, "tls_failed", exc.text, T("见上一步的 TLS 说明", "see the TLS step"))
    if isinstance(exc, (Refused, Unreachable)):
        return Failure(StepId.tcp, "connection_lost", exc.text,
                       T("网络在检查途中断开：稍后再运行 doctor", "the network broke during the check: run doctor again later"))
    if isinstance(exc, ConfigurationError):
        return Failure(StepId.auth_scheme, "configuration", exc.text,
                       T("修正清单中的连接设置", "fix the host's connection settings in the inventory"))
    reason = "timed_out" if isinstance(exc, TimedOut) else "bad_output" if isinstance(exc, BadOutput) else "failed"
    return Failure(StepId.agent, reason, exc.text,
                   T("用 fleetcheck selftest 检查这台 PC", "check this PC with fleetcheck selftest"))


def steps_after_probe(user: str | None, outcome: ProbeResponse | Failure) -> list[StepResult]:
    """The steps from authentication on, given the agent's answer or the failure it ended in."""
    uac: StepResult = passed(StepId.remote_uac, T("本地帐户的令牌未被筛选", "the local account's token is not filtered"))
    if not is_filtered_local_account(user):
        uac = not_applicable(StepId.remote_uac, T("域帐户或内置 Administrator 不受 UAC 远程限制",
                                                  "a domain account or the built-in Administrator is not filtered"))
    implied = [
        passed(StepId.authentication, T("凭据被接受", "credentials accepted")),
        uac,
        passed(StepId.authorisation, T("WinRM 允许该帐户", "WinRM admits the account")),
        passed(StepId.shell, T("shell 已创建", "a shell was created")),
        passed(StepId.powershell, T("powershell.exe 已启动", "powershell.exe started")),
        passed(StepId.language_mode, T("FullLanguage（代理运行成功，受限语言模式会阻止它）",
                                       "FullLanguage (the agent ran; ConstrainedLanguage would have stopped it)")),
    ]
    if isinstance(outcome, Failure):
        before = [s for s in implied if _order(s.step) < _order(outcome.step)]
        return [*before, outcome.result()]
    response = outcome
    implied[4] = passed(StepId.powershell, _powershell_detail(response))
    agent = passed(StepId.agent, T(f"代理 {response.agent_version} 在 {response.elapsed_ms} 毫秒内应答",
                                   f"agent {response.agent_version} answered in {response.elapsed_ms} ms"))
    policy = execution_policy_step(response)
    return [*implied, agent, policy.result() if isinstance(policy, Failure) else policy]


def _order(step: StepId) -> int:
    return list(StepId).index(step)


def _powershell_detail(response: ProbeResponse) -> Text:
    os_facts = response.os
    bits = "64" if os_facts.arch in ("x64", "arm64") else "32"
    return T(f"PowerShell {os_facts.ps_version}，CLR {os_facts.clr_version}，{bits} 位 Windows {os_facts.version}"
             "（WinRM 启动的是本机原生的 powershell.exe）",
             f"PowerShell {os_facts.ps_version}, CLR {os_facts.clr_version}, {bits}-bit Windows {os_facts.version} "
             "(WinRM starts the native powershell.exe)")


def group_policy_execution_policy(response: ProbeResponse) -> str | None:
    """The execution policy Group Policy sets for the machine (MachinePolicy), or None when it sets none."""
    answer = response.answer(POLICY_QUERY_ID)
    if answer is None or answer.status != "ok" or answer.key is None:
        return None
    enable = answer.key.value("EnableScripts")
    if enable is None:
        return None
    if enable.as_int() == 0:
        return "Restricted"
    policy = answer.key.value("ExecutionPolicy")
    return (policy.as_str() if policy is not None else None) or "Restricted"


def execution_policy_step(response: ProbeResponse) -> StepResult | Failure:
    policy = group_policy_execution_policy(response)
    if policy is None:
        return passed(StepId.execution_policy, T("组策略没有设置执行策略", "Group Policy sets no execution policy"))
    if policy.lower() in ("allsigned", "restricted"):
        return Failure(StepId.execution_policy, "group_policy_blocks_scripts",
                       T(f"组策略把执行策略设为 {policy}（MachinePolicy，优先于 -ExecutionPolicy Bypass）："
                         "WinRM 扫描不受影响（代理以 -EncodedCommand 运行，不是脚本文件），但脚本文件会被阻止——"
                         "本地采集工具包 collect.ps1 和 WinRM 启用脚本无法在这台 PC 上运行",
                         f"Group Policy sets the execution policy to {policy} (MachinePolicy, which overrides "
                         "-ExecutionPolicy Bypass): WinRM scans are not affected (the agent runs as -EncodedCommand, "
                         "not a script file), but script files are stopped — the local collection kit collect.ps1 and "
                         "the WinRM enablement scripts cannot run on this PC"),
                       T("请域管理员在组策略“启用脚本执行”中为这些 PC 选择“允许本地脚本和远程签名的脚本”（RemoteSigned），"
                         "或用 PC 信任的代码签名证书为这些脚本签名（AllSigned）",
                         "have the domain administrator set Group Policy \"Turn on Script Execution\" to \"Allow local "
                         "scripts and remote signed scripts\" (RemoteSigned) for these PCs, or sign the scripts with a "
                         "code-signing certificate the PCs trust (AllSigned)"))
    return passed(StepId.execution_policy, T(f"组策略设为 {policy}：不阻止本机写入的脚本",
                                             f"Group Policy sets {policy}: scripts written on the PC run"))
