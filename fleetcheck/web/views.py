"""Pure view helpers of the dashboard: filters, progress lines, audit rows. No I/O.

The pages reuse the report's view model (:func:`fleetcheck.report.model.build_report`);
what is here is only what a live dashboard adds to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from fleetcheck.findings import HostResult, HostStatus
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.officetime import office_stamp
from fleetcheck.report.model import HostView, ReportModel

__all__ = ["PAGE_SIZE", "AuditRow", "HostFilter", "Page", "audit_rows", "filter_hosts", "fix_step_lines",
           "host_line", "page_of"]

STATES = ("failing", "unreachable", "compliant")
PAGE_SIZE = 200  # host rows per overview page (5,000 rows would be megabytes of HTML per request)
MAX_PAGE = 10_000
Row = TypeVar("Row")


@dataclass(frozen=True)
class HostFilter:
    """The overview's filters (query parameters ``branch``, ``group``, ``status``, ``q``)."""

    branch: str = ""
    group: str = ""
    status: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, params: Any) -> HostFilter:
        status = str(params.get("status", "") or "")
        return cls(branch=str(params.get("branch", "") or "")[:200], group=str(params.get("group", "") or "")[:200],
                   status=status if status in STATES else "", q=str(params.get("q", "") or "").strip()[:200])

    def matches(self, h: HostView) -> bool:
        if self.branch and (h.branch or "-") != self.branch:
            return False
        if self.group and self.group not in (h.groups or ["-"]):
            return False
        if self.status and h.state != self.status:
            return False
        if self.q:
            hay = " ".join([h.host, h.address or "", h.operator or "", h.branch or "", *h.groups]).lower()
            return self.q.lower() in hay
        return True

    @property
    def active(self) -> bool:
        return bool(self.branch or self.group or self.status or self.q)

    def query(self, page: int) -> str:
        """The overview's query string for ``page`` of this filter (for the page links)."""
        fields = {"status": self.status, "branch": self.branch, "group": self.group, "q": self.q}
        params = {k: v for k, v in fields.items() if v}
        if page > 1:
            params["page"] = str(page)
        return urlencode(params)


def filter_hosts(model: ReportModel, flt: HostFilter) -> list[HostView]:
    """Hosts of the report that pass the filter, in the report's order (failing first)."""
    return [h for h in model.hosts if flt.matches(h)]


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a long table (hosts, certificates): ``total`` rows in all, ``rows`` shown."""

    rows: Sequence[Row]
    number: int  # 1-based
    pages: int
    total: int

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_of(rows: Sequence[Row], asked: object, size: int = PAGE_SIZE) -> Page[Row]:
    """Page ``asked`` (a query value; junk or out of range is clamped) of ``rows``."""
    try:
        number = int(str(asked)) if asked is not None else 1
    except ValueError:
        number = 1
    pages = max(1, -(-len(rows) // size))
    number = min(max(1, number), pages, MAX_PAGE)
    start = (number - 1) * size
    return Page(rows[start:start + size], number, pages, len(rows))


def host_line(result: HostResult) -> Text:
    """One progress line for a host that finished scanning."""
    if result.status is not HostStatus.ok:
        err = result.error or T(result.status.value, result.status.value)
        return T(f"{result.host}：未能检查（{err.zh}）", f"{result.host}: not probed ({err.en})")
    if result.compliant:
        return T(f"{result.host}：合规", f"{result.host}: compliant")
    bad = sum(1 for f in result.findings if f.status.value in ("fail", "error", "not_evaluated"))
    return T(f"{result.host}：不合规（{bad} 项）", f"{result.host}: non-compliant ({bad} findings)")


def fix_step_lines(outcome: Any) -> list[Text]:
    """One line per fix step of a :class:`fleetcheck.remediate.apply.HostFix`."""
    words = {"applied": T("已修复并验证", "applied and verified"), "failed": T("失败", "failed"),
             "refused": T("已拒绝", "refused"), "unknown": T("状态未知", "state unknown")}
    lines: list[Text] = []
    for step in outcome.steps:
        word = words.get(step.status, T(step.status, step.status))
        line = T(f"{step.step.title.zh}：{word.zh}", f"{step.step.title.en}: {word.en}")
        if step.error is not None:
            line = T(f"{line.zh}（{step.error.zh}）", f"{line.en} ({step.error.en})")
        lines.append(line)
    return lines


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: str
    who: str
    host: str
    event: str
    check: str
    result: str
    forced: bool
    hash: str


def audit_rows(entries: Sequence[Any]) -> list[AuditRow]:
    """Audit entries newest first, flattened for a table; ``at`` in office time, zone named."""
    rows = []
    for e in reversed(list(entries)):
        details = e.details if isinstance(e.details, dict) else {}
        rows.append(AuditRow(e.seq, office_stamp(e.at), e.who, e.host, e.event,
                             str(details.get("check") or ""), str(e.result or ""), bool(e.forced), e.hash[:12]))
    return rows


def reasons_text(reasons: Sequence[Text], lang: Lang) -> str:
    return ("；" if lang == "zh" else "; ").join(tr(r, lang) for r in reasons)
