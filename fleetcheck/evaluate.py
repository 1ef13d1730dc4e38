"""The evaluator: policies + one host's facts -> findings. Pure: no I/O, no clock.

Three entry points:

* :func:`compile_request` — the union of every check's queries, deduplicated by
  id in a stable order: one round trip per host per sweep. It does not depend
  on host variables (templates only touch evaluation), so the runner compiles
  once per sweep and sends the same request to every host.
* :func:`select_operator` — whose per-user settings count on this host.
* :func:`evaluate_host` — one finding per check: ``when:`` (not_applicable),
  templates (error naming a missing variable), the operator rule for
  ``scope: user`` (not_evaluated without an operator, never pass), the check
  type's own ``evaluate``, then waivers. One check failing in an unexpected
  way becomes an ``error`` finding for that check only.

>>> from fleetcheck.evaluate import compile_request
>>> compile_request([]).queries
[]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from fleetcheck.agent.contract import USER_SID_PREFIXES, ProbeRequest, ProbeResponse, Profile, Query
from fleetcheck.checks import REGISTRY
from fleetcheck.checks.base import CheckBase, EvalContext, Outcome
from fleetcheck.checks.conditions import holds
from fleetcheck.checks.facts import NO_OPERATOR, FactError
from fleetcheck.findings import Finding, FindingStatus
from fleetcheck.i18n import T, Text
from fleetcheck.officetime import office_date
from fleetcheck.policy.waivers import Waiver
from fleetcheck.templating import TemplateError, is_template, render
from fleetcheck.versions import VersionError

__all__ = ["HostEvaluation", "compile_request", "evaluate_host", "render_spec", "select_operator"]

log = logging.getLogger(__name__)

ALL_OPERATORS = "all"


class PolicyLike(Protocol):
    """What the evaluator needs of a policy (``fleetcheck.policy.models.Policy``)."""

    @property
    def id(self) -> str: ...

    @property
    def checks(self) -> Sequence[CheckBase]: ...


@dataclass(frozen=True)
class HostEvaluation:
    """The findings of one host, and the operator profile they were evaluated for.

    ``operator_note`` says why there is no operator when there is none.
    """

    findings: list[Finding]
    operator: Profile | None
    operator_note: Text | None = None
    profiles: list[Profile] = field(default_factory=list)  # evaluated profiles ("all")


# --------------------------------------------------------------------------- compile


def compile_request(policies: Iterable[PolicyLike]) -> ProbeRequest:
    """One ProbeRequest answering every check of every policy.

    Queries are built from the checks alone (no host variables), so one
    compiled request serves a whole sweep.
    """
    seen: dict[str, Query] = {}
    for policy in policies:
        for check in policy.checks:
            reg = REGISTRY.get(check.type)
            if reg is None:
                continue  # reported per host as an error finding
            for query in reg.queries(check):
                seen.setdefault(query.id, query)
    return ProbeRequest(queries=list(seen.values()), want_processes=True)


# --------------------------------------------------------------------------- operator


def _user_profiles(facts: ProbeResponse) -> list[Profile]:
    return [p for p in facts.profiles if p.loaded and p.sid.startswith(USER_SID_PREFIXES)]


def _choose_operator(facts: ProbeResponse, host_vars: Mapping[str, Any]) -> tuple[Profile | None, Text | None]:
    loaded = _user_profiles(facts)
    wanted = host_vars.get("operator")
    if isinstance(wanted, str) and wanted.strip() and wanted.strip().lower() != ALL_OPERATORS:
        name = wanted.strip().lower()
        for prof in loaded:
            user = (prof.user or "").lower()
            if user == name or ("\\" not in name and user.rsplit("\\", 1)[-1] == name):
                return prof, None
        return None, T(
            f"未评估：清单指定的操作员 {wanted} 没有登录",
            f"not evaluated: no operator logged on (the inventory's operator {wanted} has no loaded profile)",
        )
    console = [p for p in loaded if p.console]
    if console:
        return console[0], None
    interactive = [p for p in loaded if p.interactive]
    if len(interactive) == 1:
        return interactive[0], None
    if len(interactive) > 1:
        users = ", ".join(p.user or p.sid for p in interactive)
        return None, T(
            f"未评估：没有控制台用户，且有多个交互会话（{users}）：请在清单中设置 operator",
            f"not evaluated: no operator logged on at the console and several sessions ({users}): "
            "set 'operator' in the inventory",
        )
    return None, NO_OPERATOR


def select_operator(facts: ProbeResponse, host_vars: Mapping[str, Any]) -> Profile | None:
    """The profile whose per-user settings are evaluated on this host, or None.

    In order: the inventory variable ``operator`` (``DOMAIN\\user``, or just
    ``user``) when that user's hive is loaded; the console user; the single
    interactive (explorer-owning) user. Otherwise None, and user-scoped checks
    are "not evaluated".

    ``operator: all`` (decision): every loaded user profile is evaluated and a
    user-scoped check's finding is the worst of them (details list each); this
    function then returns the primary one (console, else single interactive).
    """
    return _choose_operator(facts, host_vars)[0]


# --------------------------------------------------------------------------- evaluate


_RANK = {
    FindingStatus.fail: 4,
    FindingStatus.error: 3,
    FindingStatus.not_evaluated: 2,
    FindingStatus.passed: 1,
    FindingStatus.not_applicable: 0,
    FindingStatus.waived: 0,
}


def render_spec(spec: CheckBase, variables: Mapping[str, Any], memo: dict[str, str] | None = None) -> CheckBase:
    """The spec with its templated fields (its type's ``templated_fields``) rendered for ``variables``.

    The one renderer of check specs (the evaluator and the fix planner both
    use it); :func:`fleetcheck.templating.render` applies the template budgets
    and raises :class:`~fleetcheck.templating.TemplateError` naming a missing
    variable. ``memo`` maps a template source to its text for one host and
    policy (the same variables), so a template shared by several checks is
    rendered once; None renders without one. A spec without templates is
    returned as is.
    """
    names: frozenset[str] = getattr(type(spec), "templated_fields", frozenset())
    cache: dict[str, str] = {} if memo is None else memo
    update: dict[str, Any] = {}
    for name in names:
        value = getattr(spec, name, None)
        if isinstance(value, str) and is_template(value):
            text = cache.get(value)
            if text is None:
                text = cache[value] = render(value, dict(variables))
            update[name] = text
    return spec.model_copy(update=update) if update else spec


def _run(spec: CheckBase, ctx: EvalContext, where: str) -> Outcome:
    reg = REGISTRY[spec.type]
    try:
        return reg.evaluate(spec, ctx)
    except FactError as exc:
        return Outcome(exc.status, message=exc.message)
    except VersionError as exc:  # a malformed version fact from the host: this check's error
        return Outcome(FindingStatus.error, message=T(f"主机报告的版本信息无法读取：{exc}",
                                                      f"a version reported by the host cannot be read: {exc}"))
    except (ValueError, OverflowError) as exc:
        # Checks are pure functions of validated specs and the host's facts, so a value error is a malformed
        # fact: file content that is not base64 (binascii.Error) or not ASCII, text that is not UTF-8, a number
        # too large for a date. This check's error (not an internal one); the host's other checks go on.
        name = type(exc).__name__
        return Outcome(FindingStatus.error, message=T(f"主机报告的数据无法读取（{name}），无法评估此检查",
                                                      f"data reported by the host cannot be read ({name}): "
                                                      "this check cannot be evaluated"))
    except Exception as exc:  # noqa: BLE001 - one broken check must not spoil the host
        log.warning("check %s raised %s; reported as an error finding", where, type(exc).__name__)
        name = type(exc).__name__
        return Outcome(
            FindingStatus.error,
            message=T(f"评估此检查时出现内部错误（{name}）", f"internal error while evaluating this check ({name})"),
        )


def _combine(per_profile: list[tuple[Profile, Outcome]]) -> Outcome:
    """Operator "all": the worst outcome, with every profile's status in details."""
    worst_profile, worst = max(per_profile, key=lambda po: _RANK[po[1].status])
    statuses = {(p.user or p.sid): o.status.value for p, o in per_profile}
    details = {**worst.details, "profiles": statuses, "profile": worst_profile.user or worst_profile.sid}
    return Outcome(worst.status, worst.expected, worst.observed, worst.source, worst.message, details, worst.severity)


def _finding(policy_id: str, spec: CheckBase, outcome: Outcome) -> Finding:
    return Finding(
        policy_id=policy_id,
        check_id=spec.id,
        check_type=spec.type,
        status=outcome.status,
        severity=outcome.severity or spec.severity,
        title=spec.title,
        expected=outcome.expected,
        observed=outcome.observed,
        source=outcome.source,
        message=outcome.message,
        remedy=outcome.remedy or spec.remedy,
        guide=spec.guide,
        requirement=spec.requirement,
        fix=spec.fix,
        details=outcome.details,
    )


def _apply_waiver(
    finding: Finding, waivers: Sequence[Waiver], host: str, groups: list[str], today: date
) -> Finding:
    if finding.status not in (FindingStatus.fail, FindingStatus.error):
        return finding
    for waiver in waivers:
        if waiver.applies(finding.policy_id, finding.check_id, host, groups, today):
            record = {
                "check": waiver.check,
                "reason": waiver.reason,
                "approver": waiver.approver,
                "expires": waiver.expires.isoformat(),
                "original_status": finding.status.value,
            }
            return finding.model_copy(update={"status": FindingStatus.waived, "waiver": record})
    return finding


def evaluate_host(
    policies: Iterable[PolicyLike],
    facts: ProbeResponse,
    *,
    host_vars: Mapping[str, Any],
    now: datetime,
    waivers: Sequence[Waiver] = (),
    host: str = "",
    groups: Sequence[str] = (),
    today: date | None = None,
) -> HostEvaluation:
    """Evaluate every check of every policy against one host's facts.

    ``now`` is the evaluation instant (certificate days left, IE-mode user-list
    expiry); ``today`` (default: ``now``'s date in Asia/Shanghai) decides
    whether a waiver has expired. Policy ``vars`` are defaults under the host's
    own variables.
    """
    operator, note = _choose_operator(facts, host_vars)
    all_mode = str(host_vars.get("operator", "")).strip().lower() == ALL_OPERATORS
    others = [p for p in _user_profiles(facts) if all_mode and p is not operator]
    profiles = ([operator] if operator else []) + others
    base_vars = dict(host_vars)
    contexts = {p.sid: EvalContext(facts, base_vars, now, p) for p in profiles}
    machine_ctx = contexts[operator.sid] if operator else EvalContext(facts, base_vars, now, None)
    scope = _HostScope(facts, contexts, machine_ctx, operator, note)
    day = today or office_date(now)
    group_list = list(groups)
    findings: list[Finding] = []
    for policy in policies:
        defaults = getattr(policy, "vars", None) or {}
        variables = {**defaults, **host_vars} if defaults else base_vars
        memo: dict[str, str] = {}
        for check in policy.checks:
            where = f"{policy.id}/{check.id}@{host}"
            outcome, spec = _evaluate_check(check, scope, variables, memo, where)
            finding = _finding(policy.id, spec, outcome)
            if waivers:
                finding = _apply_waiver(finding, waivers, host, group_list, day)
            findings.append(finding)
    return HostEvaluation(findings, operator, note if operator is None else None, profiles)


@dataclass(frozen=True)
class _HostScope:
    """One host's evaluation state shared by all its checks: facts, per-profile contexts, the operator."""

    facts: ProbeResponse
    contexts: dict[str, EvalContext]  # per evaluated profile SID
    machine_ctx: EvalContext  # the operator's context (machine-scoped checks), or one without operator
    operator: Profile | None
    note: Text | None  # why there is no operator


def _evaluate_check(
    check: CheckBase,
    scope: _HostScope,
    variables: Mapping[str, Any],
    memo: dict[str, str],
    where: str,
) -> tuple[Outcome, CheckBase]:
    if check.type not in REGISTRY:
        msg = T(f"未知的检查类型 {check.type}", f"unknown check type {check.type}")
        return Outcome(FindingStatus.error, message=msg), check
    try:
        applies = holds(check.when, scope.facts.os, dict(variables))
    except ValueError as exc:  # a malformed fact (os.version "abc"): this check's error, the rest evaluated
        return Outcome(FindingStatus.error, message=T(
            f"主机报告的系统信息无法读取，无法判断此检查是否适用：{exc}",
            f"the host's OS facts cannot be read, so whether this check applies cannot be decided: {exc}"),
            details={"os.version": scope.facts.os.version}), check
    if not applies:
        return Outcome(FindingStatus.not_applicable), check
    try:
        spec = render_spec(check, variables, memo)
    except TemplateError as exc:
        return Outcome(FindingStatus.error, message=exc.message, details={"variable": exc.variable}), check
    if check.scope != "user":
        return _run(spec, scope.machine_ctx, where), spec
    if scope.operator is None:
        return Outcome(FindingStatus.not_evaluated, message=scope.note or NO_OPERATOR), spec
    if len(scope.contexts) == 1:
        return _run(spec, scope.machine_ctx, where), spec
    per_profile = [(ctx.operator, _run(spec, ctx, where)) for ctx in scope.contexts.values() if ctx.operator]
    return _combine(per_profile), spec
