"""Where each waiver stands in an office: expired, expiring soon, unused, or active. Pure (no I/O, no clock).

:func:`classify_waivers` takes the waivers (as loaded, in file order), the
findings of the office (a :class:`~fleetcheck.findings.RunResult`: one run or
the office state) and ``now``; each waiver gets exactly one state, the first
that holds in this order:

* ``expired`` — the office date of ``now`` is after ``expires`` (the last day
  it holds, an office date): it is no longer honoured;
* ``unused`` — it matches no failing, erroring or waived finding of the run's
  probed hosts (the check passes everywhere it names, or it names hosts,
  groups or a check the run does not have), and none of the hosts it names
  went unprobed (an unreachable host's findings are unknown, so the waiver
  may still be needed);
* ``expiring`` — it ends within ``expiring_days`` days (default 14):
  ``expires - today <= expiring_days``, so a waiver whose last day is today
  is expiring with 0 days left;
* ``active`` — everything else.

An unused waiver that also expires soon is ``unused``: it needs removing, not
renewing. ``days_left`` is kept for every state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fleetcheck.findings import FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import T, Text
from fleetcheck.officetime import office_date, office_zone
from fleetcheck.policy.waivers import Waiver

__all__ = [
    "EXPIRING_DAYS",
    "STATE_LABELS",
    "WaiverState",
    "WaiverStateName",
    "attention",
    "classify_waivers",
    "expires_label",
]

EXPIRING_DAYS = 14

WaiverStateName = Literal["expired", "expiring", "unused", "active"]

STATE_LABELS: dict[WaiverStateName, Text] = {
    "expired": T("已过期", "expired"),
    "expiring": T("即将到期", "expiring"),
    "unused": T("未使用", "unused"),
    "active": T("有效", "active"),
}

# A waiver is in use when it names a finding in one of these states (waived by it, or
# failing as it would be waived: the office may have been scanned without the file).
_USED = (FindingStatus.waived, FindingStatus.fail, FindingStatus.error)


def expires_label(waiver: Waiver) -> str:
    """The waiver's last day as an office date with the zone named: ``2026-12-31 Asia/Shanghai``."""
    return f"{waiver.expires.isoformat()} {office_zone().key}"


@dataclass(frozen=True)
class WaiverState:
    """One waiver of the file (``number`` = its position, from 1) and where it stands."""

    number: int
    waiver: Waiver
    state: WaiverStateName
    days_left: int  # expires - today, in office days; negative once expired
    hosts: tuple[str, ...]  # the run's hosts with a finding it waives (or would), sorted

    @property
    def targets(self) -> str:
        """Whom it names: ``PC-SZ-014, shenzhen``."""
        return ", ".join([*self.waiver.hosts, *self.waiver.groups])

    @property
    def label(self) -> Text:
        return STATE_LABELS[self.state]

    @property
    def text(self) -> Text:
        """One line for a message or log: state, date, check, targets, reason, approver."""
        w = self.waiver
        day = expires_label(w)
        head: Text
        if self.state == "expired":
            head = T(f"已于 {day} 过期，不再生效", f"expired on {day}, no longer honoured")
        elif self.state == "expiring":
            head = T(f"将于 {day} 到期（剩 {self.days_left} 天）",
                     f"expires on {day} ({self.days_left} day{'' if self.days_left == 1 else 's'} left)")
        elif self.state == "unused":
            head = T(f"未使用：没有匹配的不合规检查（{day} 到期）",
                     f"unused: matches no failing check (expires on {day})")
        else:
            head = T(f"有效至 {day}", f"valid until {day}")
        return T(f"豁免 #{self.number}（{w.check}，{self.targets}）{head.zh}：{w.reason}（批准：{w.approver}）",
                 f"waiver #{self.number} ({w.check}, {self.targets}) {head.en}: {w.reason} (approver {w.approver})")


def _names_host(waiver: Waiver, host: HostResult) -> bool:
    return host.host in waiver.hosts or any(g in waiver.groups for g in host.groups)


def _matched_hosts(waiver: Waiver, run: RunResult) -> tuple[tuple[str, ...], bool]:
    """The probed hosts with a finding the waiver covers, and whether a host it names went unprobed."""
    matched: set[str] = set()
    unknown = False
    for host in run.hosts:
        if not _names_host(waiver, host):
            continue
        if host.status is not HostStatus.ok:
            unknown = True
            continue
        if any(f.status in _USED and waiver.matches(f.policy_id, f.check_id, host.host, list(host.groups))
               for f in host.findings):
            matched.add(host.host)
    return tuple(sorted(matched)), unknown


def classify_waivers(
    waivers: Sequence[Waiver],
    run: RunResult,
    now: datetime,
    *,
    expiring_days: int = EXPIRING_DAYS,
) -> list[WaiverState]:
    """Each waiver's state (see the module docstring), in file order. ``now``: naive means UTC.

    >>> from datetime import date, datetime, timezone
    >>> w = Waiver(check="c", hosts=["PC-1"], reason="r", approver="a", expires=date(2026, 12, 10))
    >>> run = RunResult(run_id="r", started=datetime(2026, 12, 1, tzinfo=timezone.utc))
    >>> [s.state for s in classify_waivers([w], run, datetime(2026, 12, 1, tzinfo=timezone.utc))]
    ['unused']
    """
    today = office_date(now)
    states: list[WaiverState] = []
    for number, waiver in enumerate(waivers, 1):
        days_left = (waiver.expires - today).days
        hosts, unknown = _matched_hosts(waiver, run)
        state: WaiverStateName
        if waiver.expired(today):
            state = "expired"
        elif not hosts and not unknown:
            state = "unused"
        elif days_left <= expiring_days:
            state = "expiring"
        else:
            state = "active"
        states.append(WaiverState(number, waiver, state, days_left, hosts))
    return states


def attention(states: Sequence[WaiverState]) -> list[WaiverState]:
    """The waivers someone should look at (expired, expiring, unused), in that order, then by file order."""
    order = {"expired": 0, "expiring": 1, "unused": 2}
    return sorted((s for s in states if s.state in order), key=lambda s: (order[s.state], s.number))
