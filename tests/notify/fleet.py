"""Synthetic but realistic RunResults: a small office of trading PCs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, RunResult, Severity
from fleetcheck.i18n import T

STARTED = datetime(2026, 11, 25, 7, 30, tzinfo=timezone(timedelta(hours=8)))


def finding(check_id: str, status: FindingStatus, title_zh: str, title_en: str, **kw: Any) -> Finding:
    return Finding(
        policy_id="sccc-gateway-cert",
        check_id=check_id,
        check_type=kw.pop("check_type", "zone_action"),
        status=status,
        severity=kw.pop("severity", Severity.high),
        title=T(title_zh, title_en),
        **kw,
    )


def cert(host_cn: str, days_left: int | None, thumb: str, *, status: FindingStatus = FindingStatus.passed,
         not_after: str | None = None) -> Finding:
    details: dict[str, Any] = {
        "subject_cn": host_cn,
        "issuer": "SZCA",
        "not_after": not_after or (STARTED + timedelta(days=days_left or 0)).isoformat(),
        "thumbprint": thumb,
        "kind": "file",
        "has_private_key": True,
        "user": "SZ\\trader01",
    }
    if days_left is not None:
        details["days_left"] = days_left
    return finding("gateway-cert-valid", status, "网关证书在有效期内", "Gateway certificate valid",
                   check_type="certificate", details=details)


def ok_host(name: str, *extra: Finding) -> HostResult:
    return HostResult(
        host=name,
        status=HostStatus.ok,
        findings=[finding("portal-trusted-site", FindingStatus.passed, "biz.sccc.com 已加入受信任站点",
                          "Portal is a Trusted Site"), *extra],
    )


def failing_host(name: str, *extra: Finding) -> HostResult:
    return HostResult(
        host=name,
        status=HostStatus.ok,
        findings=[
            finding("portal-trusted-site", FindingStatus.fail, "biz.sccc.com 已加入受信任站点",
                    "Portal is a Trusted Site"),
            finding("certenroll-control", FindingStatus.fail, "CertEnroll 控件版本为 2.0.4.8",
                    "CertEnroll Control is 2.0.4.8", check_type="activex"),
            *extra,
        ],
    )


def down_host(name: str, status: HostStatus = HostStatus.timeout, cls: str = "HostTimeout") -> HostResult:
    return HostResult(host=name, status=status, error_class=cls,
                      error=T("连接超时：请检查主机是否开机", "timed out: check that the host is on"))


def office(run_id: str = "run-2", **overrides: HostResult) -> RunResult:
    """Eight PCs; keyword overrides replace a host by name (PC_SZ_003=... → PC-SZ-003)."""
    hosts = {
        "PC-SZ-001": ok_host("PC-SZ-001", cert("F00504Y0007#0", 200, "AA01")),
        "PC-SZ-002": ok_host("PC-SZ-002", cert("F00504Y0008#0", 12, "AA02")),
        "PC-SZ-003": ok_host("PC-SZ-003"),
        "PC-SZ-004": ok_host("PC-SZ-004", cert("F00504Y0010#0", -5, "AA04", status=FindingStatus.fail)),
        "PC-SZ-005": ok_host("PC-SZ-005"),
        "PC-SZ-006": ok_host("PC-SZ-006"),
        "PC-SZ-007": failing_host("PC-SZ-007"),
        "PC-SZ-008": down_host("PC-SZ-008"),
    }
    for key, host in overrides.items():
        hosts[key.replace("_", "-")] = host
    return RunResult(run_id=run_id, started=STARTED, finished=STARTED + timedelta(minutes=2),
                     policies=["sccc-gateway-cert"], hosts=list(hosts.values()))
