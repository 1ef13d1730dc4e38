"""``fleetcheck doctor``: walk the path to each PC step by step (see fleetcheck.doctor)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fleetcheck.commands.common import fail, lang_of, load_targets
from fleetcheck.commands.options import (
    format_option,
    inventory_option,
    limit_option,
    timeout_option,
)
from fleetcheck.doctor import (
    MARKS,
    STEP_TITLES,
    Diagnosis,
    StepResult,
    StepStatus,
    WalkOptions,
    diagnose,
    overall_exit_code,
)
from fleetcheck.i18n import Lang, T, tr
from fleetcheck.jsonout import echo_json


def render_step(step: StepResult, lang: Lang) -> list[str]:
    """The lines of one step: mark, title and what was seen; a failure adds its remedy."""
    title = tr(STEP_TITLES[step.step], lang)
    mark = MARKS[step.status]
    if step.status is StepStatus.not_run:
        return [f"  {mark} {title}: {tr(T('未运行', 'not run'), lang)}"]
    if step.status is StepStatus.not_applicable:
        detail = tr(step.detail, lang) if step.detail else ""
        return [f"  {mark} {title}: {tr(T('不适用', 'not applicable'), lang)} ({detail})"]
    if step.status is StepStatus.failed:
        lines = [f"  {mark} {title}: {tr(step.cause, lang) if step.cause else ''}"]
        if step.remedy is not None:
            lines.append(f"      {tr(T('处理：', 'remedy: '), lang)}{tr(step.remedy, lang)}")
        return lines
    detail = f": {tr(step.detail, lang)}" if step.detail else ""
    return [f"  {mark} {title}{detail}"]


def render_text(diagnosis: Diagnosis, lang: Lang) -> list[str]:
    lines = [f"{diagnosis.host} ({diagnosis.endpoint})"]
    for step in diagnosis.steps:
        lines.extend(render_step(step, lang))
    failure = diagnosis.failure
    if failure is None:
        lines.append(tr(T("  全部步骤通过", "  every step passed"), lang))
    else:
        title = tr(STEP_TITLES[failure.step], lang)
        lines.append(tr(T(f"  在“{title}”一步失败", f"  fails at the step \"{title}\""), lang))
    return lines


@click.command(name="doctor")
@click.argument("hosts", nargs=-1)
@inventory_option
@limit_option
@timeout_option.variant(type=click.FloatRange(5, 600), default=60,
                        help="每台主机整个检查的时限（秒）/ deadline of the whole walk per host, seconds")
@format_option(["text", "json"], "text")
def doctor(hosts: tuple[str, ...], inventory_path: Path, limit: str | None, timeout_s: float, fmt: str) -> None:
    """逐步检查到 PC 的连接路径，指出第一个失败的步骤 / walk the path to each PC and name the first failing step.

    Steps, in order: name/address, TCP, TLS (https), the WS-Management
    listener, the authentication scheme, clock skew (Kerberos), authentication,
    UAC remote restrictions, authorisation, shell and quotas, PowerShell,
    language mode, the agent's round trip, the execution policy from Group
    Policy. Nothing is changed on the PC. Exit 0 when every step passes,
    1 when a step fails, 3 when a PC cannot be reached (name, TCP, listener).
    """
    if bool(hosts) == bool(limit):
        fail(T("请给出主机名（HOST…）或 --limit 模式，二者选一",
               "give host names (HOST…) or a --limit pattern, one of the two"))
    _inventory, names = load_targets(inventory_path, ",".join(hosts) if hosts else limit)
    lang = lang_of()
    options = WalkOptions(timeout_s=timeout_s)
    diagnoses: list[Diagnosis] = []
    for name in names:
        diagnosis = diagnose(_inventory.hosts[name], options)
        diagnoses.append(diagnosis)
        if fmt == "text":
            click.echo("\n".join(render_text(diagnosis, lang)))
    code = overall_exit_code(diagnoses)
    if fmt == "json":  # reports_templates/doctor.schema.json
        echo_json({"exit_code": code, "hosts": [d.to_json() for d in diagnoses]})
    sys.exit(code)
