"""A host's timeline (pure): its observations, check state changes, fixes, rollbacks and renewals, newest first.

Built from the rows :meth:`fleetcheck.store.Store.host_timeline` reads
(:mod:`fleetcheck.store.timeline`); no I/O. One :class:`TimelineEntry` per

* **observation** — a recorded run that saw the host: when, the run and its
  kind (office scan, ``--limit``, dashboard rescan, fix verification, local
  collection; interrupted), the host's status, compliant or not, and which
  checks changed state since the previous observation (``pass → fail``…);
  when either observation did not probe the host, only its status change is
  said (nothing is known about its checks). The same observation recorded
  again unchanged in a later run (a dashboard rescan before schema v6) is
  shown once, in the run that first recorded it;
* **fix** — one ``fleetcheck fix`` run's change records on the host: each
  action with its current state (applied, failed, rolled back…);
* **rollback** — the audit entries of one rollback of one fix run (or of a
  renewal): what was restored, what was not;
* **refused** — a fix the guard refused (trading session, trading client), with why;
* **renewal** — one PFX of one ``fleetcheck renew`` run: its state, old and new thumbprints.

Every summary and detail line is bilingual :class:`~fleetcheck.i18n.Text`.

Example::

    timeline = build_timeline(store.host_timeline("PC-01", 20), limit=20)
    for entry in timeline.entries:
        print(entry.at, entry.kind, entry.summary.en)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from fleetcheck.findings import FindingStatus, HostStatus
from fleetcheck.i18n import T, Text
from fleetcheck.officetime import office_minute
from fleetcheck.report.model import FINDING_STATUS_LABELS, HOST_STATUS_LABELS

if TYPE_CHECKING:
    from fleetcheck.store.timeline import AuditRow, ChangeRow, HostRows, ObservationRow, RenewalRow

__all__ = ["ENTRY_KINDS", "KIND_LABELS", "SCOPE_LABELS", "CheckChange", "HostTimeline", "TimelineEntry",
           "build_timeline", "status_label"]

EntryKind = Literal["observation", "fix", "rollback", "refused", "renewal"]
ENTRY_KINDS: tuple[EntryKind, ...] = ("observation", "fix", "rollback", "refused", "renewal")

KIND_LABELS: dict[str, Text] = {
    "observation": T("扫描", "scan"),
    "fix": T("修复", "fix"),
    "rollback": T("回滚", "rollback"),
    "refused": T("修复被拒绝", "fix refused"),
    "renewal": T("证书更新", "renewal"),
}
#: What a run set out to see (``RunResult.scope``).
SCOPE_LABELS: dict[str, Text] = {
    "office": T("全面扫描", "office scan"),
    "limit": T("部分扫描（--limit）", "partial scan (--limit)"),
    "rescan": T("仪表盘重新扫描", "dashboard rescan"),
    "verify": T("修复后复查", "fix verification"),
    "collect": T("本地收集", "local collection"),
}
_INTERRUPTED = T("（中断）", " (interrupted)")
#: States of a change record (``changes.status``).
CHANGE_LABELS: dict[str, Text] = {
    "applied": T("已应用", "applied"),
    "failed": T("失败", "failed"),
    "rolled_back": T("已回滚", "rolled back"),
    "pending": T("已发送，结果未知", "sent, outcome unknown"),
    "unknown": T("状态未知（连接中断）", "state unknown (connection lost)"),
    "not_applied": T("未生效", "not applied"),
}
#: Audit events of a rollback.
ROLLBACK_EVENT_LABELS: dict[str, Text] = {
    "rolled_back": T("已恢复", "restored"),
    "rollback_failed": T("回滚失败", "rollback failed"),
    "skipped": T("未回滚", "not undone"),
    "refused": T("被拒绝", "refused"),
}
RENEWAL_LABELS: dict[str, Text] = {
    "refused": T("拒绝", "refused"),
    "pending": T("待操作员登录", "pending"),
    "installed": T("已导入并验证", "installed"),
    "already_installed": T("已是新证书", "already installed"),
    "guard_refused": T("受保护规则阻止", "refused by guard"),
    "failed": T("失败", "failed"),
    "skipped": T("跳过", "skipped"),
    "rolled_back": T("已回滚", "rolled back"),
}
_BAD = {FindingStatus.fail.value, FindingStatus.error.value, FindingStatus.not_evaluated.value}
_OK = HostStatus.ok.value
_KIND_ORDER = {kind: i for i, kind in enumerate(ENTRY_KINDS)}


@dataclass(frozen=True)
class CheckChange:
    """One check whose state differs from the previous observation (``None``: the check was absent)."""

    policy_id: str
    check_id: str
    title: Text
    before: str | None
    after: str | None

    @property
    def text(self) -> Text:
        was, now = status_label(self.before), status_label(self.after)
        return T(f"{self.title.zh}（{self.check_id}）：{was.zh} → {now.zh}",
                 f"{self.title.en} ({self.check_id}): {was.en} → {now.en}")


@dataclass(frozen=True)
class TimelineEntry:
    """One event in a host's life. ``at`` is aware UTC; show it in office time."""

    kind: EntryKind
    at: datetime
    run_id: str | None
    summary: Text
    details: tuple[Text, ...] = ()
    # observations only
    scope: str | None = None
    interrupted: bool = False
    host_status: str | None = None
    compliant: bool | None = None
    previous_run_id: str | None = None
    previous_status: str | None = None
    check_changes: tuple[CheckChange, ...] = ()
    # fixes, rollbacks, refusals, renewals
    who: str | None = None
    forced: bool = False

    @property
    def kind_label(self) -> Text:
        return KIND_LABELS[self.kind]

    @property
    def scope_label(self) -> Text | None:
        """The kind of run of an observation (None when not recorded: runs before schema v6)."""
        if self.scope is None:
            return T("中断", "interrupted") if self.interrupted else None
        label = SCOPE_LABELS.get(self.scope, T(self.scope, self.scope))
        return T(label.zh + _INTERRUPTED.zh, label.en + _INTERRUPTED.en) if self.interrupted else label


@dataclass(frozen=True)
class HostTimeline:
    """The newest entries of one host, newest first."""

    host: str
    entries: tuple[TimelineEntry, ...]
    store_empty: bool = False

    @property
    def state_changes(self) -> int:
        return sum(len(e.check_changes) for e in self.entries)


def status_label(status: str | None) -> Text:
    """A finding or host status as its label; ``None`` (absent) as 不存在 / absent."""
    if status is None:
        return T("不存在", "absent")
    for table in (FINDING_STATUS_LABELS, HOST_STATUS_LABELS):
        for key, text in table.items():
            if key.value == status:
                return text
    return T(status, status)


def _utc(iso: str | None) -> datetime | None:
    """An ISO 8601 column value as aware UTC (naive = UTC); None when absent or unreadable."""
    if not iso:
        return None
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return (when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _stored_text(value: Any) -> Text | None:
    if isinstance(value, dict) and isinstance(value.get("zh"), str) and isinstance(value.get("en"), str):
        return T(value["zh"], value["en"])
    return None


def _join(texts: Iterable[Text]) -> Text:
    items = list(texts)
    return T("；".join(t.zh for t in items), "; ".join(t.en for t in items))


# --------------------------------------------------------------------------- observations


def _distinct(observations: Sequence[ObservationRow]) -> list[ObservationRow]:
    """Newest first; an unchanged copy of the next older observation (same probe times, status and
    check states: the same probe recorded again) is dropped for the original."""
    kept: list[ObservationRow] = []
    for row in observations:
        if kept and row.started is not None and _same_probe(row, kept[-1]):
            kept[-1] = row  # the older run recorded it first
            continue
        kept.append(row)
    return kept


def _same_probe(a: ObservationRow, b: ObservationRow) -> bool:
    def states(row: ObservationRow) -> list[tuple[str, str, str]]:
        return [(c.policy_id, c.check_id, c.status) for c in row.checks]

    return (a.started, a.finished, a.status) == (b.started, b.finished, b.status) and states(a) == states(b)


def _check_changes(previous: ObservationRow, current: ObservationRow) -> tuple[CheckChange, ...]:
    before = {(c.policy_id, c.check_id): c for c in previous.checks}
    after = {(c.policy_id, c.check_id): c for c in current.checks}
    changes: list[CheckChange] = []
    for key in [*after, *(k for k in before if k not in after)]:
        was, now = before.get(key), after.get(key)
        if was is not None and now is not None and was.status == now.status:
            continue
        title = (now or was).title  # type: ignore[union-attr]  # one of them exists
        changes.append(CheckChange(key[0], key[1], title, was.status if was else None, now.status if now else None))
    return tuple(changes)


def _observation_summary(row: ObservationRow, compliant: bool | None) -> Text:
    if row.status != _OK:
        label = status_label(row.status)
        if row.error is None:
            return T(f"未能检查：{label.zh}", f"not probed: {label.en}")
        return T(f"未能检查：{label.zh}（{row.error.zh}）", f"not probed: {label.en} ({row.error.en})")
    if compliant:
        return T("合规", "compliant")
    bad = sum(1 for c in row.checks if c.status in _BAD)
    return T(f"不合规（{bad} 项）", f"non-compliant ({bad} finding(s))")


def _observation(row: ObservationRow, previous: ObservationRow | None) -> TimelineEntry:
    # The same rule as HostResult.compliant: probed, and no finding fails, errs or went unevaluated.
    compliant = None if row.status != _OK else not any(c.status in _BAD for c in row.checks)
    changes: tuple[CheckChange, ...] = ()
    details: list[Text] = []
    if previous is not None and previous.status == _OK and row.status == _OK:
        changes = _check_changes(previous, row)
        details = [c.text for c in changes]
    elif previous is not None and previous.status != row.status:
        was, now = status_label(previous.status), status_label(row.status)
        details = [T(f"主机状态：{was.zh} → {now.zh}", f"host status: {was.en} → {now.en}")]
    return TimelineEntry(
        kind="observation", at=row.at, run_id=row.run_id, summary=_observation_summary(row, compliant),
        details=tuple(details), scope=row.scope, interrupted=row.interrupted, host_status=row.status,
        compliant=compliant, previous_run_id=previous.run_id if previous else None,
        previous_status=previous.status if previous else None, check_changes=changes,
    )


def _observations(rows: Sequence[ObservationRow], limit: int) -> list[TimelineEntry]:
    distinct = _distinct(rows)[: limit + 1]
    return [_observation(row, distinct[i + 1] if i + 1 < len(distinct) else None)
            for i, row in enumerate(distinct[:limit])]


# --------------------------------------------------------------------------- fixes


def _fixes(rows: Sequence[ChangeRow]) -> list[TimelineEntry]:
    by_run: dict[str, list[ChangeRow]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(row)
    entries: list[TimelineEntry] = []
    for run_id, actions in by_run.items():
        actions.sort(key=lambda r: r.position)
        times = [t for t in (_utc(a.applied_at) for a in actions) if t is not None]
        if not times:
            continue
        counts: dict[str, int] = {}
        for a in actions:
            counts[a.status] = counts.get(a.status, 0) + 1
        parts = [(CHANGE_LABELS.get(s, T(s, s)), n) for s, n in counts.items()]
        summary = T(f"{len(actions)} 个修改：" + "，".join(f"{label.zh} {n}" for label, n in parts),
                    f"{len(actions)} change(s): " + ", ".join(f"{n} {label.en}" for label, n in parts))
        details = tuple(_action_line(a) for a in actions)
        entries.append(TimelineEntry(kind="fix", at=min(times), run_id=run_id, summary=summary, details=details,
                                     who=actions[0].who, forced=any(a.forced for a in actions)))
    return entries


def _action_line(row: ChangeRow) -> Text:
    state = CHANGE_LABELS.get(row.status, T(row.status, row.status))
    check = row.check_id or "-"
    line = T(f"{check}：{row.kind} {state.zh}", f"{check}: {row.kind} {state.en}")
    when = _utc(row.rolled_back_at)
    if row.status == "rolled_back" and when is not None:
        line = T(f"{line.zh}（{office_minute(when)}）", f"{line.en} ({office_minute(when)})")
    return line


# --------------------------------------------------------------------------- audit: rollbacks and refusals


def _audit_kind(row: AuditRow) -> EntryKind | None:
    """rollback / refused (a fix the guard refused), or None (a renewal's own refusal: see the renewals)."""
    if row.details.get("rollback") or row.event in ("rolled_back", "rollback_failed"):
        return "rollback"
    if row.event == "refused" and not row.details.get("renewal"):
        return "refused"
    return None


def _groups(rows: Sequence[AuditRow]) -> list[tuple[EntryKind, list[AuditRow]]]:
    """Consecutive entries (by seq) of the same kind and run: one rollback or one refused fix each."""
    groups: list[tuple[EntryKind, list[AuditRow]]] = []
    for row in sorted(rows, key=lambda r: r.seq):
        kind = _audit_kind(row)
        if kind is None:
            continue
        if groups and groups[-1][0] == kind and groups[-1][1][-1].run_id == row.run_id:
            groups[-1][1].append(row)
        else:
            groups.append((kind, [row]))
    return groups


def _rollback_line(row: AuditRow) -> Text:
    event = ROLLBACK_EVENT_LABELS.get(row.event, T(row.event, row.event))
    what = row.action_id or str(row.details.get("cn") or "-")
    line = T(f"{what}：{event.zh}", f"{what}: {event.en}")
    why = _stored_text(row.details.get("result_text"))
    return T(f"{line.zh}（{why.zh}）", f"{line.en} ({why.en})") if why is not None and row.event != "rolled_back" else line


def _rollback(rows: list[AuditRow], at: datetime) -> TimelineEntry:
    restored = sum(1 for r in rows if r.event == "rolled_back")
    renewal = any(r.details.get("renewal") for r in rows)
    what = T("证书更新", "renewal") if renewal else T("修复", "fix")
    run = rows[0].run_id or "-"
    summary = T(f"回滚{what.zh} {run}：恢复 {restored}/{len(rows)} 项",
                f"rollback of {what.en} {run}: {restored}/{len(rows)} restored")
    return TimelineEntry(kind="rollback", at=at, run_id=rows[0].run_id, summary=summary,
                         details=tuple(_rollback_line(r) for r in rows), who=rows[-1].who,
                         forced=any(r.forced for r in rows))


def _refused(rows: list[AuditRow], at: datetime) -> TimelineEntry:
    reasons: list[Text] = []
    for row in rows:
        for reason in row.details.get("reasons") or ():
            text = _stored_text(reason)
            if text is not None and text not in reasons:
                reasons.append(text)
    checks = [str(r.details["check"]) for r in rows if r.details.get("check")]
    why = _join(reasons) if reasons else T(rows[0].result, rows[0].result)
    summary = T(f"修复被拒绝（{len(rows)} 项）：{why.zh}", f"fix refused ({len(rows)} step(s)): {why.en}")
    return TimelineEntry(kind="refused", at=at, run_id=rows[0].run_id, summary=summary,
                         details=tuple(T(c, c) for c in checks), who=rows[0].who)


def _audit_entries(rows: Sequence[AuditRow]) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for kind, group in _groups(rows):
        at = _utc(group[0].at)
        if at is None:
            continue
        entries.append(_rollback(group, at) if kind == "rollback" else _refused(group, at))
    return entries


# --------------------------------------------------------------------------- renewals


def _renewal(row: RenewalRow) -> TimelineEntry | None:
    at = _utc(row.created_at)
    if at is None:
        return None
    state = RENEWAL_LABELS.get(row.state, T(row.state, row.state))
    details: list[Text] = [T(f"文件 {row.file_name}", f"file {row.file_name}")]
    if row.new_thumbprint:
        old = row.old_thumbprint or "—"
        details.append(T(f"指纹 {old} → {row.new_thumbprint}", f"thumbprint {old} → {row.new_thumbprint}"))
    if row.removed_old:
        details.append(T(f"已删除旧证书 {row.removed_old}（已备份）", f"old certificate {row.removed_old} removed (backed up)"))
    details.extend(t for t in (_stored_text(r) for r in row.reasons) if t is not None)
    back = _utc(row.rolled_back_at)
    if back is not None:
        details.append(T(f"已于 {office_minute(back)} 回滚", f"rolled back at {office_minute(back)}"))
    return TimelineEntry(kind="renewal", at=at, run_id=row.run_id,
                         summary=T(f"{row.cn}：{state.zh}", f"{row.cn}: {state.en}"), details=tuple(details),
                         who=row.who, forced=row.forced)


# --------------------------------------------------------------------------- the timeline


def build_timeline(rows: HostRows, limit: int) -> HostTimeline:
    """The newest ``limit`` entries of ``rows.host``, newest first (ties: observation, fix, rollback…)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    entries = [
        *_observations(rows.observations, limit),
        *_fixes(rows.changes),
        *_audit_entries(rows.audit),
        *(e for e in (_renewal(r) for r in rows.renewals) if e is not None),
    ]
    entries.sort(key=lambda e: (e.at, -_KIND_ORDER[e.kind]), reverse=True)
    return HostTimeline(rows.host, tuple(entries[:limit]), store_empty=rows.store_empty)
