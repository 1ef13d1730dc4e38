"""What changed between two runs (pure): new failures, fixed findings, hosts that came and went.

A finding is *bad* when its status is fail or error. Findings are matched by
(host, policy_id, check_id). A host that was probed in A and not in B (or the
reverse) is reported as a status change, not as fixed/new findings: nothing is
known about its checks.

Example::

    delta = diff_runs(older, newer)
    [(c.host, c.check_id) for c in delta.new_failures]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetcheck.findings import Finding, FindingStatus, HostStatus, RunResult
from fleetcheck.i18n import Text

_BAD = {FindingStatus.fail, FindingStatus.error}


@dataclass(frozen=True)
class FindingChange:
    host: str
    policy_id: str
    check_id: str
    title: Text
    before: str | None  # finding status in A (None: absent)
    after: str | None  # finding status in B


@dataclass(frozen=True)
class HostChange:
    host: str
    before: str  # host status in A
    after: str  # host status in B


@dataclass
class RunDiff:
    run_a: str
    run_b: str
    new_failures: list[FindingChange] = field(default_factory=list)
    fixed: list[FindingChange] = field(default_factory=list)
    hosts_appeared: list[str] = field(default_factory=list)
    hosts_disappeared: list[str] = field(default_factory=list)
    host_status_changed: list[HostChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new_failures or self.fixed or self.hosts_appeared
                    or self.hosts_disappeared or self.host_status_changed)


def _index(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    return {(f.policy_id, f.check_id): f for f in findings}


def diff_runs(a: RunResult, b: RunResult) -> RunDiff:
    """Changes from run ``a`` (older) to run ``b`` (newer)."""
    out = RunDiff(a.run_id, b.run_id)
    hosts_a = {h.host: h for h in a.hosts}
    hosts_b = {h.host: h for h in b.hosts}
    out.hosts_appeared = sorted(set(hosts_b) - set(hosts_a))
    out.hosts_disappeared = sorted(set(hosts_a) - set(hosts_b))
    for name in sorted(set(hosts_a) & set(hosts_b)):
        ha, hb = hosts_a[name], hosts_b[name]
        if ha.status is not hb.status:
            out.host_status_changed.append(HostChange(name, ha.status.value, hb.status.value))
        if ha.status is not HostStatus.ok or hb.status is not HostStatus.ok:
            continue
        fa, fb = _index(ha.findings), _index(hb.findings)
        for key in sorted(set(fa) | set(fb)):
            before, after = fa.get(key), fb.get(key)
            was_bad = before is not None and before.status in _BAD
            is_bad = after is not None and after.status in _BAD
            title = (after or before).title  # type: ignore[union-attr]  # one of them exists
            change = FindingChange(name, key[0], key[1], title,
                                   before.status.value if before else None,
                                   after.status.value if after else None)
            if is_bad and not was_bad:
                out.new_failures.append(change)
            elif was_bad and not is_bad and after is not None:
                out.fixed.append(change)
    return out
