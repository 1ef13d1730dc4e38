"""Renewal readiness: can this PC's operator renew the gateway certificate online today?

Pure: reads a HostResult, no I/O, no clock (``days_left`` was computed at scan time).

The rule (per host, over the findings of the SCCC pack, ``policy_id`` =
``sccc-gateway-cert`` by default):

* **UNKNOWN** — the host was not probed (unreachable, auth failed, …), no
  operator profile was evaluated (``operator`` is empty), the pack was not in
  the run, or the run has no certificate-due check (R14) for the host.
* **BLOCKED** — some prerequisite finding of the pack is not OK (OK means
  ``pass``, ``not_applicable`` or ``waived``; ``fail``, ``error`` and
  ``not_evaluated`` block), or the certificate has already expired (online
  renewal needs a still-valid certificate; an expired one means a new
  application), or R14 itself could not be evaluated. Every blocker is listed.
* **READY** — no blocker, and R14 fails *only* because the certificate is
  inside the renewal window (0 ≤ days_left < threshold).
* **NOT_DUE** — no blocker and R14 passes (certificate not yet in the window),
  or R14 is ``not_applicable`` / ``waived``.

R14 is the finding whose ``requirement`` is ``"R14"`` (``Finding.requirement``,
or ``details["requirement"]`` for findings produced before that field existed).

Example::

    >>> readiness = host_readiness(host)
    >>> readiness.state, [b.check_id for b in readiness.blockers]
    (<ReadinessState.blocked: 'blocked'>, ['zone2-unsigned-activex'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import T, Text

SCCC_PACK = "sccc-gateway-cert"
DUE_REQUIREMENT = "R14"
_OK = {FindingStatus.passed, FindingStatus.not_applicable, FindingStatus.waived}


class ReadinessState(str, Enum):
    ready = "ready"
    blocked = "blocked"
    not_due = "not_due"
    unknown = "unknown"


STATE_LABELS: dict[ReadinessState, Text] = {
    ReadinessState.ready: T("可在线更新", "ready"),
    ReadinessState.blocked: T("受阻", "blocked"),
    ReadinessState.not_due: T("未到更新期", "not due"),
    ReadinessState.unknown: T("未知", "unknown"),
}


@dataclass(frozen=True)
class Blocker:
    """One reason online renewal cannot proceed on a host."""

    check_id: str
    title: Text
    status: str  # the finding status, or "expired"
    requirement: str | None = None


@dataclass(frozen=True)
class HostReadiness:
    host: str
    state: ReadinessState
    reason: Text
    blockers: list[Blocker] = field(default_factory=list)
    days_left: int | None = None


def requirement_of(finding: Finding) -> str | None:
    """The R-number of a finding: the field, else ``details["requirement"]``."""
    if finding.requirement:
        return finding.requirement
    value = finding.details.get("requirement")
    return value if isinstance(value, str) else None


def _days_left(finding: Finding) -> int | None:
    return _int_or_none(finding.details.get("days_left"))


def host_readiness(host: HostResult, pack: str = SCCC_PACK) -> HostReadiness:
    """Classify one host as READY / BLOCKED / NOT_DUE / UNKNOWN (rule in the module docstring)."""
    if host.status is not HostStatus.ok:
        return HostReadiness(host.host, ReadinessState.unknown,
                             T("主机未能检查", "host was not probed"))
    if not host.operator:
        return HostReadiness(host.host, ReadinessState.unknown,
                             T("没有操作员登录，无法检查用户设置和证书", "no operator session: user settings and certificate unknown"))
    findings = [f for f in host.findings if f.policy_id == pack]
    due = [f for f in findings if requirement_of(f) == DUE_REQUIREMENT]
    if not findings or not due:
        return HostReadiness(host.host, ReadinessState.unknown,
                             T("本次扫描未包含证书到期检查（R14）", "the run has no certificate-due check (R14)"))
    blockers = [
        Blocker(f.check_id, f.title, f.status.value, requirement_of(f))
        for f in findings
        if f.status not in _OK and requirement_of(f) != DUE_REQUIREMENT
    ]
    days = min((d for d in map(_days_left, due) if d is not None), default=None)
    in_window = False
    for f in due:
        if f.status in _OK:
            continue
        d = _days_left(f)
        if f.status is FindingStatus.fail and d is not None and d < 0:
            blockers.append(Blocker(
                f.check_id,
                T("证书已过期：无法在线更新，需重新申请", "certificate expired: online renewal impossible, apply again"),
                "expired", DUE_REQUIREMENT))
        elif f.status is FindingStatus.fail and d is not None:
            in_window = True
        else:
            blockers.append(Blocker(f.check_id, f.title, f.status.value, DUE_REQUIREMENT))
    if blockers:
        return HostReadiness(host.host, ReadinessState.blocked,
                             T(f"{len(blockers)} 项阻碍在线更新", f"{len(blockers)} item(s) block online renewal"),
                             blockers, days)
    if in_window:
        return HostReadiness(host.host, ReadinessState.ready,
                             T(f"证书 {days} 天后到期，可在线更新", f"certificate expires in {days} days: renew online now"),
                             [], days)
    return HostReadiness(host.host, ReadinessState.not_due,
                         T("证书尚未进入更新期", "certificate not yet in the renewal window"), [], days)


def _parse_iso(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def gateway_certificates(host: HostResult) -> list[dict[str, Any]]:
    """The certificates a host's certificate findings describe (their ``details``), one each.

    Keys: host, thumbprint, subject_cn, issuer, not_after (datetime or None),
    days_left, kind, has_private_key, store, user. Malformed values become None
    rather than errors: host output is untrusted.
    """
    seen: set[tuple[Any, Any]] = set()
    rows: list[dict[str, Any]] = []
    for finding in host.findings:
        d = finding.details
        if finding.check_type != "certificate" or not (d.get("thumbprint") or d.get("subject_cn")):
            continue
        key = (d.get("thumbprint"), d.get("subject_cn"))
        if key in seen:
            continue
        seen.add(key)
        hpk = d.get("has_private_key")
        rows.append(
            {
                "host": host.host,
                "thumbprint": _str_or_none(d.get("thumbprint")),
                "subject_cn": _str_or_none(d.get("subject_cn")),
                "issuer": _str_or_none(d.get("issuer")),
                "not_after": _parse_iso(d.get("not_after")),
                "days_left": _int_or_none(d.get("days_left")),
                "kind": _str_or_none(d.get("kind")),
                "has_private_key": hpk if isinstance(hpk, bool) else None,
                "store": _str_or_none(d.get("store")),
                "user": _str_or_none(d.get("user")),
            }
        )
    return rows


def run_certificates(run: RunResult) -> list[dict[str, Any]]:
    """Every host's :func:`gateway_certificates`, in host order: what the store records with a run.

    ``store.record_run(run, certificates=run_certificates(run))``; the store itself
    does not read findings' details.
    """
    return [cert for host in run.hosts for cert in gateway_certificates(host)]


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
