"""The dashboard host page's timeline section (pure): a host's timeline as rows of one language.

The entries come from :func:`fleetcheck.report.timeline.build_timeline` (the
same as ``fleetcheck host NAME``); here they are flattened for
``reports_templates/web/host.html.j2``: times in office time with the zone
named, every text in the page's language. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetcheck.i18n import Lang, T, Text
from fleetcheck.officetime import office_minute, office_zone
from fleetcheck.report.timeline import HostTimeline, TimelineEntry, status_label

__all__ = ["TIMELINE_ENTRIES", "TIMELINE_LABELS", "ChangeRow", "TimelineRow", "timeline_labels", "timeline_rows"]

#: Entries the host page shows (the newest; ``fleetcheck host NAME --last N`` shows more).
TIMELINE_ENTRIES = 30

TIMELINE_LABELS: dict[str, Text] = {
    "title": T("时间线", "Timeline"),
    "empty": T("历史数据库中还没有这台主机的记录。", "Nothing is recorded about this host yet."),
    "more": T(f"只显示最新 {TIMELINE_ENTRIES} 条；完整记录：fleetcheck host NAME --last N",
              f"the newest {TIMELINE_ENTRIES} entries; for more: fleetcheck host NAME --last N"),
    "by": T("操作人", "by"),
    "forced": T("强制", "forced"),
}


@dataclass(frozen=True)
class ChangeRow:
    """One check that changed state since the previous observation."""

    check_id: str
    title: str
    before: str  # status value, "" when the check was absent
    after: str
    before_label: str
    after_label: str


@dataclass(frozen=True)
class TimelineRow:
    kind: str
    kind_label: str
    when: str  # office time, zone named
    run_id: str
    scope_label: str
    summary: str
    compliant: bool | None
    changes: tuple[ChangeRow, ...]
    details: tuple[str, ...]  # lines other than the check changes (fix actions, rollback entries…)
    who: str
    forced: bool


def _row(e: TimelineEntry, lang: Lang) -> TimelineRow:
    changes = tuple(ChangeRow(c.check_id, c.title.get(lang), c.before or "", c.after or "",
                              status_label(c.before).get(lang), status_label(c.after).get(lang))
                    for c in e.check_changes)
    change_lines = {c.text for c in e.check_changes}
    scope = e.scope_label
    return TimelineRow(
        kind=e.kind, kind_label=e.kind_label.get(lang), when=office_minute(e.at), run_id=e.run_id or "",
        scope_label=scope.get(lang) if scope is not None else "", summary=e.summary.get(lang),
        compliant=e.compliant, changes=changes,
        details=tuple(d.get(lang) for d in e.details if d not in change_lines),
        who=e.who or "", forced=e.forced,
    )


def timeline_rows(timeline: HostTimeline, lang: Lang) -> list[TimelineRow]:
    """The entries, newest first, in ``lang``."""
    return [_row(e, lang) for e in timeline.entries]


def timeline_labels(lang: Lang) -> dict[str, str]:
    zone = office_zone().key  # read per page: the office zone is the process's (officetime.set_office_zone)
    labels = {key: text.get(lang) for key, text in TIMELINE_LABELS.items()}
    labels["zone"] = T(f"（时间为 {zone}）", f"(times in {zone})").get(lang)
    return labels
