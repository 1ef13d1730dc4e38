"""What ``fleetcheck doctor`` finds: the steps of the path to a PC and the result of each.

Pure data, no I/O. The steps run in :data:`STEP_ORDER`; the walk stops at the
first failing one and every later step is ``not_run``. A step that does not
apply to a host (TLS over HTTP, Kerberos clock skew with NTLM, UAC remote
restrictions for a domain account) is ``not_applicable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fleetcheck.errors import EXIT_NONCOMPLIANT, EXIT_OK, EXIT_UNREACHABLE
from fleetcheck.i18n import T, Text


class StepId(str, Enum):
    """One step of the path to a PC, in walking order (:data:`STEP_ORDER`)."""

    resolve = "resolve"
    tcp = "tcp"
    tls = "tls"
    listener = "listener"
    auth_scheme = "auth_scheme"
    clock_skew = "clock_skew"
    authentication = "authentication"
    remote_uac = "remote_uac"
    authorisation = "authorisation"
    shell = "shell"
    powershell = "powershell"
    language_mode = "language_mode"
    agent = "agent"
    execution_policy = "execution_policy"


STEP_ORDER: tuple[StepId, ...] = tuple(StepId)

STEP_TITLES: dict[StepId, Text] = {
    StepId.resolve: T("名称/地址解析", "name/address resolution"),
    StepId.tcp: T("TCP 连接到端口", "TCP connection to the port"),
    StepId.tls: T("TLS（证书链、CA、名称）", "TLS (chain, CA, name)"),
    StepId.listener: T("WS-Management 监听器应答", "WS-Management listener answering"),
    StepId.auth_scheme: T("认证方式", "authentication scheme"),
    StepId.clock_skew: T("时钟偏差（Kerberos）", "clock skew (Kerberos)"),
    StepId.authentication: T("身份验证", "authentication"),
    StepId.remote_uac: T("UAC 远程限制（本地帐户令牌筛选）", "UAC remote restrictions (local account token filtering)"),
    StepId.authorisation: T("授权（管理员）", "authorisation (administrator)"),
    StepId.shell: T("创建 shell 与配额", "shell creation and quotas"),
    StepId.powershell: T("PowerShell（存在、版本、位数）", "PowerShell (present, version, bitness)"),
    StepId.language_mode: T("PowerShell 语言模式", "PowerShell language mode"),
    StepId.agent: T("代理往返与应答", "the agent's round trip and answer"),
    StepId.execution_policy: T("组策略设置的执行策略", "execution policy from Group Policy"),
}

#: A failure at one of these steps means the PC cannot be reached at all (exit 3).
UNREACHABLE_STEPS: frozenset[StepId] = frozenset({StepId.resolve, StepId.tcp, StepId.listener})


class StepStatus(str, Enum):
    passed = "pass"
    failed = "fail"
    not_run = "not_run"
    not_applicable = "not_applicable"


MARKS: dict[StepStatus, str] = {
    StepStatus.passed: "✓",
    StepStatus.failed: "✗",
    StepStatus.not_run: "—",
    StepStatus.not_applicable: "—",
}


@dataclass(frozen=True)
class StepResult:
    """One step's outcome: ``detail`` says what was seen; a failure has a ``cause`` and a ``remedy``.

    ``reason`` is a stable English code for the failure (JSON, tests), e.g.
    ``connection_refused``, ``name_mismatch``, ``access_denied``.
    """

    step: StepId
    status: StepStatus
    detail: Text | None = None
    cause: Text | None = None
    remedy: Text | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "status": self.status.value,
            "reason": self.reason,
            "detail": _text_json(self.detail),
            "cause": _text_json(self.cause),
            "remedy": _text_json(self.remedy),
        }


def _text_json(text: Text | None) -> dict[str, str] | None:
    """User text in JSON: both languages (``{"zh", "en"}``), so the output is the same for every ``--lang``."""
    return {"zh": text.zh, "en": text.en} if text is not None else None


def passed(step: StepId, detail: Text | None = None) -> StepResult:
    return StepResult(step, StepStatus.passed, detail=detail)


def not_applicable(step: StepId, detail: Text) -> StepResult:
    return StepResult(step, StepStatus.not_applicable, detail=detail)


@dataclass(frozen=True)
class Failure:
    """A failing step, before it is placed in the walk."""

    step: StepId
    reason: str
    cause: Text
    remedy: Text

    def result(self) -> StepResult:
        return StepResult(self.step, StepStatus.failed, cause=self.cause, remedy=self.remedy, reason=self.reason)


@dataclass
class Diagnosis:
    """Every step for one host, in order."""

    host: str
    endpoint: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def failure(self) -> StepResult | None:
        return next((s for s in self.steps if s.status is StepStatus.failed), None)

    @property
    def exit_code(self) -> int:
        failure = self.failure
        if failure is None:
            return EXIT_OK
        return EXIT_UNREACHABLE if failure.step in UNREACHABLE_STEPS else EXIT_NONCOMPLIANT

    def to_json(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "host": self.host,
            "endpoint": self.endpoint,
            "ok": failure is None,
            "failed_step": failure.step.value if failure else None,
            "exit_code": self.exit_code,
            "steps": [s.to_json() for s in self.steps],
        }


def complete(host: str, endpoint: str, done: list[StepResult]) -> Diagnosis:
    """Every step in :data:`STEP_ORDER`: its result from ``done``, else ``not_run``."""
    by_step = {s.step: s for s in done}
    return Diagnosis(host, endpoint, [by_step.get(step, StepResult(step, StepStatus.not_run)) for step in STEP_ORDER])


def overall_exit_code(diagnoses: list[Diagnosis]) -> int:
    """3 when some host is unreachable, else 1 when some step failed, else 0."""
    codes = {d.exit_code for d in diagnoses}
    if EXIT_UNREACHABLE in codes:
        return EXIT_UNREACHABLE
    return EXIT_NONCOMPLIANT if EXIT_NONCOMPLIANT in codes else EXIT_OK
