"""What the console shows after a sweep: counts, top failing checks, expiring certificates.

Pure (no I/O, no clock): :func:`summarize` reads a :class:`~fleetcheck.findings.RunResult`
and returns a :class:`ScanSummary`, whose :attr:`~ScanSummary.exit_code` is the scan's:
0 every host compliant, 1 some host non-compliant, 3 some host not probed (or the
sweep interrupted before every host was swept) — 3 wins over 1, a sweep with
holes is not a compliance verdict. :func:`render_summary` and :func:`summary_json`
are its two renderings (``scan --format table|json``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fleetcheck.errors import EXIT_NONCOMPLIANT, EXIT_OK, EXIT_UNREACHABLE
from fleetcheck.findings import FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import Lang, Text, tr
from fleetcheck.jsonout import iso_utc, text_json
from fleetcheck.officetime import office_day, office_zone

__all__ = [
    "DEFAULT_CERT_THRESHOLD_DAYS",
    "ExpiringCertificate",
    "ScanSummary",
    "certificate_thresholds",
    "render_summary",
    "scan_json",
    "summarize",
    "summary_json",
]

DEFAULT_CERT_THRESHOLD_DAYS = 30


@dataclass
class ExpiringCertificate:
    host: str
    subject_cn: str
    days_left: int
    not_after: str | None
    kind: str | None


@dataclass
class ScanSummary:
    """What the console shows after a sweep; built from the RunResult alone."""

    total: int
    swept: int
    compliant: int = 0
    noncompliant: int = 0
    unprobed: Counter[str] = field(default_factory=Counter)  # error class -> hosts
    failing_checks: list[tuple[str, int, Text]] = field(default_factory=list)  # check, hosts, title
    expiring: list[ExpiringCertificate] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.unprobed or self.swept < self.total:
            return EXIT_UNREACHABLE
        return EXIT_NONCOMPLIANT if self.noncompliant else EXIT_OK


def summarize(run: RunResult, total: int, thresholds: dict[str, int], *, interrupted: bool = False,
              top: int = 10) -> ScanSummary:
    """Counts, top failing checks, expiring certificates. ``thresholds``: check id → min days left."""
    summary = ScanSummary(total=total, swept=len(run.hosts), interrupted=interrupted)
    failing: Counter[str] = Counter()
    titles: dict[str, Text] = {}
    seen_certs: set[tuple[str, str]] = set()
    for host in run.hosts:
        if host.status is not HostStatus.ok:
            summary.unprobed[host.error_class or host.status.value] += 1
            continue
        if host.compliant:
            summary.compliant += 1
        else:
            summary.noncompliant += 1
        for finding in host.findings:
            key = f"{finding.policy_id}/{finding.check_id}"
            if finding.status in (FindingStatus.fail, FindingStatus.error):
                failing[key] += 1
                titles[key] = finding.title
            if finding.check_type == "certificate":
                cert = _expiring(host, finding.details, thresholds.get(key, DEFAULT_CERT_THRESHOLD_DAYS))
                # Several checks (present, kind, validity) look at the same certificate.
                ident = (host.host, str(finding.details.get("thumbprint") or finding.details.get("subject_cn")))
                if cert is not None and ident not in seen_certs:
                    seen_certs.add(ident)
                    summary.expiring.append(cert)
    ranked = sorted(failing.items(), key=lambda item: (-item[1], item[0]))[:top]  # ties by name: not by finish order
    summary.failing_checks = [(key, count, titles[key]) for key, count in ranked]
    summary.expiring.sort(key=lambda c: (c.days_left, c.host))
    return summary


def _expiring(host: HostResult, details: dict[str, Any], threshold: int) -> ExpiringCertificate | None:
    days = details.get("days_left")
    if not isinstance(days, int) or days >= threshold:
        return None
    return ExpiringCertificate(host=host.host, subject_cn=str(details.get("subject_cn") or "?"), days_left=days,
                               not_after=None if details.get("not_after") is None else str(details["not_after"]),
                               kind=details.get("kind"))


def certificate_thresholds(policies: Sequence[Any]) -> dict[str, int]:
    """``policy/check`` → ``min_days_left`` of every certificate check that sets one."""
    found: dict[str, int] = {}
    for policy in policies:
        for check in policy.checks:
            days = getattr(check, "min_days_left", None)
            if check.type == "certificate" and isinstance(days, int):
                found[f"{policy.id}/{check.id}"] = days
    return found


def render_summary(summary: ScanSummary, lang: Lang, elapsed_s: float) -> str:
    """The bilingual table printed after a sweep."""
    zh = lang == "zh"
    lines = [
        (f"扫描完成：{summary.swept}/{summary.total} 台主机，用时 {elapsed_s:.1f} 秒" if zh else
         f"Sweep finished: {summary.swept}/{summary.total} hosts in {elapsed_s:.1f} s"),
    ]
    if summary.interrupted:
        lines.append(f"  已中断（Ctrl-C）：{summary.total - summary.swept} 台未检查" if zh else
                     f"  interrupted (Ctrl-C): {summary.total - summary.swept} hosts not swept")
    unprobed = sum(summary.unprobed.values())
    lines.append(f"  合规 {summary.compliant}   不合规 {summary.noncompliant}   无法检查 {unprobed}" if zh else
                 f"  compliant {summary.compliant}   non-compliant {summary.noncompliant}   not probed {unprobed}")
    if summary.unprobed:
        parts = ", ".join(f"{name} {count}" for name, count in summary.unprobed.most_common())
        lines.append(("  无法检查（按错误类型）：" if zh else "  not probed, by error class: ") + parts)
    if summary.failing_checks:
        lines.append("  失败最多的检查：" if zh else "  top failing checks:")
        for key, count, title in summary.failing_checks:
            unit = "台" if zh else ("host " if count == 1 else "hosts")
            lines.append(f"    {count:>4} {unit}  {key}  {tr(title, lang)}")
    if summary.expiring:
        lines.append(f"  即将到期或已过期的证书（到期日：{office_zone().key}）：" if zh else
                     f"  certificates expiring or expired (expiry date in {office_zone().key}):")
        for cert in summary.expiring[:20]:
            left = (f"剩余 {cert.days_left} 天" if cert.days_left >= 0 else f"已过期 {-cert.days_left} 天") if zh else \
                   (f"{cert.days_left} days left" if cert.days_left >= 0 else f"expired {-cert.days_left} days ago")
            until = office_day(cert.not_after)  # the office's date, as in certs, the report and renew
            lines.append(f"    {cert.host}  {cert.subject_cn}  {left}  {until}".rstrip())
        if len(summary.expiring) > 20:
            lines.append(f"    …另有 {len(summary.expiring) - 20} 个" if zh else f"    … and {len(summary.expiring) - 20} more")
    return "\n".join(lines)


def _iso(value: str | None) -> str | None:
    """A stored ISO 8601 time as ISO 8601 UTC with its offset; None when absent or unreadable."""
    if not value:
        return None
    try:
        return iso_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _verdict(host: HostResult) -> str:
    if host.status is not HostStatus.ok:
        return "not_probed"
    return "compliant" if host.compliant else "noncompliant"


def _host_json(host: HostResult) -> dict[str, Any]:
    counts = Counter(f.status.value for f in host.findings)
    return {
        "host": host.host, "address": host.address, "branch": host.branch, "status": host.status.value,
        "verdict": _verdict(host), "error_class": host.error_class,
        "error": text_json(host.error) if host.error is not None else None,
        "started": iso_utc(host.started), "finished": iso_utc(host.finished), "attempts": host.attempts,
        "operator": host.operator,
        "findings": {s.value: counts.get(s.value, 0) for s in FindingStatus},
        "failing": [{"check": f"{f.policy_id}/{f.check_id}", "status": f.status.value, "title": text_json(f.title)}
                    for f in host.findings if f.status in _NOT_PASSING],
    }


_NOT_PASSING = (FindingStatus.fail, FindingStatus.error, FindingStatus.not_evaluated)


def scan_json(summary: ScanSummary, results_path: Path, run: RunResult) -> dict[str, Any]:
    """The ``scan --format json`` document (``reports_templates/scan.schema.json``).

    Keys are fixed English; user text is ``{"zh", "en"}``; times ISO 8601 UTC
    with their offset: the same bytes whatever ``--lang`` is.
    """
    return {
        "run_id": run.run_id, "started": iso_utc(run.started), "finished": iso_utc(run.finished),
        "hosts": summary.total, "swept": summary.swept, "compliant": summary.compliant,
        "noncompliant": summary.noncompliant, "not_probed": sum(summary.unprobed.values()),
        "unprobed": dict(sorted(summary.unprobed.items())), "interrupted": summary.interrupted,
        "exit_code": summary.exit_code, "results": str(results_path),
        "top_failing_checks": [{"check": k, "hosts": n, "title": text_json(t)} for k, n, t in summary.failing_checks],
        "expiring_certificates": [{"host": c.host, "subject_cn": c.subject_cn, "days_left": c.days_left,
                                   "not_after": _iso(c.not_after), "kind": c.kind} for c in summary.expiring],
        "host_results": [_host_json(h) for h in sorted(run.hosts, key=lambda h: h.host)],  # stable order
    }


def summary_json(summary: ScanSummary, results_path: Path, run: RunResult) -> str:
    """:func:`scan_json` as indented UTF-8 JSON text (``scan`` and ``collect --format json``)."""
    return json.dumps(scan_json(summary, results_path, run), ensure_ascii=False, indent=2)
