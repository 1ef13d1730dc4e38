"""Findings and host results: what an evaluation produces and every later stage consumes.

Pure data (pydantic), no I/O. The store, the reports, the planner and the
renewal code all read these; the runner produces them.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetcheck.agent.contract import ProbeResponse
from fleetcheck.i18n import Lang, T, Text


class Severity(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class FindingStatus(str, Enum):
    passed = "pass"
    fail = "fail"
    error = "error"  # could not evaluate; ``message`` says why
    not_applicable = "not_applicable"  # the check's ``when:`` is false on this host
    not_evaluated = "not_evaluated"  # e.g. user-scoped check, no operator logged on
    waived = "waived"


class FixMode(str, Enum):
    auto = "auto"
    manual = "manual"
    none = "none"


class Finding(BaseModel):
    """One check's verdict on one host.

    ``expected``/``observed`` are short human-readable renderings; ``source``
    names where the observed value came from (key, view, profile), e.g.
    ``HKU\\S-1-5-21-…\\Software\\Microsoft\\…\\Zones\\2 [user preference, 交易员01]``.
    """

    model_config = ConfigDict(frozen=True)

    policy_id: str
    check_id: str
    check_type: str
    status: FindingStatus
    severity: Severity
    title: Text
    expected: str | None = None
    observed: str | None = None
    source: str | None = None
    message: Text | None = None  # why it failed / could not be evaluated
    remedy: Text | None = None
    guide: str | None = None
    requirement: str | None = None  # R1..R15 from the check (policy), e.g. "R14" = certificate due
    fix: FixMode = FixMode.none
    waiver: dict[str, Any] | None = None  # reason, approver, expires when waived
    details: dict[str, Any] = Field(default_factory=dict)  # type-specific structured data


# The checks write a few observed markers in both languages at once ("不存在 absent"); every
# view shows them in the reader's language through observed_in.
_MIXED_OBSERVED: tuple[tuple[str, Text], ...] = (
    ("未安装（可选）not installed (optional)", T("未安装（可选）", "not installed (optional)")),
    ("(不存在 absent)", T("(不存在)", "(absent)")),
    ("不存在 absent", T("不存在", "absent")),
)


def observed_in(observed: str | None, lang: Lang) -> str:
    """A finding's observed value with the checks' bilingual markers in one language.

    >>> observed_in("1201 不存在 absent", "en"), observed_in("1201 不存在 absent", "zh")
    ('1201 absent', '1201 不存在')
    """
    text = observed or ""
    for mixed, plain in _MIXED_OBSERVED:
        text = text.replace(mixed, plain.get(lang))
    return text


class HostStatus(str, Enum):
    ok = "ok"  # probed and evaluated
    unreachable = "unreachable"
    refused = "refused"
    timeout = "timeout"
    auth_failed = "auth_failed"
    tls_error = "tls_error"
    wsman_fault = "wsman_fault"
    agent_failed = "agent_failed"
    bad_output = "bad_output"
    error = "error"


class LocalCollection(BaseModel):
    """How a host's answer came by file instead of WinRM (``fleetcheck collect import``)."""

    file: str  # the answer file's name, e.g. SZ-W10-01-20261201T083000Z.json
    collected: datetime  # when the kit ran on the PC (from the file name), UTC
    listed: bool = True  # False: the PC is not in the inventory (recorded under its own name)


class HostResult(BaseModel):
    """Everything one sweep learned about one host."""

    host: str
    address: str | None = None
    groups: list[str] = Field(default_factory=list)
    branch: str | None = None
    status: HostStatus
    error_class: str | None = None  # the transport exception class name
    error: Text | None = None  # what went wrong and what to do
    started: datetime | None = None
    finished: datetime | None = None
    attempts: int = 1
    operator: str | None = None  # DOMAIN\user evaluated as the operator
    operator_sid: str | None = None
    facts: ProbeResponse | None = None
    findings: list[Finding] = Field(default_factory=list)
    local_collection: LocalCollection | None = None  # set when collected locally, not over WinRM

    @property
    def compliant(self) -> bool | None:
        """True when probed and no finding fails or errors; None when not probed."""
        if self.status is not HostStatus.ok:
            return None
        bad = {FindingStatus.fail, FindingStatus.error, FindingStatus.not_evaluated}
        return not any(f.status in bad for f in self.findings)


RunScope = Literal["office", "limit", "rescan", "verify", "collect"]


class RunResult(BaseModel):
    """One sweep of many hosts."""

    schema_version: Literal[1] = 1
    run_id: str
    started: datetime
    finished: datetime | None = None
    policies: list[str] = Field(default_factory=list)  # policy ids
    inventory: str | None = None
    # What the run set out to see (schema v6 of the store; None for older records):
    # "office" every host of the inventory, "limit" a --limit subset, "rescan" the
    # dashboard's rescan, "verify" fix's re-probe of the hosts it changed, "collect"
    # answers imported from local collection files.
    scope: RunScope | None = None
    hosts_planned: int | None = None  # hosts the run meant to sweep; more than len(hosts) when interrupted
    interrupted: bool = False  # stopped (Ctrl-C, deadline) before every planned host was swept
    hosts: list[HostResult] = Field(default_factory=list)  # the last field (report.results streams it)
