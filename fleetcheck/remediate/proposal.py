"""What a per-check-type fix planner gets and returns. Pure: no I/O, no clock.

A planner is ``planner(spec, fctx: FixContext) -> Proposal`` (see
:mod:`fleetcheck.remediate.fixes`, one module per check type). This module is
what both sides share: :mod:`fleetcheck.remediate.plan` (which runs the
planners over a host's findings) and the planners import it, and neither
imports the other's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal

from fleetcheck.agent.contract import Action, Profile, RegValue
from fleetcheck.checks.base import EvalContext
from fleetcheck.findings import Finding
from fleetcheck.i18n import Text
from fleetcheck.remediate.guard import TradingCalendar

__all__ = [
    "DEFAULT_REBOOT_AT",
    "DEFAULT_SITE_LIST",
    "MIN_REBOOT_DELAY_S",
    "FixContext",
    "PlanOptions",
    "Planner",
    "Proposal",
    "Strategy",
    "reboot_delay",
    "show_value",
]

Strategy = Literal["user", "machine-policy"]
DEFAULT_SITE_LIST = r"C:\ProgramData\fleetcheck\sccc-sites.xml"
DEFAULT_REBOOT_AT = time(19, 0)
MIN_REBOOT_DELAY_S = 300


@dataclass(frozen=True)
class PlanOptions:
    """How to fix (CLI options and policy-level choices).

    ``installers`` maps a check id to (installer path on the PC, silent
    arguments), for ``installed_program`` checks with ``fix: auto``.
    """

    strategy: Strategy = "user"
    site_list_path: str = DEFAULT_SITE_LIST
    installers: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    calendar: TradingCalendar = field(default_factory=TradingCalendar)
    reboot_at: time = DEFAULT_REBOOT_AT


@dataclass(frozen=True)
class FixContext:
    """What a per-type planner may look at (pure data)."""

    ctx: EvalContext
    finding: Finding
    options: PlanOptions
    now: datetime

    @property
    def operator(self) -> Profile | None:
        return self.ctx.operator


@dataclass(frozen=True)
class Proposal:
    """A per-type planner's answer: actions + diff, or a reason it cannot be done automatically."""

    actions: tuple[Action, ...] = ()
    diff: tuple[Text, ...] = ()
    needs_reboot: bool = False
    verify: Literal["pass", "removed"] = "pass"
    follow_up: Text | None = None
    manual: Text | None = None  # set: not automatically fixable, this says why


Planner = Callable[[Any, FixContext], Proposal]


def show_value(value: RegValue | None) -> str:
    """A registry value as a diff shows it: ``3 (DWORD)``, ``(不存在 absent)``."""
    if value is None:
        return "(不存在 absent)"
    shown = value.v if not isinstance(value.v, list) else "; ".join(value.v)
    if value.t in ("BINARY", "NONE") and isinstance(value.v, str) and len(value.v) > 24:
        shown = value.v[:24] + "…"
    return f"{shown} ({value.t})"


def reboot_delay(calendar: TradingCalendar, now: datetime, at: time = DEFAULT_REBOOT_AT) -> int:
    """Seconds from ``now`` to the reboot: today's ``at`` (office time) when still ahead, else soon.

    Never inside a trading session: a candidate inside one moves to the
    session's end. Bounded by the contract's one day.

    >>> from datetime import timezone
    >>> reboot_delay(TradingCalendar(), datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc))  # 16:00 -> 19:00
    10800
    """
    local = calendar.local(now)
    target = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    target = max(local + timedelta(seconds=MIN_REBOOT_DELAY_S), target)
    for _ in range(8):  # at most a few sessions to skip
        session = calendar.session_at(target)
        if session is None:
            break
        target = target.replace(hour=session[1].hour, minute=session[1].minute, second=0, microsecond=0)
    return max(0, min(86400, int((target - local).total_seconds())))
