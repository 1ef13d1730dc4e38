"""The digest of a sweep for notifications: pure (no I/O, no clock), built from two RunResults.

What a digest holds:

- **compliance** = compliant hosts / all hosts in the run, in percent. Hosts that
  could not be probed count as *not* compliant: 100 % must mean the whole fleet
  was seen and is fine. Its change since the previous run is in percentage points.
- **newly failing hosts**: compliant in the previous run, probed and not compliant
  now, with the titles of their failing checks.
- **expiring certificates**: every certificate finding (``check_type`` =
  ``certificate``) whose ``details.days_left`` is at most ``expiring_days``,
  one entry per (host, thumbprint), sorted by days left (expired first). When
  ``days_left`` is missing it is computed from ``not_after`` and the run's start.
- **unreachable hosts**: hosts not probed, with their status and error class;
  ``new`` marks those that were probed fine in the previous run.

When is a run a **change** (``notify_on: change``)? When there is no previous
run, or the compliance rounded to 0.1 % differs, or some host is newly failing,
or the set of unreachable hosts differs, or the set of expiring certificates
(host + thumbprint) differs. Days left ticking down by one is not a change; a
certificate crossing the threshold, being renewed or expiring further is only
a change when the set changes — an already listed certificate stays quiet.

When does a run have **problems** (``notify_on: problems``)? When some host is
not compliant or not reachable, or some certificate is expiring, or (waivers
known) some waiver has expired or expires within 14 days.

**Waivers** (when the sweep had a waivers file: ``scan --waivers``): those
expired, expiring within 14 days, or unused (matching no failing or waived
finding), classified by :func:`fleetcheck.policy.waiverstate.classify_waivers`
at the run's end. With a previous run, a change in that list (the same file
classified against the previous run at its end) is a change (``waivers``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from fleetcheck.findings import FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import Lang, Text, tr
from fleetcheck.officetime import office_day, office_minute, office_stamp, office_zone
from fleetcheck.policy.waivers import Waiver
from fleetcheck.policy.waiverstate import EXPIRING_DAYS, WaiverState, attention, classify_waivers

__all__ = [
    "Digest",
    "ExpiringCertificate",
    "FailingHost",
    "UnreachableHost",
    "build_digest",
    "render_html",
    "render_lines",
    "render_markdown",
    "render_subject",
    "render_text",
    "should_send",
]

NotifyOn = Literal["always", "change", "problems"]
MAX_ITEMS = 20  # per section: a chat message must stay readable and under the robots' size limits


@dataclass(frozen=True)
class FailingHost:
    host: str
    failing_checks: tuple[Text, ...]


@dataclass(frozen=True)
class ExpiringCertificate:
    host: str
    subject_cn: str
    days_left: int
    not_after: str
    thumbprint: str
    kind: str | None = None
    user: str | None = None
    observed: datetime | None = None  # when the PC's certificates were read (its sweep's end)
    earlier: bool = False  # read by an earlier run than the digest's (the office state mixes runs)

    @property
    def expired(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True)
class UnreachableHost:
    host: str
    status: str
    error_class: str | None
    error: Text | None
    new: bool


@dataclass(frozen=True)
class Digest:
    """Everything a notification says about one sweep. Build it with :func:`build_digest`."""

    run_id: str
    started: datetime
    expiring_days: int
    total_hosts: int
    compliant_hosts: int
    noncompliant_hosts: int
    compliance_pct: float | None  # None when the run has no hosts
    previous_pct: float | None
    newly_failing: tuple[FailingHost, ...]
    expiring: tuple[ExpiringCertificate, ...]
    unreachable: tuple[UnreachableHost, ...]
    changed: bool
    change_reasons: tuple[str, ...] = field(default=())
    report_url: str | None = None
    # None: no waivers file was given; else the waivers to look at (expired, expiring, unused)
    waivers: tuple[WaiverState, ...] | None = None

    @property
    def first_run(self) -> bool:
        """No earlier run of this office to compare with: every problem is listed as news."""
        return "first_run" in self.change_reasons

    @property
    def delta_pct(self) -> float | None:
        if self.compliance_pct is None or self.previous_pct is None:
            return None
        return round(self.compliance_pct - self.previous_pct, 1)

    @property
    def has_problems(self) -> bool:
        lapsing = any(w.state in ("expired", "expiring") for w in self.waivers or ())
        return bool(self.noncompliant_hosts or self.unreachable or self.expiring or lapsing)

    def to_json(self) -> dict[str, Any]:
        """Machine-readable form (the generic webhook's ``digest``)."""
        return {
            "run_id": self.run_id,
            "started": self.started.isoformat(),
            "total_hosts": self.total_hosts,
            "compliant_hosts": self.compliant_hosts,
            "noncompliant_hosts": self.noncompliant_hosts,
            "compliance_pct": self.compliance_pct,
            "previous_pct": self.previous_pct,
            "delta_pct": self.delta_pct,
            "changed": self.changed,
            "change_reasons": list(self.change_reasons),
            "expiring_days": self.expiring_days,
            "newly_failing": [
                {"host": h.host, "failing_checks": [c.model_dump() for c in h.failing_checks]}
                for h in self.newly_failing
            ],
            "expiring_certificates": [
                {
                    "host": c.host,
                    "subject_cn": c.subject_cn,
                    "days_left": c.days_left,
                    "not_after": c.not_after,
                    "thumbprint": c.thumbprint,
                    "kind": c.kind,
                    "user": c.user,
                    "observed": c.observed.isoformat() if c.observed else None,
                }
                for c in self.expiring
            ],
            "unreachable_hosts": [
                {
                    "host": u.host,
                    "status": u.status,
                    "error_class": u.error_class,
                    "error": u.error.model_dump() if u.error else None,
                    "new": u.new,
                }
                for u in self.unreachable
            ],
            "report_url": self.report_url,
            "waivers": None if self.waivers is None else [_waiver_json(w) for w in self.waivers],
        }


def _waiver_json(state: WaiverState) -> dict[str, Any]:
    w = state.waiver
    return {
        "number": state.number,
        "state": state.state,
        "check": w.check,
        "hosts": list(w.hosts),
        "groups": list(w.groups),
        "expires": w.expires.isoformat(),  # the last day it holds, an office date
        "days_left": state.days_left,
        "reason": w.reason,
        "approver": w.approver,
        "matched_hosts": list(state.hosts),
    }


# --------------------------------------------------------------------------- building


def _pct(run: RunResult) -> float | None:
    if not run.hosts:
        return None
    compliant = sum(1 for h in run.hosts if h.compliant is True)
    return round(100.0 * compliant / len(run.hosts), 1)


def _failing_titles(host: HostResult) -> tuple[Text, ...]:
    bad = (FindingStatus.fail, FindingStatus.error, FindingStatus.not_evaluated)
    return tuple(f.title for f in host.findings if f.status in bad)


def _days_left(details: dict[str, Any], started: datetime) -> int | None:
    value = details.get("days_left")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    not_after = details.get("not_after")
    if not isinstance(not_after, str):
        return None
    try:
        when = datetime.fromisoformat(not_after.replace("Z", "+00:00"))
    except ValueError:
        return None
    ref = started
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if ref.tzinfo is None:
        ref = ref.replace(tzinfo=timezone.utc)
    seconds = (when - ref).total_seconds()
    return int(seconds // 86400)


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _expiring(run: RunResult, threshold: int) -> tuple[ExpiringCertificate, ...]:
    found: dict[tuple[str, str], ExpiringCertificate] = {}
    for host in run.hosts:
        for finding in host.findings:
            if finding.check_type != "certificate" or not finding.details:
                continue
            d = finding.details
            days = _days_left(d, run.started)
            if days is None or days > threshold:
                continue
            cn = str(d.get("subject_cn") or "")
            thumb = str(d.get("thumbprint") or cn)
            key = (host.host, thumb.upper())
            if key in found:
                continue
            found[key] = ExpiringCertificate(
                host=host.host,
                subject_cn=cn,
                days_left=days,
                not_after=str(d.get("not_after") or ""),
                thumbprint=thumb,
                kind=str(d["kind"]) if d.get("kind") else None,
                user=str(d["user"]) if d.get("user") else None,
                observed=host.finished,
                earlier=host.finished is not None and _utc(host.finished) < _utc(run.started),
            )
    return tuple(sorted(found.values(), key=lambda c: (c.days_left, c.host, c.subject_cn)))


def _waiver_states(waivers: Sequence[Waiver] | None, run: RunResult) -> tuple[WaiverState, ...] | None:
    """The waivers to look at, as of the run's end (else start); None when no waivers file was given."""
    if waivers is None:
        return None
    return tuple(attention(classify_waivers(waivers, run, run.finished or run.started, expiring_days=EXPIRING_DAYS)))


def build_digest(
    current: RunResult,
    previous: RunResult | None,
    *,
    expiring_days: int = 30,
    report_url: str | None = None,
    waivers: Sequence[Waiver] | None = None,
) -> Digest:
    """Compare ``current`` with ``previous`` (None for a first run). Pure.

    ``waivers``: the sweep's waivers file (see the module docstring); None when there was none.

    >>> from datetime import datetime
    >>> d = build_digest(RunResult(run_id="r1", started=datetime(2026, 1, 5)), None)
    >>> d.total_hosts, d.changed
    (0, True)
    """
    before = {h.host: h for h in previous.hosts} if previous else {}
    # On an office's first run every non-compliant host is news: listed, not only counted.
    newly_failing = tuple(
        FailingHost(h.host, _failing_titles(h))
        for h in current.hosts
        if h.compliant is False
        and (previous is None or (h.host in before and before[h.host].compliant is True))
    )
    unreachable = tuple(
        UnreachableHost(
            host=h.host,
            status=h.status.value,
            error_class=h.error_class,
            error=h.error,
            new=h.host in before and before[h.host].status is HostStatus.ok,
        )
        for h in current.hosts
        if h.status is not HostStatus.ok
    )
    expiring = _expiring(current, expiring_days)
    waiver_states = _waiver_states(waivers, current)
    pct = _pct(current)
    prev_pct = _pct(previous) if previous else None
    compliant = sum(1 for h in current.hosts if h.compliant is True)
    noncompliant = sum(1 for h in current.hosts if h.compliant is False)

    reasons: list[str] = []
    if previous is None:
        reasons.append("first_run")
    else:
        if pct != prev_pct:
            reasons.append("compliance")
        if newly_failing:
            reasons.append("newly_failing")
        prev_unreachable = {h.host for h in previous.hosts if h.status is not HostStatus.ok}
        if {u.host for u in unreachable} != prev_unreachable:
            reasons.append("unreachable")
        prev_expiring = {(c.host, c.thumbprint.upper()) for c in _expiring(previous, expiring_days)}
        if {(c.host, c.thumbprint.upper()) for c in expiring} != prev_expiring:
            reasons.append("expiring")
        if waiver_states is not None and _waiver_keys(waiver_states) != _waiver_keys(_waiver_states(waivers, previous)):
            reasons.append("waivers")
    return Digest(
        run_id=current.run_id,
        started=current.started,
        expiring_days=expiring_days,
        total_hosts=len(current.hosts),
        compliant_hosts=compliant,
        noncompliant_hosts=noncompliant,
        compliance_pct=pct,
        previous_pct=prev_pct,
        newly_failing=newly_failing,
        expiring=expiring,
        unreachable=unreachable,
        changed=bool(reasons),
        change_reasons=tuple(reasons),
        report_url=report_url,
        waivers=waiver_states,
    )


def _waiver_keys(states: Sequence[WaiverState] | None) -> set[tuple[int, str]]:
    return {(s.number, s.state) for s in states or ()}


def should_send(digest: Digest, notify_on: NotifyOn) -> bool:
    """Whether ``notify_on`` wants a message for this digest (see the module docstring)."""
    if notify_on == "always":
        return True
    if notify_on == "change":
        return digest.changed
    return digest.has_problems


# --------------------------------------------------------------------------- rendering


def _pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _delta_text(digest: Digest, lang: Lang) -> str:
    delta = digest.delta_pct
    if digest.previous_pct is None:
        return "首次运行" if lang == "zh" else "first run"
    assert delta is not None
    sign = "+" if delta > 0 else ""
    if lang == "zh":
        return f"上次 {_pct_text(digest.previous_pct)}，变化 {sign}{delta:.1f} 个百分点"
    return f"previously {_pct_text(digest.previous_pct)}, {sign}{delta:.1f} points"


def render_subject(digest: Digest, lang: Lang = "zh") -> str:
    """One line: compliance, its change and the counts that matter.

    >>> from datetime import datetime
    >>> render_subject(build_digest(RunResult(run_id="r", started=datetime(2026, 1, 5)), None))
    'fleetcheck 合规报告：合规率 —'
    """
    parts: list[str] = []
    lapsing = sum(1 for w in digest.waivers or () if w.state in ("expired", "expiring"))
    delta = digest.delta_pct
    shown_delta = "" if delta is None else f"（{'+' if delta > 0 else ''}{delta:.1f}）"
    if lang == "zh":
        head = f"fleetcheck 合规报告：合规率 {_pct_text(digest.compliance_pct)}{shown_delta}"
        if digest.newly_failing:
            label = "不合规" if digest.first_run else "新增不合规"
            parts.append(f"{label} {len(digest.newly_failing)} 台")
        if digest.expiring:
            parts.append(f"证书即将到期/已过期 {len(digest.expiring)} 张")
        if digest.unreachable:
            parts.append(f"无法连接 {len(digest.unreachable)} 台")
        if lapsing:
            parts.append(f"豁免已过期/即将到期 {lapsing} 项")
        return "｜".join([head, *parts])
    en_delta = "" if delta is None else f" ({'+' if delta > 0 else ''}{delta:.1f})"
    head = f"fleetcheck compliance report: {_pct_text(digest.compliance_pct)} compliant{en_delta}"
    if digest.newly_failing:
        label = "non-compliant" if digest.first_run else "newly non-compliant"
        parts.append(f"{len(digest.newly_failing)} {label}")
    if digest.expiring:
        parts.append(f"{len(digest.expiring)} certificates expiring/expired")
    if digest.unreachable:
        parts.append(f"{len(digest.unreachable)} unreachable")
    if lapsing:
        parts.append(f"{lapsing} waivers expired/expiring")
    return " | ".join([head, *parts])


def _cert_line(c: ExpiringCertificate, lang: Lang) -> str:
    if lang == "zh":
        when = f"已过期 {-c.days_left} 天" if c.expired else f"剩余 {c.days_left} 天"
        date = f"，到期 {office_day(c.not_after)}" if c.not_after else ""  # office date: the title names the zone
        seen = f"，检查于 {office_stamp(c.observed)}" if c.earlier and c.observed else ""
        return f"{when}：{c.subject_cn}（{c.host}{date}{seen}）"
    when = f"expired {-c.days_left} days ago" if c.expired else f"{c.days_left} days left"
    date = f", expires {office_day(c.not_after)}" if c.not_after else ""
    seen = f", read {office_stamp(c.observed)}" if c.earlier and c.observed else ""
    return f"{when}: {c.subject_cn} ({c.host}{date}{seen})"


def _unreachable_line(u: UnreachableHost, lang: Lang) -> str:
    cls = f" {u.error_class}" if u.error_class else ""
    new = ("（新）" if lang == "zh" else " (new)") if u.new else ""
    error = f" — {tr(u.error, lang)}" if u.error else ""
    return f"{u.host}{new}：{u.status}{cls}{error}" if lang == "zh" else f"{u.host}{new}: {u.status}{cls}{error}"


def _capped(items: list[str], lang: Lang) -> list[str]:
    if len(items) <= MAX_ITEMS:
        return items
    rest = len(items) - MAX_ITEMS
    more = f"……另有 {rest} 项，见完整报告" if lang == "zh" else f"… and {rest} more, see the full report"
    return [*items[:MAX_ITEMS], more]


@dataclass(frozen=True)
class Section:
    """A titled list in a message; renderers format it for their medium."""

    title: str
    items: tuple[str, ...]


def render_lines(digest: Digest, lang: Lang = "zh") -> tuple[str, list[Section]]:
    """The headline and the sections every format shares (plain text, not escaped)."""
    when = office_minute(digest.started)  # office time, zone named (naive means UTC)
    if lang == "zh":
        headline = (
            f"合规率 {_pct_text(digest.compliance_pct)}（{digest.compliant_hosts}/{digest.total_hosts} 台），"
            f"{_delta_text(digest, lang)}。运行 {digest.run_id}，{when}。"
        )
    else:
        headline = (
            f"Compliance {_pct_text(digest.compliance_pct)} ({digest.compliant_hosts}/{digest.total_hosts}"
            f" hosts), {_delta_text(digest, lang)}. Run {digest.run_id}, {when}."
        )
    sections: list[Section] = []
    if digest.newly_failing:
        items = [
            f"{h.host}：{'；'.join(tr(t, lang) for t in h.failing_checks[:5]) or '—'}"
            if lang == "zh"
            else f"{h.host}: {'; '.join(tr(t, lang) for t in h.failing_checks[:5]) or '—'}"
            for h in digest.newly_failing
        ]
        if digest.first_run:
            title = f"不合规主机（{len(items)} 台）" if lang == "zh" else f"Non-compliant hosts ({len(items)})"
        else:
            title = (
                f"新增不合规主机（{len(items)} 台）"
                if lang == "zh"
                else f"Newly non-compliant hosts ({len(items)})"
            )
        sections.append(Section(title, tuple(_capped(items, lang))))
    if digest.expiring:
        items = [_cert_line(c, lang) for c in digest.expiring]
        title = (
            f"{digest.expiring_days} 天内到期或已过期的证书（{len(items)} 张）——到期日为 {office_zone().key} 日期"
            if lang == "zh"
            else f"Certificates expiring within {digest.expiring_days} days or expired ({len(items)})"
                 f" — expiry dates in {office_zone().key}"
        )
        sections.append(Section(title, tuple(_capped(items, lang))))
    if digest.unreachable:
        items = [_unreachable_line(u, lang) for u in digest.unreachable]
        title = f"无法检查的主机（{len(items)} 台）" if lang == "zh" else f"Hosts not checked ({len(items)})"
        sections.append(Section(title, tuple(_capped(items, lang))))
    if digest.waivers:
        sections.append(_waiver_section(digest.waivers, lang))
    return headline, sections


def _waiver_section(states: Sequence[WaiverState], lang: Lang) -> Section:
    """Expired, expiring within 14 days, unused: one line each (the reason is the admin's text, escaped by the renderer)."""
    count = {name: sum(1 for s in states if s.state == name) for name in ("expired", "expiring", "unused")}
    if lang == "zh":
        title = (f"需要处理的豁免（{len(states)} 项：已过期 {count['expired']}，{EXPIRING_DAYS} 天内到期 "
                 f"{count['expiring']}，未使用 {count['unused']}）")
    else:
        title = (f"Waivers to review ({len(states)}: {count['expired']} expired, {count['expiring']} expiring "
                 f"within {EXPIRING_DAYS} days, {count['unused']} unused)")
    return Section(title, tuple(_capped([s.text.get(lang) for s in states], lang)))


def _report_line(digest: Digest, lang: Lang) -> str | None:
    if not digest.report_url:
        return None
    return f"完整报告：{digest.report_url}" if lang == "zh" else f"Full report: {digest.report_url}"


def render_text(digest: Digest, lang: Lang = "zh") -> str:
    """Plain text (the e-mail's text part)."""
    headline, sections = render_lines(digest, lang)
    out = [render_subject(digest, lang), "", headline]
    for section in sections:
        out += ["", section.title + ("：" if lang == "zh" else ":")]
        out += [f"  - {item}" for item in section.items]
    if not sections:
        out += ["", "没有需要处理的问题。" if lang == "zh" else "Nothing needs attention."]
    report = _report_line(digest, lang)
    if report:
        out += ["", report]
    return "\n".join(out) + "\n"


# '#' is left alone: it only opens a heading at the start of a line, every value
# here sits after "- " or a label, and the robots' markdown subsets show a
# backslash literally, which would corrupt certificate names like F00504Y0007#0.
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]"} | {"<": "＜", ">": "＞"})


def markdown_escape(text: str) -> str:
    r"""Neutralise markdown and HTML-tag syntax in a value (WeCom markdown accepts ``<font>`` tags).

    >>> markdown_escape("F00504Y0007#0 <b>")
    'F00504Y0007#0 ＜b＞'
    """
    return text.translate(_MD_SPECIAL)


def render_markdown(digest: Digest, lang: Lang = "zh") -> str:
    """Markdown for WeCom and DingTalk robots (values escaped)."""
    headline, sections = render_lines(digest, lang)
    out = [f"### {markdown_escape(render_subject(digest, lang))}", "", markdown_escape(headline)]
    for section in sections:
        out += ["", f"**{markdown_escape(section.title)}**", ""]
        out += [f"- {markdown_escape(item)}" for item in section.items]
    if not sections:
        out += ["", "没有需要处理的问题。" if lang == "zh" else "Nothing needs attention."]
    if digest.report_url:
        label = "完整报告" if lang == "zh" else "Full report"
        out += ["", f"[{label}]({digest.report_url.replace(')', '%29').replace(' ', '%20')})"]
    return "\n".join(out)


def render_html(digest: Digest, lang: Lang = "zh", *, report_attached: bool = False) -> str:
    """The e-mail's HTML part; every value is HTML-escaped."""
    e = html.escape
    headline, sections = render_lines(digest, lang)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{e(render_subject(digest, lang))}</title></head>",
        '<body style="font-family: sans-serif">',
        f"<h2>{e(render_subject(digest, lang))}</h2>",
        f"<p>{e(headline)}</p>",
    ]
    for section in sections:
        parts.append(f"<h3>{e(section.title)}</h3><ul>")
        parts += [f"<li>{e(item)}</li>" for item in section.items]
        parts.append("</ul>")
    if not sections:
        parts.append(f"<p>{e('没有需要处理的问题。' if lang == 'zh' else 'Nothing needs attention.')}</p>")
    if digest.report_url:
        label = "完整报告" if lang == "zh" else "Full report"
        parts.append(f'<p><a href="{e(digest.report_url, quote=True)}">{e(label)}</a></p>')
    if report_attached:
        note = "完整的 HTML 报告见附件。" if lang == "zh" else "The full HTML report is attached."
        parts.append(f"<p>{e(note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
