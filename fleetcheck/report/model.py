"""Report view models: everything a compliance report shows, computed from a RunResult.

Pure (no I/O, no clock): :func:`build_report` takes the run, the trend points
(from the store, oldest first) and a language, and returns plain dataclasses
whose strings are already in that language. Every renderer (HTML, JSON, CSV,
JUnit) reads this model; the JSON report is the model itself, with the JSON
Schema :func:`report_json_schema` (``schema`` = ``fleetcheck-report/1``).

Definitions (also in README "Reports / 报告"):
* a host is *compliant* when it was probed and no finding is fail, error or
  not_evaluated (``HostResult.compliant``); compliance % = compliant hosts /
  probed hosts × 100, one decimal, ``None`` when nothing was probed;
* per check, % = hosts whose finding is pass / not_applicable / waived over
  hosts that have that finding;
* certificate expiry classes: ``expired`` (days_left < 0), ``lt7`` (< 7),
  ``lt30`` (< 30), ``ok``, ``unknown`` (no expiry known).
"""

from __future__ import annotations

import shlex
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from fleetcheck.findings import (
    Finding,
    FindingStatus,
    FixMode,
    HostResult,
    HostStatus,
    RunResult,
    observed_in,
)
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.officetime import office_date, office_zone
from fleetcheck.policy.waivers import Waiver
from fleetcheck.policy.waiverstate import (
    EXPIRING_DAYS,
    WaiverStateName,
    attention,
    classify_waivers,
    expires_label,
)
from fleetcheck.readiness import (
    SCCC_PACK,
    STATE_LABELS,
    ReadinessState,
    gateway_certificates,
    host_readiness,
)

REPORT_SCHEMA: Literal["fleetcheck-report/1"] = "fleetcheck-report/1"
_OK = {FindingStatus.passed, FindingStatus.not_applicable, FindingStatus.waived}

FINDING_STATUS_LABELS: dict[FindingStatus, Text] = {
    FindingStatus.passed: T("通过", "pass"),
    FindingStatus.fail: T("不通过", "fail"),
    FindingStatus.error: T("出错", "error"),
    FindingStatus.not_applicable: T("不适用", "not applicable"),
    FindingStatus.not_evaluated: T("未检查", "not evaluated"),
    FindingStatus.waived: T("已豁免", "waived"),
}
HOST_STATUS_LABELS: dict[HostStatus, Text] = {
    HostStatus.ok: T("已检查", "probed"),
    HostStatus.unreachable: T("无法连接", "unreachable"),
    HostStatus.refused: T("连接被拒绝", "connection refused"),
    HostStatus.timeout: T("超时", "timed out"),
    HostStatus.auth_failed: T("认证失败", "authentication failed"),
    HostStatus.tls_error: T("TLS 错误", "TLS error"),
    HostStatus.wsman_fault: T("WS-Management 故障", "WS-Management fault"),
    HostStatus.agent_failed: T("代理脚本失败", "agent failed"),
    HostStatus.bad_output: T("输出无法解析", "unparseable output"),
    HostStatus.error: T("错误", "error"),
}
HOST_STATE_LABELS: dict[str, Text] = {
    "compliant": T("合规", "compliant"),
    "failing": T("不合规", "non-compliant"),
    "unreachable": T("未能检查", "not probed"),
}
HostState = Literal["compliant", "failing", "unreachable"]
ExpiryClass = Literal["expired", "lt7", "lt30", "ok", "unknown"]


@dataclass(slots=True)
class GroupCompliance:
    name: str
    hosts: int
    probed: int
    compliant: int
    pct: float | None


@dataclass(slots=True)
class CheckCompliance:
    policy_id: str
    check_id: str
    title: str
    severity: str
    hosts: int
    ok: int
    failed: int
    errors: int
    not_evaluated: int
    pct: float | None


@dataclass(slots=True)
class Overview:
    hosts: int
    probed: int
    compliant: int
    non_compliant: int
    not_probed: int
    pct: float | None
    by_branch: list[GroupCompliance]
    by_group: list[GroupCompliance]
    by_check: list[CheckCompliance]


@dataclass(slots=True)
class BlockerCount:
    check_id: str
    title: str
    hosts: int


@dataclass(slots=True)
class ReadinessSummary:
    ready: int
    blocked: int
    not_due: int
    unknown: int
    blockers: list[BlockerCount]  # most frequent first


@dataclass(slots=True)
class CertificateRow:
    host: str
    branch: str | None
    user: str | None
    subject_cn: str | None
    issuer: str | None
    not_after: str | None  # ISO 8601
    days_left: int | None
    expiry_class: ExpiryClass
    kind: str | None
    has_private_key: bool | None
    store: str | None
    thumbprint: str | None
    readiness: str
    readiness_label: str


@dataclass(slots=True)
class FailedHost:
    host: str
    address: str | None
    branch: str | None
    status: str
    status_label: str
    error_class: str | None
    message: str
    attempts: int


@dataclass(slots=True)
class TrendPoint:
    """Compliance of one run, for the trend chart. ``started`` is ISO 8601."""

    run_id: str
    started: str
    pct: float | None


@dataclass(slots=True)
class FindingView:
    policy_id: str
    check_id: str
    title: str
    status: str
    status_label: str
    severity: str
    expected: str | None
    observed: str | None
    source: str | None
    message: str | None
    remedy: str | None
    guide: str | None
    requirement: str | None
    fix: str
    fix_command: str | None  # `fleetcheck fix HOST` for failing findings with fix=auto
    waiver: dict[str, Any] | None


@dataclass(slots=True)
class HostView:
    host: str
    address: str | None
    branch: str | None
    groups: list[str]
    status: str
    status_label: str
    state: HostState
    state_label: str
    operator: str | None
    error_class: str | None
    error: str | None
    readiness: str
    readiness_label: str
    readiness_reason: str
    blockers: list[str]
    counts: dict[str, int]
    findings: list[FindingView]
    observed: str | None = None  # when this state was observed (ISO 8601 UTC); office-state reports only
    observed_run: str | None = None  # the run that observed it
    stale: bool = False  # observed longer ago than the office state's stale threshold
    failed_since: str | None = None  # a newer attempt could not probe it (ISO 8601 UTC): shown as "not reachable since"


@dataclass(slots=True)
class WaiverRow:
    """A waiver that needs looking at (expired, expiring, unused); ``expires`` is its last day, an office date."""

    number: int  # its position in the waivers file, from 1
    check: str
    hosts: list[str]
    groups: list[str]
    reason: str
    approver: str
    expires: str  # ISO date (office date)
    expires_label: str  # the date with the office zone named: 2026-12-31 Asia/Shanghai
    days_left: int  # negative once expired
    state: WaiverStateName
    state_label: str
    matched_hosts: list[str]  # hosts of the report with a finding it waives (or would)


@dataclass(slots=True)
class WaiverSection:
    """The waivers given with the report, as of ``as_of`` (office date): counts, and the rows to look at."""

    as_of: str  # ISO date (office date) the states were computed for
    zone: str  # the office zone of every date here
    expiring_days: int
    total: int
    expired: int
    expiring: int
    unused: int
    active: int
    rows: list[WaiverRow]  # expired, then expiring, then unused; active waivers are only counted


@dataclass(frozen=True)
class OfficeContext:
    """What a report of the office state (each host's latest observation, from several runs) adds:
    where each host's state comes from, and how old an observation may be before it is stale."""

    observed: Mapping[str, datetime]  # host -> when observed (UTC)
    run_of: Mapping[str, str]  # host -> the run that observed it
    failed_since: Mapping[str, datetime]  # host -> a newer attempt failed to probe it (UTC)
    sources: int  # runs contributing
    now: datetime
    stale_days: float = 7.0


@dataclass(slots=True)
class OfficeSummary:
    """The report is the office state: how many runs it comes from, the oldest observation, stale hosts."""

    sources: int
    oldest: str | None  # ISO 8601 UTC
    newest: str | None
    stale_days: float
    stale_hosts: list[str]


@dataclass(slots=True)
class ReportModel:
    schema: Literal["fleetcheck-report/1"]
    lang: str
    run_id: str
    started: str
    finished: str | None
    policies: list[str]
    inventory: str | None
    overview: Overview
    readiness: ReadinessSummary
    certificates: list[CertificateRow]
    failed_hosts: list[FailedHost]
    trend: list[TrendPoint]
    hosts: list[HostView] = field(default_factory=list)
    office: OfficeSummary | None = None  # set when the report is the office state, not one run
    waivers: WaiverSection | None = None  # only when waivers were given (scan --waivers, report --waivers)


def pct(part: int, whole: int) -> float | None:
    """Percentage with one decimal; None for an empty whole. ``pct(1, 3) == 33.3``."""
    return None if whole == 0 else round(100.0 * part / whole, 1)


def expiry_class(days_left: int | None) -> ExpiryClass:
    if days_left is None:
        return "unknown"
    if days_left < 0:
        return "expired"
    if days_left < 7:
        return "lt7"
    if days_left < 30:
        return "lt30"
    return "ok"


def fix_command(host: str, inventory: str | None = None) -> str:
    """The command that fixes a host, ready to paste (shell-quoted: names come from the inventory).

    >>> fix_command("PC-SZ-003", "/srv/fc/营业部 清单.yaml")
    "fleetcheck fix PC-SZ-003 -i '/srv/fc/营业部 清单.yaml'"
    """
    command = f"fleetcheck fix {shlex.quote(host)}"
    return f"{command} -i {shlex.quote(inventory)}" if inventory else command


def host_state(host: HostResult) -> HostState:
    compliant = host.compliant
    if compliant is None:
        return "unreachable"
    return "compliant" if compliant else "failing"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _group_rows(hosts: Iterable[tuple[str, HostResult]]) -> list[GroupCompliance]:
    total: Counter[str] = Counter()
    probed: Counter[str] = Counter()
    compliant: Counter[str] = Counter()
    for name, h in hosts:
        total[name] += 1
        if h.status is HostStatus.ok:
            probed[name] += 1
            compliant[name] += 1 if h.compliant else 0
    return [
        GroupCompliance(n, total[n], probed[n], compliant[n], pct(compliant[n], probed[n]))
        for n in sorted(total)
    ]


def _check_rows(run: RunResult, lang: Lang) -> list[CheckCompliance]:
    rows: dict[tuple[str, str], CheckCompliance] = {}
    for h in run.hosts:
        if h.status is not HostStatus.ok:
            continue
        for f in h.findings:
            row = rows.get((f.policy_id, f.check_id))
            if row is None:
                row = CheckCompliance(f.policy_id, f.check_id, f.title.get(lang), f.severity.value,
                                      0, 0, 0, 0, 0, None)
                rows[(f.policy_id, f.check_id)] = row
            row.hosts += 1
            if f.status in _OK:
                row.ok += 1
            elif f.status is FindingStatus.fail:
                row.failed += 1
            elif f.status is FindingStatus.error:
                row.errors += 1
            else:
                row.not_evaluated += 1
    for row in rows.values():
        row.pct = pct(row.ok, row.hosts)
    # worst first so the overview leads with what to fix
    return sorted(rows.values(), key=lambda r: (r.pct if r.pct is not None else 101.0, r.check_id))


def _finding_view(f: Finding, host: str, lang: Lang, inventory: str | None = None) -> FindingView:
    failing = f.status is FindingStatus.fail
    return FindingView(
        policy_id=f.policy_id,
        check_id=f.check_id,
        title=f.title.get(lang),
        status=f.status.value,
        status_label=FINDING_STATUS_LABELS[f.status].get(lang),
        severity=f.severity.value,
        expected=f.expected,
        observed=observed_in(f.observed, lang) if f.observed is not None else None,
        source=f.source,
        message=tr(f.message, lang) or None,
        remedy=tr(f.remedy, lang) or None,
        guide=f.guide,
        requirement=f.requirement,
        fix=f.fix.value,
        fix_command=fix_command(host, inventory) if failing and f.fix is FixMode.auto else None,
        waiver=f.waiver,
    )


_STATE_ORDER = {"failing": 0, "unreachable": 1, "compliant": 2}


def waiver_section(waivers: Sequence[Waiver], run: RunResult, now: datetime, lang: Lang,
                   expiring_days: int = EXPIRING_DAYS) -> WaiverSection:
    """The report's waivers section: each waiver classified against ``run`` at ``now`` (office date)."""
    states = classify_waivers(waivers, run, now, expiring_days=expiring_days)
    count = Counter(s.state for s in states)
    rows = [
        WaiverRow(number=s.number, check=s.waiver.check, hosts=list(s.waiver.hosts), groups=list(s.waiver.groups),
                  reason=s.waiver.reason, approver=s.waiver.approver, expires=s.waiver.expires.isoformat(),
                  expires_label=expires_label(s.waiver), days_left=s.days_left, state=s.state,
                  state_label=s.label.get(lang), matched_hosts=list(s.hosts))
        for s in attention(states)
    ]
    return WaiverSection(as_of=office_date(now).isoformat(), zone=office_zone().key, expiring_days=expiring_days,
                         total=len(states), expired=count["expired"], expiring=count["expiring"],
                         unused=count["unused"], active=count["active"], rows=rows)


def build_report(
    run: RunResult,
    *,
    lang: Lang = "zh",
    trend: list[TrendPoint] | None = None,
    pack: str = SCCC_PACK,
    waivers: Sequence[Waiver] | None = None,
    now: datetime | None = None,
    office: OfficeContext | None = None,
) -> ReportModel:
    """The view model of one run. ``trend``: earlier runs' points, oldest first.

    ``waivers`` (the file the run was scanned with, or given to ``report``): adds the
    waivers section, each waiver's state as of ``now`` (default: the run's end, else start).

    ``office``: ``run`` is the office state (fleetcheck.store.OfficeState.run): each
    host view says when and by which run it was observed, and whether that is stale.

    The current run is appended to the trend when it is not already its last point.
    Hosts are ordered failing, not probed, compliant; by name within each.
    """
    probed = [h for h in run.hosts if h.status is HostStatus.ok]
    compliant = sum(1 for h in probed if h.compliant)
    overall = pct(compliant, len(probed))
    overview = Overview(
        hosts=len(run.hosts),
        probed=len(probed),
        compliant=compliant,
        non_compliant=len(probed) - compliant,
        not_probed=len(run.hosts) - len(probed),
        pct=overall,
        by_branch=_group_rows((h.branch or "-", h) for h in run.hosts),
        by_group=_group_rows((g, h) for h in run.hosts for g in (h.groups or ["-"])),
        by_check=_check_rows(run, lang),
    )

    readiness_by_host = {h.host: host_readiness(h, pack) for h in run.hosts}
    states = Counter(r.state for r in readiness_by_host.values())
    blocker_hosts: Counter[str] = Counter()
    blocker_titles: dict[str, str] = {}
    for r in readiness_by_host.values():
        for b in r.blockers:
            key = b.check_id if b.status != "expired" else f"{b.check_id}:expired"
            blocker_hosts[key] += 1
            blocker_titles[key] = b.title.get(lang)
    readiness = ReadinessSummary(
        ready=states[ReadinessState.ready],
        blocked=states[ReadinessState.blocked],
        not_due=states[ReadinessState.not_due],
        unknown=states[ReadinessState.unknown],
        blockers=[
            BlockerCount(k, blocker_titles[k], n)
            for k, n in sorted(blocker_hosts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    )

    certificates: list[CertificateRow] = []
    for h in probed:
        r = readiness_by_host[h.host]
        for c in gateway_certificates(h):
            certificates.append(CertificateRow(
                host=h.host, branch=h.branch, user=c["user"], subject_cn=c["subject_cn"],
                issuer=c["issuer"], not_after=_iso(c["not_after"]), days_left=c["days_left"],
                expiry_class=expiry_class(c["days_left"]), kind=c["kind"],
                has_private_key=c["has_private_key"], store=c["store"], thumbprint=c["thumbprint"],
                readiness=r.state.value, readiness_label=STATE_LABELS[r.state].get(lang),
            ))
    certificates.sort(key=lambda c: (c.days_left is None, c.days_left or 0, c.host))

    failed_hosts = [
        FailedHost(h.host, h.address, h.branch, h.status.value, HOST_STATUS_LABELS[h.status].get(lang),
                   h.error_class, tr(h.error, lang), h.attempts)
        for h in sorted(run.hosts, key=lambda h: h.host)
        if h.status is not HostStatus.ok
    ]

    points = list(trend or [])
    if not points or points[-1].run_id != run.run_id:
        points.append(TrendPoint(run.run_id, run.started.isoformat(), overall))

    hosts: list[HostView] = []
    for h in sorted(run.hosts, key=lambda h: (_STATE_ORDER[host_state(h)], h.host)):
        r = readiness_by_host[h.host]
        state = host_state(h)
        counts: dict[str, int] = defaultdict(int)
        for f in h.findings:
            counts[f.status.value] += 1
        hosts.append(HostView(
            host=h.host, address=h.address, branch=h.branch, groups=list(h.groups),
            status=h.status.value, status_label=HOST_STATUS_LABELS[h.status].get(lang),
            state=state, state_label=HOST_STATE_LABELS[state].get(lang),
            operator=h.operator, error_class=h.error_class, error=tr(h.error, lang) or None,
            readiness=r.state.value, readiness_label=STATE_LABELS[r.state].get(lang),
            readiness_reason=r.reason.get(lang),
            blockers=[b.title.get(lang) for b in r.blockers],
            counts=dict(counts),
            findings=[_finding_view(f, h.host, lang, run.inventory) for f in h.findings],
        ))
    if office is not None:
        _mark_observations(hosts, office)

    return ReportModel(
        schema=REPORT_SCHEMA, lang=lang, run_id=run.run_id, started=run.started.isoformat(),
        finished=_iso(run.finished), policies=list(run.policies), inventory=run.inventory,
        overview=overview, readiness=readiness, certificates=certificates,
        failed_hosts=failed_hosts, trend=points, hosts=hosts,
        office=None if office is None else _office_summary(hosts, office),
        waivers=None if waivers is None else waiver_section(waivers, run, now or run.finished or run.started, lang),
    )


def _mark_observations(hosts: Sequence[HostView], office: OfficeContext) -> None:
    limit_s = office.stale_days * 86400.0
    for view in hosts:
        seen = office.observed.get(view.host)
        if seen is not None:
            view.observed = seen.isoformat()
            view.observed_run = office.run_of.get(view.host)
            view.stale = (office.now - seen).total_seconds() > limit_s
        failed = office.failed_since.get(view.host)
        view.failed_since = None if failed is None else failed.isoformat()


def _office_summary(hosts: Sequence[HostView], office: OfficeContext) -> OfficeSummary:
    times = sorted(office.observed.values())
    return OfficeSummary(sources=office.sources, oldest=_iso(times[0]) if times else None,
                         newest=_iso(times[-1]) if times else None, stale_days=office.stale_days,
                         stale_hosts=sorted(v.host for v in hosts if v.stale))


def report_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the JSON report (= the serialised :class:`ReportModel`)."""
    from pydantic import TypeAdapter  # local: only the JSON renderer and docs need it

    schema = TypeAdapter(ReportModel).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://fleetcheck.invalid/schemas/fleetcheck-report-1.json"
    schema["title"] = "fleetcheck report (fleetcheck-report/1)"
    return schema
