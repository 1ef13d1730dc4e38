"""What a run set out to see, as users read it: the office state mixes runs of every scope.

``RunResult.scope`` / ``RunSummary.scope``: ``office`` (the whole inventory),
``limit`` (a ``--limit`` subset), ``rescan`` (the dashboard's), ``verify``
(``fix --apply``'s re-probe of what it changed), ``collect`` (local collection
files imported), None (recorded before fleetcheck kept it). Pure.
"""

from __future__ import annotations

from typing import Protocol

from fleetcheck.i18n import T, Text

__all__ = ["SCOPE_LABELS", "scope_label"]

SCOPE_LABELS: dict[str | None, Text] = {
    "office": T("全部电脑", "whole office"),
    "limit": T("部分（--limit）", "subset (--limit)"),
    "rescan": T("仪表盘重新扫描", "dashboard rescan"),
    "verify": T("修复后验证", "fix verification"),
    "collect": T("本地采集导入", "local collection"),
    None: T("—", "—"),
}


class ScopedRun(Protocol):
    @property
    def scope(self) -> str | None: ...
    @property
    def interrupted(self) -> bool: ...
    @property
    def hosts_planned(self) -> int | None: ...


def scope_label(run: ScopedRun) -> Text:
    """The run's scope, and whether it stopped early (with how many hosts it planned)."""
    base = SCOPE_LABELS.get(run.scope, SCOPE_LABELS[None])
    if not run.interrupted:
        return base
    if run.hosts_planned is None:
        return T(f"{base.zh}，已中断", f"{base.en}, interrupted")
    return T(f"{base.zh}，已中断（计划 {run.hosts_planned} 台）", f"{base.en}, interrupted ({run.hosts_planned} planned)")
