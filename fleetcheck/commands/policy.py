"""``fleetcheck policy lint|explain|schema``: write, check and understand policies.

Exit codes: 0 fine, 2 a policy has problems or the check id is unknown
(usage/configuration error, as everywhere in fleetcheck).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click

from fleetcheck.checks import REGISTRY, load_all
from fleetcheck.checks.base import CheckBase, Description
from fleetcheck.commands.common import EXIT_OK, EXIT_USAGE, fail, lang_of
from fleetcheck.commands.options import format_option, inventory_option, policy_option
from fleetcheck.commands.tables import SEVERITY_LABELS
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.jsonout import echo_json, text_json
from fleetcheck.officetime import office_date, utc_now
from fleetcheck.policy.loader import (
    PolicyError,
    WaiverError,
    load_policies,
    load_waivers,
    policy_files,
    shipped_policy_paths,
    template_sites,
)
from fleetcheck.policy.models import Policy
from fleetcheck.policy.schema import policy_schema_json
from fleetcheck.policy.waivers import Waiver
from fleetcheck.templating import render_problem
from fleetcheck.yamlfile import Issue, YamlDocument, format_issues, read_document


@click.group(name="policy")
def policy() -> None:
    """编写与检查策略 / write and check policies (lint, explain, schema)."""


@policy.command(name="lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--waivers",
    "waivers_path",
    type=click.Path(path_type=Path),
    help="同时检查豁免文件 / also check this waivers file against the policies",
)
@inventory_option.variant(
    required=False, help="用清单中每台主机的变量试渲染模板 / render templates with each inventory host's variables"
)
@format_option(["text", "json"], "text")
def lint(paths: tuple[Path, ...], waivers_path: Path | None, inventory_path: Path | None, fmt: str) -> None:
    """检查策略文件（文件或目录），一次列出全部问题 / check policy files, listing every problem.

    Templates are also rendered, within their budgets: against the variables
    of every host of --inventory, or else against a representative set.
    Exit 0 without problems, 2 with some (``--format json`` too: schema
    ``reports_templates/policy-lint.schema.json``).
    """
    lang = lang_of()
    result = lint_paths(paths, waivers_path, inventory_path)
    if fmt == "json":
        echo_json(lint_json(result, waivers_path))
        raise SystemExit(EXIT_USAGE if result.problems else EXIT_OK)
    if result.problems:
        click.echo(format_issues(result.problems, lang))
        _summary_fail(len(result.problems), lang)
    checks = sum(len(p.checks) for p in result.policies)
    summary = T(
        f"✓ {len(result.files)} 个策略文件、{len(result.policies)} 个策略、{checks} 项检查，没有发现问题",
        f"✓ {len(result.files)} policy file(s), {len(result.policies)} policies, {checks} checks: no problems",
    )
    if result.waivers is not None:
        summary = _waiver_summary(summary, result.waivers, result.today, lang)
    click.echo(tr(summary, lang))
    raise SystemExit(EXIT_OK)


@dataclass(frozen=True)
class LintResult:
    """What ``policy lint`` found. ``stage`` names the first step with problems (None: none).

    The steps run in order and lint stops at the first with problems:
    ``policy`` (loading and validating the files), ``inventory`` (the
    --inventory file), ``template`` (rendering every template),
    ``waivers`` (the --waivers file against the policies).
    """

    files: list[Path]
    policies: list[Policy]
    problems: list[Issue]
    stage: str | None
    waivers: list[Waiver] | None
    today: date  # office date: a waiver expired before it is no longer honoured


def lint_paths(paths: tuple[Path, ...], waivers_path: Path | None, inventory_path: Path | None) -> LintResult:
    """Run every lint step on ``paths`` (see :class:`LintResult`)."""
    from fleetcheck.inventory import InventoryError

    files, _ = policy_files(paths)
    today = office_date(utc_now())
    policies: list[Policy] = []
    try:
        policies = load_policies(paths)
        hosts = _inventory_vars(inventory_path)
    except (PolicyError, InventoryError) as exc:
        stage = "policy" if isinstance(exc, PolicyError) else "inventory"
        return LintResult(files, policies, exc.issues, stage, None, today)
    render_issues = sorted(_render_templates(paths, policies, hosts), key=lambda i: (i.file, i.line or 0, i.col or 0))
    if render_issues:
        return LintResult(files, policies, render_issues, "template", None, today)
    waivers: list[Waiver] | None = None
    if waivers_path is not None:
        try:
            waivers = load_waivers(waivers_path, policies)
        except WaiverError as exc:
            return LintResult(files, policies, exc.issues, "waivers", None, today)
    return LintResult(files, policies, [], None, waivers, today)


def lint_json(result: LintResult, waivers_path: Path | None) -> dict[str, Any]:
    """``policy lint --format json``: per file and policy, every problem, the waivers counted."""
    per_file: dict[str, int] = {str(f): 0 for f in result.files}
    for issue in result.problems:
        per_file[issue.file] = per_file.get(issue.file, 0) + 1
    # The policy files with problems, read again to place each problem in its policy and check.
    documents = {f: read_document(f) for f in per_file if per_file[f] and result.stage in ("policy", "template")}
    waivers: dict[str, Any] | None = None
    if waivers_path is not None:
        listed = result.waivers or []
        expired = [(i, w) for i, w in enumerate(listed, 1) if w.expired(result.today)]
        waivers = {
            "file": str(waivers_path),
            "checked": result.waivers is not None,
            "today": result.today.isoformat(),
            "total": len(listed),
            "valid": len(listed) - len(expired),
            "expired": [{"index": i, "check": w.check, "hosts": w.hosts, "groups": w.groups,
                         "expires": w.expires.isoformat(), "reason": w.reason, "approver": w.approver}
                        for i, w in expired],
        }
    return {
        "ok": not result.problems,
        "exit_code": EXIT_USAGE if result.problems else EXIT_OK,
        "failed_stage": result.stage,
        "counts": {"files": len(result.files), "policies": len(result.policies),
                   "checks": sum(len(p.checks) for p in result.policies), "problems": len(result.problems)},
        "files": [{"path": path, "problems": count} for path, count in per_file.items()],
        "policies": [{"id": p.id, "title": text_json(p.title), "version": p.version,
                      "checks": [c.id for c in p.checks]} for p in result.policies],
        "problems": [{"stage": result.stage, "file": i.file, "line": i.line, "col": i.col,
                      **_problem_place(i, documents), "message": text_json(i.message), "source_line": i.source_line}
                     for i in result.problems],
        "waivers": waivers,
    }


# Checks of one policy file placed per problem: bounded like the policy loader's own limits.
_MAX_PLACED_CHECKS = 10_000


def _problem_place(issue: Issue, documents: dict[str, YamlDocument]) -> dict[str, Any]:
    """The policy id and the check (id, else its position in ``checks``) a problem lies in, where known."""
    doc = documents.get(issue.file)
    data = doc.data if doc is not None and doc.loaded else None
    if not isinstance(data, dict) or issue.line is None:
        return {"policy": None, "check": None}
    policy_id = data.get("id") if isinstance(data.get("id"), str) else None
    checks = data.get("checks")
    found: str | None = None
    if isinstance(checks, list) and doc is not None and not _after_checks(doc, data, issue.line):
        for index, check in enumerate(checks[:_MAX_PLACED_CHECKS]):
            start = doc.position(("checks", index))
            if start is None or start[0] > issue.line:
                break
            name = check.get("id") if isinstance(check, dict) else None
            found = name if isinstance(name, str) else f"checks[{index}]"
    return {"policy": policy_id, "check": found}


def _after_checks(doc: YamlDocument, data: dict[str, Any], line: int) -> bool:
    """Whether ``line`` lies in a top-level key written after ``checks:`` (so in no check)."""
    start = doc.position(("checks",), key=True)
    if start is None:
        return True
    later = [p[0] for k in data if k != "checks" and (p := doc.position((k,), key=True)) is not None and p[0] > start[0]]
    return any(first <= line for first in later)


def _waiver_summary(summary: Text, waivers: list[Waiver], today: date, lang: Lang) -> Text:
    """The summary with the waivers counted: valid (not expired on ``today``, office date) and expired.

    Each expired waiver is named on its own line first: it is no longer honoured by scan or fix.
    """
    expired = [(i, w) for i, w in enumerate(waivers, 1) if w.expired(today)]
    for index, waiver in expired:
        whom = ", ".join([*waiver.hosts, *waiver.groups])
        click.echo(tr(T(f"豁免 #{index}（{waiver.check}，{whom}）已于 {waiver.expires} 过期：不再生效",
                        f"waiver #{index} ({waiver.check}, {whom}) expired on {waiver.expires}: no longer honoured"),
                      lang))
    valid = len(waivers) - len(expired)
    return T(summary.zh + f"；{valid} 条豁免有效，{len(expired)} 条已过期",
             summary.en + f"; {valid} waiver(s) valid, {len(expired)} expired")


def _inventory_vars(path: Path | None) -> list[tuple[str, dict[str, Any]]] | None:
    """(host, variables) of every inventory host; None without --inventory. A bad file: InventoryError."""
    if path is None:
        return None
    from fleetcheck.inventory import PasswordSources, load_inventory

    class _AnyEnv(dict[str, str]):
        def get(self, key: str, default: Any = None) -> str:
            return "unused"  # lint renders templates; no password is needed

    sources = PasswordSources(keyring_lookup=lambda _s, _u: "unused", environ=_AnyEnv())
    inventory = load_inventory(path, sources)
    return [(name, dict(spec.host_vars)) for name, spec in inventory.hosts.items()]


# Hosts whose variables are tried per template: enough to find a host that
# lacks a variable, bounded so a 5,000-PC inventory lints in seconds.
_MAX_LINT_HOSTS = 200


def _render_templates(
    paths: tuple[Path, ...], policies: list[Policy], hosts: list[tuple[str, dict[str, Any]]] | None
) -> list[Issue]:
    """Render every template of every policy file; each failure is an issue at the template."""
    files, _ = policy_files(paths)
    by_id = {p.id: p for p in policies}
    issues: list[Issue] = []
    for path in files:
        doc = read_document(path)
        data = doc.data if doc.loaded else None
        policy_id = data.get("id") if isinstance(data, dict) else None
        policy = by_id.get(str(policy_id)) if policy_id is not None else None
        defaults: dict[str, Any] = dict(policy.vars) if policy is not None else {}
        for loc, text in template_sites(data):
            if hosts is None:
                problem = render_problem(text)
                if problem is not None:
                    issues.append(doc.issue(loc, problem))
                continue
            for name, variables in hosts[:_MAX_LINT_HOSTS]:
                problem = render_problem(text, {**defaults, **variables})
                if problem is not None:
                    issues.append(doc.issue(loc, T(f"主机 {name}：{problem.zh}", f"host {name}: {problem.en}")))
                    break  # one host per template says enough
    return issues


def _summary_fail(count: int, lang: Lang) -> NoReturn:
    click.echo(
        tr(T(f"✗ 发现 {count} 个问题", f"✗ {count} problem(s) found"), lang),
        err=True,
    )
    raise SystemExit(EXIT_USAGE)


@policy.command(name="explain")
@click.argument("check_id")
@policy_option
@click.option(
    "--lang",
    "lang_option",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="输出语言 / language",
)
@format_option(["text", "json"], "text")
def explain(check_id: str, policy_paths: tuple[str, ...], lang_option: str | None, fmt: str) -> None:
    """说明一项检查：查什么、在 Windows 哪里查、期望值、如何修复 / explain one check.

    CHECK_ID is a check id, or POLICY-ID/CHECK-ID when several policies share it.
    ``--format json``: every matching check's fields, user text in both
    languages (schema ``reports_templates/policy-explain.schema.json``).
    """
    lang: Lang = "en" if lang_option == "en" else ("zh" if lang_option == "zh" else lang_of())
    paths: list[Path] = [Path(p) for p in policy_paths] or shipped_policy_paths()
    if not paths:
        fail(
            T(
                "没有找到内置策略；请用 --policy 指定策略文件",
                "no shipped policies found; name a policy file with --policy",
            )
        )
    try:
        policies = load_policies(paths)
    except PolicyError as exc:
        click.echo(exc.format(lang), err=True)
        raise SystemExit(EXIT_USAGE) from None
    matches = _find(policies, check_id)
    if not matches:
        _unknown_check(policies, check_id, lang)
    if fmt == "json":
        echo_json({"check_id": check_id, "checks": [explain_json(p, c) for p, c in matches]})
        return
    blocks = [_explain(p, c, lang) for p, c in matches]
    click.echo("\n\n".join(blocks))


def _find(policies: list[Policy], wanted: str) -> list[tuple[Policy, CheckBase]]:
    found: list[tuple[Policy, CheckBase]] = []
    for policy_ in policies:
        for check in policy_.checks:
            if wanted in (check.id, f"{policy_.id}/{check.id}"):
                found.append((policy_, check))
    return found


def _unknown_check(policies: list[Policy], wanted: str, lang: Lang) -> NoReturn:
    ids = sorted({c.id for p in policies for c in p.checks})
    close = difflib.get_close_matches(wanted, ids, n=5, cutoff=0.5)
    if close:
        message = T(
            f"未知的检查 '{wanted}'。相近的：{', '.join(close)}",
            f"unknown check '{wanted}'. Close matches: {', '.join(close)}",
        )
    else:
        message = T(
            f"未知的检查 '{wanted}'。现有检查：{', '.join(ids) or '（无）'}",
            f"unknown check '{wanted}'. Known checks: {', '.join(ids) or '(none)'}",
        )
    click.echo(tr(message, lang), err=True)
    raise SystemExit(EXIT_USAGE)


_LABELS: dict[str, Text] = {
    "policy": T("策略", "Policy"),
    "type": T("检查类型", "Check type"),
    "what": T("检查内容", "What it checks"),
    "where": T("Windows 上的位置", "Where on Windows"),
    "expected": T("期望值", "Expected"),
    "severity": T("严重程度", "Severity"),
    "scope": T("范围", "Scope"),
    "when": T("适用条件", "Applies when"),
    "remedy": T("修复建议", "Remedy"),
    "guide": T("指南章节", "Guide section"),
    "fix": T("修复方式", "Fix mode"),
    "requirement": T("需求", "Requirement"),
}
_SCOPES = {
    "user": T("用户（操作员的配置文件）", "user (the operator's profile)"),
    "machine": T("计算机", "machine"),
}
_FIX = {
    "auto": T("自动（fleetcheck fix）", "automatic (fleetcheck fix)"),
    "manual": T("手动", "manual"),
    "none": T("无（仅报告）", "none (report only)"),
}
_SEVERITY = SEVERITY_LABELS


def _explain(policy_: Policy, check: CheckBase, lang: Lang) -> str:
    """The text block for one check."""
    label = {k: v.get(lang) for k, v in _LABELS.items()}
    lines = [f"{check.id} — {check.title.get(lang)}"]
    lines.append(f"  {label['policy']}: {policy_.id} ({policy_.title.get(lang)})")
    lines.append(f"  {label['type']}: {check.type}")
    what = check.description.get(lang) if check.description else check.title.get(lang)
    lines.append(f"  {label['what']}: {what}")
    where, expected = _describe(check, lang)
    lines.append(f"  {label['where']}:")
    lines.extend(f"    {w}" for w in where)
    lines.append(f"  {label['expected']}: {expected}")
    lines.append(f"  {label['severity']}: {_SEVERITY[check.severity.value].get(lang)}")
    lines.append(f"  {label['scope']}: {_SCOPES[check.scope].get(lang)}")
    if check.when is not None:
        lines.append(f"  {label['when']}: {_when_text(check.when)}")
    if check.remedy is not None:
        lines.append(f"  {label['remedy']}: {check.remedy.get(lang)}")
    if check.guide:
        lines.append(f"  {label['guide']}: {check.guide}")
    if check.requirement:
        lines.append(f"  {label['requirement']}: {check.requirement}")
    lines.append(f"  {label['fix']}: {_FIX[check.fix.value].get(lang)}")
    return "\n".join(lines)


def explain_json(policy_: Policy, check: CheckBase) -> dict[str, Any]:
    """One check for ``policy explain --format json``: the fields the text block shows, keys English."""
    description = _description(check)
    what = check.description if check.description is not None else check.title
    when = check.when
    return {
        "policy": {"id": policy_.id, "title": text_json(policy_.title)},
        "id": check.id,
        "type": check.type,
        "title": text_json(check.title),
        "what": text_json(what),
        "where": list(description.where) if description is not None else None,
        "expected": description.expected if description is not None else None,
        "severity": check.severity.value,
        "severity_label": text_json(_SEVERITY[check.severity.value]),
        "scope": check.scope,
        "scope_label": text_json(_SCOPES[check.scope]),
        "when": None if when is None else {
            "text": _when_text(when), "os": when.os.text if when.os is not None else None,
            "os_family": when.os_family, "arch": when.arch, "host": when.host},
        "remedy": text_json(check.remedy) if check.remedy is not None else None,
        "guide": check.guide,
        "requirement": check.requirement,
        "fix": check.fix.value,
        "fix_label": text_json(_FIX[check.fix.value]),
    }


def _description(check: CheckBase) -> Description | None:
    """Where the check's type looks and what it expects; None when the type cannot say."""
    registered = REGISTRY.get(check.type)
    if registered is None:
        return None
    try:
        return registered.describe(check)
    except Exception:  # noqa: BLE001 - a check type's describe bug must not crash explain
        return None


def _describe(check: CheckBase, lang: Lang) -> tuple[list[str], str]:
    description = _description(check)
    if description is None:
        unavailable = tr(T("（无法描述）", "(no description available)"), lang)
        return [unavailable], unavailable
    return (list(description.where) or ["-"]), description.expected


def _when_text(when: Any) -> str:
    parts = []
    for name, value in when.model_dump(exclude_none=True).items():
        if name == "os":
            parts.append(f"os {when.os.text}")
        elif isinstance(value, list):
            parts.append(f"{name} ∈ {{{', '.join(map(str, value))}}}")
        else:
            parts.append(f"{name} = {value}")
    return ", ".join(parts)


@policy.command(name="schema")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="写入文件（默认输出到标准输出）/ write to this file (default: stdout)",
)
def schema(out: Path | None) -> None:
    """输出策略格式的 JSON Schema，供编辑器补全 / print the policy format's JSON Schema."""
    load_all()
    text = policy_schema_json()
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(
            T(
                f"无法写入 {out}：{exc.strerror or exc}",
                f"cannot write {out}: {exc.strerror or exc}",
            )
        )
    click.echo(tr(T(f"已写入 {out}", f"written to {out}"), lang_of()))
