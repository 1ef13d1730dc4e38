"""Synthetic but realistic RunResults for store, report and browser tests.

``golden_run()`` is a fixed small office covering every state a report shows
(compliant, ready for renewal, blocked, expired, unreachable, no operator,
waived, hostile strings). ``big_run(n, checks)`` builds large deterministic
runs for benchmarks. No clock, no randomness: the same call gives the same run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from fleetcheck.findings import (
    Finding,
    FindingStatus,
    FixMode,
    HostResult,
    HostStatus,
    RunResult,
    Severity,
)
from fleetcheck.i18n import T, Text

PACK = "sccc-gateway-cert"
T0 = datetime(2025, 3, 3, 1, 30, tzinfo=timezone.utc)
XSS = "<img src=x onerror=alert(1)>"

# (check_id, type, requirement, severity, guide, fix, title, expected, remedy)
CHECKS: list[tuple[str, str, str, Severity, str, FixMode, Text, str, Text]] = [
    ("portal-trusted-site", "trusted_site", "R2", Severity.high, "一.2", FixMode.auto,
     T("biz.sccc.com 已加入受信任站点", "Portal is a Trusted Site"), "zone 2",
     T("将 https://biz.sccc.com 加入受信任站点（否则导致错误 9：下载被阻止）。",
       "Add https://biz.sccc.com to Trusted Sites (otherwise guide error 9: download blocked).")),
    ("zone2-activex-prompt", "zone_action", "R3", Severity.high, "一.2", FixMode.auto,
     T("受信任站点：ActiveX 控件自动提示 已启用", "Trusted zone: automatic prompting for ActiveX enabled"),
     "0 (Enable)", T("将受信任站点 2201 设为 0（启用）。", "Set Trusted zone action 2201 to 0 (Enable).")),
    ("zone2-unsigned-activex", "zone_action", "R4", Severity.high, "一.2", FixMode.auto,
     T("受信任站点：下载未签名的 ActiveX 控件 已启用", "Trusted zone: download unsigned ActiveX enabled"),
     "0 (Enable)",
     T("将受信任站点 1004 设为 0（启用），否则导致错误 1：控件缺失。",
       "Set Trusted zone action 1004 to 0 (Enable); otherwise guide error 1: add-on missing.")),
    ("zone2-file-download", "zone_action", "R5", Severity.high, "一.2", FixMode.auto,
     T("受信任站点：文件下载 已启用", "Trusted zone: file download enabled"), "0 (Enable)",
     T("将受信任站点 1803 设为 0（启用）。", "Set Trusted zone action 1803 to 0 (Enable).")),
    ("zone2-download-prompt", "zone_action", "R6", Severity.medium, "一.2", FixMode.auto,
     T("受信任站点：文件下载的自动提示 已启用（Win7）", "Trusted zone: automatic prompting for downloads (Win7)"),
     "0 (Enable)", T("将受信任站点 2200 设为 0。", "Set Trusted zone action 2200 to 0.")),
    ("edge-ie-reload", "edge_policy", "R7", Severity.high, "一.2(2)", FixMode.auto,
     T("Edge 允许在 IE 模式下重新加载网站", "Edge may reload sites in IE mode"), "1",
     T("设置 Edge 策略 InternetExplorerIntegrationReloadInIEModeAllowed=1。",
       "Set Edge policy InternetExplorerIntegrationReloadInIEModeAllowed=1.")),
    ("portal-ie-mode", "ie_mode_site", "R8", Severity.high, "一.2(2)", FixMode.auto,
     T("门户页面以 IE 模式打开", "Portal pages open in IE mode"), "IE11",
     T("写入企业站点列表并设置 InternetExplorerIntegrationSiteList。",
       "Write the enterprise site list and set InternetExplorerIntegrationSiteList.")),
    ("feitian-driver", "installed_program", "R9", Severity.high, "一.3", FixMode.manual,
     T("飞天 ePass 驱动已安装", "Feitian ePass driver installed"), "installed",
     T("安装飞天 ePass 驱动（否则导致错误 3：检测不到 Key）。",
       "Install the Feitian ePass driver (otherwise guide error 3: token not detected).")),
    ("certenroll-control", "activex", "R10", Severity.critical, "一.4", FixMode.auto,
     T("CertEnroll Control 版本 = 2.0.4.8", "CertEnroll Control version = 2.0.4.8"), "==2.0.4.8",
     T("删除旧的 CertEnroll 注册并重启，由 IE 从门户重新安装（错误 1、8）。",
       "Remove the stale CertEnroll registration and reboot; IE reinstalls it from the portal (errors 1, 8).")),
    ("jitvctk-control", "activex", "R10", Severity.high, "一.4", FixMode.auto,
     T("JITVCTK Class ≥ 2.0.24.42", "JITVCTK Class ≥ 2.0.24.42"), ">=2.0.24.42",
     T("删除旧注册并重启。", "Remove the stale registration and reboot.")),
    ("single-token", "usb_device_count", "R11", Severity.medium, "二", FixMode.none,
     T("只插一个硬件 Key", "Only one hardware token plugged in"), "≤ 1",
     T("更新时只保留一个飞天 Key。", "Keep only one Feitian token plugged in during renewal.")),
    ("gateway-cert-present", "certificate", "R12", Severity.critical, "二.(二)", FixMode.none,
     T("网关证书在个人证书存储中（含私钥）", "Gateway certificate in Personal store with private key"),
     "present, private key",
     T("导入网关证书 PFX（否则导致错误 6：找不到旧证书）。",
       "Import the gateway certificate PFX (otherwise guide error 6: old certificate not found).")),
    ("gateway-cert-naming", "certificate", "R13", Severity.medium, "三.5", FixMode.none,
     T("证书名称符合类型（文件证书以 #0 结尾）", "Certificate name matches kind (file certs end with #0)"),
     "file ⇒ #0", T("核对证书类型（错误 5）。", "Check the certificate kind (guide error 5).")),
    ("gateway-cert-due", "certificate", "R14", Severity.high, "三", FixMode.none,
     T("网关证书有效期 ≥ 30 天", "Gateway certificate valid ≥ 30 days"), "≥ 30 days",
     T("在有效期内通过 biz.sccc.com 在线更新证书。", "Renew online at biz.sccc.com before it expires.")),
    ("portal-reachable", "tcp_reachable", "R15", Severity.high, "三.7", FixMode.none,
     T("可以访问 biz.sccc.com:443", "biz.sccc.com:443 reachable"), "connect ≤ 5 s",
     T("检查网络与防火墙（错误 7）。", "Check network and firewall (guide error 7).")),
]
USER_SCOPED = {"portal-trusted-site", "zone2-activex-prompt", "zone2-unsigned-activex",
               "zone2-file-download", "zone2-download-prompt", "gateway-cert-present",
               "gateway-cert-naming", "gateway-cert-due"}


def cert_details(host: str, days_left: int, *, cn: str | None = None, user: str | None = None) -> dict[str, Any]:
    not_after = T0 + timedelta(days=days_left)
    return {
        "subject_cn": cn or f"F00504Y{host[-3:]}#0",
        "issuer": "CN=SZCA, O=Shenzhen Certificate Authority, C=CN",
        "not_after": not_after.isoformat(),
        "days_left": days_left,
        "thumbprint": hashlib.sha1(host.encode()).hexdigest().upper(),
        "kind": "file",
        "has_private_key": True,
        "store": "registry",
        "user": user or f"TRADE\\trader{host[-3:]}",
    }


def finding(check_id: str, status: FindingStatus, *, observed: str | None = None,
            details: dict[str, Any] | None = None, message: Text | None = None,
            waiver: dict[str, Any] | None = None, policy: str = PACK) -> Finding:
    spec = next(c for c in CHECKS if c[0] == check_id)
    cid, ctype, req, sev, guide, fix, title, expected, remedy = spec
    if observed is None:
        observed = expected if status is FindingStatus.passed else None
    return Finding(
        policy_id=policy, check_id=cid, check_type=ctype, status=status, severity=sev,
        title=title, expected=expected, observed=observed,
        source=("HKU\\S-1-5-21-1004\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings"
                "\\Zones\\2 [user preference]") if ctype == "zone_action" else None,
        message=message, remedy=remedy, guide=guide, fix=fix, waiver=waiver,
        requirement=req, details=details or {},
    )


@dataclass(frozen=True)
class Cert:
    """The gateway certificate's subject CN and holder, when not the defaults derived from the host name."""

    cn: str | None = None
    user: str | None = None


def _base(name: str, branch: str, groups: list[str] | None) -> dict[str, Any]:
    return {
        "address": f"10.1.{int(name[-3:]) // 250}.{int(name[-3:]) % 250 + 1}",
        "groups": groups or ["traders"], "branch": branch,
        "started": T0, "finished": T0 + timedelta(seconds=2)}


def down_host(name: str, status: HostStatus, error_class: str, error: Text, *, branch: str = "深圳总部") -> HostResult:
    """A host that was not probed (``status`` is not ok): no findings, two attempts."""
    return HostResult(host=name, status=status, error_class=error_class, error=error, attempts=2,
                      **_base(name, branch, None))


def host(name: str, *, branch: str = "深圳总部", groups: list[str] | None = None,
         overrides: dict[str, Finding] | None = None, days_left: int = 200,
         operator: str | None = "auto", checks: list[str] | None = None, cert: Cert = Cert()) -> HostResult:
    """A probed host: every check passes unless overridden; ``operator=None`` ⇒ user checks not evaluated."""
    op = f"TRADE\\trader{name[-3:]}" if operator == "auto" else operator
    findings: list[Finding] = []
    for spec in CHECKS:
        cid = spec[0]
        if checks is not None and cid not in checks:
            continue
        if overrides and cid in overrides:
            findings.append(overrides[cid])
        elif op is None and cid in USER_SCOPED:
            findings.append(finding(cid, FindingStatus.not_evaluated,
                                    message=T("没有操作员登录", "no operator session")))
        elif cid.startswith("gateway-cert"):
            det = cert_details(name, days_left, cn=cert.cn, user=cert.user)
            st = FindingStatus.passed
            obs = f"{det['subject_cn']} (private key)"
            if cid == "gateway-cert-due":
                obs = f"{days_left} days"
                st = FindingStatus.passed if days_left >= 30 else FindingStatus.fail
            findings.append(finding(cid, st, observed=obs, details=det))
        elif cid == "zone2-download-prompt":
            findings.append(finding(cid, FindingStatus.not_applicable))
        else:
            findings.append(finding(cid, FindingStatus.passed))
    return HostResult(host=name, status=HostStatus.ok, operator=op,
                      operator_sid="S-1-5-21-1004" if op else None, findings=findings, **_base(name, branch, groups))


def golden_run(run_id: str = "run-20250303-0930", started: datetime = T0) -> RunResult:
    """A fixed office of 9 PCs in two branches covering every report state."""
    fail = FindingStatus.fail
    hosts = [
        host("pc-sz-001", days_left=200),  # compliant, not due
        host("pc-sz-002", days_left=12),  # R14 in window, all else passes: READY
        host("pc-sz-003", days_left=5, groups=["traders", "floor-2"], overrides={
            "zone2-unsigned-activex": finding("zone2-unsigned-activex", fail, observed="3 (Disable)",
                                              message=T("值为 3（禁用）", "value is 3 (Disable)")),
        }),
        down_host("pc-sz-004", HostStatus.timeout, "HostTimeout",
                  T("10.1.0.5 在 60 秒内没有响应。检查主机是否开机、WinRM 是否运行。",
                    "10.1.0.5 did not answer within 60 s. Check the PC is on and WinRM runs.")),
        host("pc-sh-005", branch="上海分公司", operator=None),
        host("pc-sh-006", branch="上海分公司", days_left=-3),  # expired
        down_host("pc-sh-007", HostStatus.auth_failed, "AuthFailed",
                  T("用户名或密码错误（NTLM）。", "wrong user name or password (NTLM)."), branch="上海分公司"),
        host("pc-sh-008", branch="上海分公司", days_left=25, cert=Cert(cn=XSS, user=XSS), overrides={
            "feitian-driver": finding("feitian-driver", FindingStatus.waived, observed="absent",
                                      waiver={"reason": "hardware token not used", "approver": "it-lead",
                                              "expires": "2025-12-31"}),
            "certenroll-control": finding("certenroll-control", fail, observed=XSS,
                                          message=T(f"版本 {XSS}", f"version {XSS}")),
        }),
        host("pc-sh-009", branch="上海分公司", days_left=90, overrides={
            "portal-reachable": finding("portal-reachable", FindingStatus.error,
                                        message=T("TCP 测试超时", "TCP test timed out")),
            "certenroll-control": finding("certenroll-control", fail, observed="2.0.3.1",
                                          message=T("版本 2.0.3.1 ≠ 2.0.4.8", "version 2.0.3.1 ≠ 2.0.4.8")),
        }),
    ]
    return RunResult(run_id=run_id, started=started, finished=started + timedelta(minutes=2),
                     policies=[PACK], inventory="inventory.yaml", hosts=hosts)


def big_run(n_hosts: int = 5000, n_checks: int = 15, run_id: str = "bench") -> RunResult:
    """A large deterministic run: ~10% unreachable, ~20% with a failing check, varied cert ages."""
    check_ids = [c[0] for c in CHECKS][:n_checks]
    hosts: list[HostResult] = []
    branches = ["深圳总部", "上海分公司", "北京分公司", "广州营业部"]
    for i in range(n_hosts):
        name = f"pc-{i:05d}"
        branch = branches[i % len(branches)]
        if i % 10 == 9:
            hosts.append(down_host(name, HostStatus.unreachable, "ConnectionRefused",
                                   T("连接被拒绝（5985）。", "connection refused (5985)."), branch=branch))
            continue
        overrides: dict[str, Finding] = {}
        if i % 5 == 1:
            cid = check_ids[i % min(len(check_ids), 10)]
            if not cid.startswith("gateway-cert"):
                overrides[cid] = finding(cid, FindingStatus.fail, observed="3",
                                         message=T("值为 3（禁用）", "value is 3 (Disable)"))
        hosts.append(host(name, branch=branch, groups=["traders", f"floor-{i % 7}"],
                          days_left=(i * 37) % 400 - 20, overrides=overrides, checks=check_ids))
    return RunResult(run_id=run_id, started=T0, finished=T0 + timedelta(minutes=9),
                     policies=[PACK], inventory="inventory.yaml", hosts=hosts)
