"""``group-policy.md``: the Group Policy settings that match ``enable-winrm.ps1``, for a domain.

Each setting names its exact policy path (Chinese and English console names),
its value, the registry value it writes, and the Microsoft Learn page that
documents it. The policy names and registry values are those of
WindowsRemoteManagement.admx as the Policy CSP reference lists them.
"""

from __future__ import annotations

CSP = "https://learn.microsoft.com/en-us/windows/client-management/mdm/policy-csp-remotemanagement"
WINRM_CONFIG = ("https://learn.microsoft.com/en-us/windows/win32/winrm/"
                "installation-and-configuration-for-windows-remote-management")
NETSH = ("https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/"
         "netsh-advfirewall-firewall-control-firewall-behavior")
SERVICE_KEY = r"HKLM\Software\Policies\Microsoft\Windows\WinRM\Service"
WINRM_PATH_ZH = r"计算机配置\策略\管理模板\Windows 组件\Windows 远程管理(WinRM)\WinRM 服务"
WINRM_PATH_EN = (r"Computer Configuration\Policies\Administrative Templates\Windows Components"
                 r"\Windows Remote Management (WinRM)\WinRM Service")

# (Chinese name, English name, setting, registry values under SERVICE_KEY, CSP anchor, note zh, note en)
_WINRM_SERVICE = (
    ("允许通过 WinRM 进行远程服务器管理", "Allow remote server management through WinRM",
     "已启用 / Enabled; IPv4 筛选器 / IPv4 filter: `*`; IPv6 筛选器 / IPv6 filter: (空 / empty)",
     'AllowAutoConfig = REG_DWORD 1; IPv4Filter = REG_SZ "*"; IPv6Filter = REG_SZ ""',
     "remotemanagement-allowremoteservermanagement",
     "筛选器限定的是本机监听的本地地址，不是谁可以连接；只允许控制机连接由下面的防火墙规则负责。",
     "The filters choose the PC's own addresses the service listens on, not who may connect; "
     "the firewall rule below lets only the controller in."),
    ("允许基本身份验证", "Allow Basic authentication",
     "已禁用 / Disabled", "AllowBasic = REG_DWORD 0", "remotemanagement-allowbasicauthentication-service",
     "基本身份验证会把密码以可还原的形式发送。", "Basic sends the password in a reversible form."),
    ("允许未加密通信", "Allow unencrypted traffic",
     "已禁用 / Disabled", "AllowUnencryptedTraffic = REG_DWORD 0",
     "remotemanagement-allowunencryptedtraffic-service",
     "NTLM/Kerberos 通过 HTTP 时仍对消息加密；HTTPS 时由 TLS 加密。",
     "NTLM/Kerberos over HTTP still encrypt each message; over HTTPS TLS does."),
    ("允许 CredSSP 身份验证", "Allow CredSSP authentication",
     "已禁用 / Disabled", "AllowCredSSP = REG_DWORD 0", "remotemanagement-allowcredsspauthenticationservice",
     "fleetcheck 不需要把凭据委派给电脑。", "fleetcheck never needs its credentials delegated to the PC."),
    ("不允许 WinRM 存储 RunAs 凭据", "Disallow WinRM from storing RunAs credentials",
     "已启用 / Enabled", "DisableRunAs = REG_DWORD 1", "remotemanagement-disallowstoringofrunascredentials",
     "", ""),
)


def _winrm_rows() -> list[str]:
    rows = []
    for zh, en, setting, registry, anchor, note_zh, note_en in _WINRM_SERVICE:
        rows.append(f"### {zh} / {en}\n\n"
                    f"- 路径 / Path: `{WINRM_PATH_ZH}` / `{WINRM_PATH_EN}`\n"
                    f"- 设置 / Setting: {setting}\n"
                    f"- 注册表 / Registry (`{SERVICE_KEY}`): {registry}\n"
                    + (f"- 说明 / Note: {note_zh} {note_en}\n" if note_zh else "")
                    + f"- 来源 / Source: {CSP}#{anchor}\n")
    return rows


def group_policy_markdown(controller: str, https: bool, port: int) -> str:
    """The document, for this controller and transport (plain Markdown, UTF-8)."""
    transport = "HTTPS" if https else "HTTP"
    parts = [
        "# WinRM 的域组策略设置 / Domain Group Policy settings for WinRM\n",
        f"由 `fleetcheck winrm-setup` 生成：控制机 `{controller}`，{transport}，TCP {port}。"
        f"这些设置与 enable-winrm.ps1 在单台电脑上所做的相同；在域中用一个 GPO 链接到交易电脑所在的 OU。\n\n"
        f"Written by `fleetcheck winrm-setup`: controller `{controller}`, {transport}, TCP {port}. "
        "The same settings enable-winrm.ps1 makes on one PC; in a domain, put them in one GPO linked to "
        "the trading PCs' OU.\n",
        "## 1. WinRM 服务自动启动 / The WinRM service starts automatically\n\n"
        r"- 路径 / Path: `计算机配置\策略\Windows 设置\安全设置\系统服务\Windows Remote Management (WS-Management)` / "
        r"`Computer Configuration\Policies\Windows Settings\Security Settings\System Services"
        r"\Windows Remote Management (WS-Management)`" "\n"
        "- 设置 / Setting: 自动 / Automatic\n"
        r"- 注册表 / Registry: `HKLM\SYSTEM\CurrentControlSet\Services\WinRM` Start = REG_DWORD 2 (2 = 自动 / automatic)" "\n"
        f"- 来源 / Source: {WINRM_CONFIG}\n",
        "## 2. WinRM 服务策略 / WinRM Service policies\n",
        *_winrm_rows(),
        "## 3. 防火墙：只允许控制机 / Firewall: the controller only\n\n"
        r"- 路径 / Path: `计算机配置\策略\Windows 设置\安全设置\高级安全 Windows 防火墙\入站规则` / "
        r"`Computer Configuration\Policies\Windows Settings\Security Settings"
        r"\Windows Firewall with Advanced Security\Inbound Rules`" "\n"
        f"- 新建规则 / New rule: 端口 / Port, TCP {port}, 允许连接 / Allow the connection, 所有配置文件 / all profiles; "
        f"作用域 → 远程 IP 地址 / Scope → Remote IP address: `{controller}` (只此一个 / this one only)\n"
        f"- 等同于 / Same as: `netsh advfirewall firewall add rule name=\"fleetcheck WinRM from controller\" "
        f"dir=in action=allow protocol=TCP localport={port} remoteip={controller} profile=any`\n"
        f"- 来源 / Source: {NETSH}\n"
        "- 不要启用预定义的“Windows 远程管理”规则（它允许任意地址）。/ Do not enable the predefined "
        "\"Windows Remote Management\" rule (it allows any address).\n",
        "## 4. 不设置的项目 / Left alone on purpose\n\n"
        "- TrustedHosts：是 WinRM 客户端的设置，交易电脑上不需要；切勿设为 `*`。/ TrustedHosts is a WinRM "
        "client setting, not needed on the trading PCs; never set it to `*`.\n"
        f"- 来源 / Source: {CSP}#remotemanagement-trustedhosts\n",
    ]
    if https:
        parts.append(
            "## 5. HTTPS 监听器 / The HTTPS listener\n\n"
            "“允许通过 WinRM 进行远程服务器管理”只创建 HTTP 监听器（5985）。HTTPS（5986）需要每台电脑有一张"
            "服务器身份验证证书（最好由企业 CA 自动注册颁发），再以启动脚本运行 enable-winrm.cmd（--https）。\n\n"
            "\"Allow remote server management through WinRM\" creates the HTTP listener (5985) only. HTTPS "
            "(5986) needs a server-authentication certificate on each PC (best: auto-enrolled from the "
            "enterprise CA), then enable-winrm.cmd (written with --https) as a computer startup script.\n"
            f"- 来源 / Source: {WINRM_CONFIG}\n")
    return "\n".join(parts)
