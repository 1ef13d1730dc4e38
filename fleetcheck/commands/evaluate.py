"""``fleetcheck evaluate``: judge recorded facts offline, without touching any PC.

    fleetcheck evaluate --facts PC-SZ-014.json [--policy PATH] [--host-vars vars.yaml]
                        [--waivers waivers.yaml] [--now 2025-06-01T10:00:00+08:00]
                        [--format table|json]

``--format json``: the host, the operator whose profile counted, counts per
status and every finding (schema ``reports_templates/evaluate.schema.json``).

``--facts`` is one agent response (a ProbeResponse JSON document), or a host
result that holds one under ``"facts"`` (what ``scan`` stores). Without
``--policy`` the shipped policy packs are used. ``--now`` defaults to the
current time (certificate days left depend on it).

Exit codes: 0 every finding passes (or is not applicable / waived),
1 something fails, errors or is not evaluated, 2 bad input.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from fleetcheck.agent.contract import ProbeResponse
from fleetcheck.commands.common import EXIT_NONCOMPLIANT, EXIT_OK, fail, lang_of
from fleetcheck.commands.options import format_option, policy_option
from fleetcheck.commands.tables import SEVERITY_LABELS, observed_text
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.findings import Finding, FindingStatus
from fleetcheck.i18n import Lang, T, tr
from fleetcheck.jsonout import echo_json, iso_utc, text_json
from fleetcheck.policy.loader import load_policy_files, load_waivers
from fleetcheck.termsafe import safe_terminal

_OK = {FindingStatus.passed, FindingStatus.not_applicable, FindingStatus.waived}
_STATUS = {
    "pass": ("通过", "pass"),
    "fail": ("不合规", "FAIL"),
    "error": ("错误", "ERROR"),
    "not_applicable": ("不适用", "n/a"),
    "not_evaluated": ("未评估", "not evaluated"),
    "waived": ("已豁免", "waived"),
}


def read_facts(path: Path) -> ProbeResponse:
    """The ProbeResponse in ``path``; exits 2 with a clear reason when it is not one."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(T(f"无法读取事实文件 {path}：不是 UTF-8 文本", f"cannot read the facts file {path}: not UTF-8 text"))
    except OSError as exc:
        fail(T(f"无法读取事实文件 {path}（{exc.strerror or type(exc).__name__}）",
               f"cannot read the facts file {path} ({exc.strerror or type(exc).__name__})"))
    from fleetcheck.agent import AgentOutputError, bounded_answer

    try:
        doc = bounded_answer(json.loads(text))
    except json.JSONDecodeError as exc:
        fail(T(f"{path}:{exc.lineno}:{exc.colno}: 不是 JSON（{exc.msg}）",
               f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})"))
    except RecursionError:
        fail(T(f"{path}: JSON 嵌套过深", f"{path}: the JSON is nested too deeply"))
    except AgentOutputError as exc:
        fail(T(f"{path}: 不是有效的代理应答（{exc.reason}）", f"{path}: not a valid agent response ({exc.reason})"))
    except ValueError as exc:  # an integer of more than 4,300 digits
        fail(T(f"{path}: 含有无法读取的数字（{str(exc)[:80]}）", f"{path}: holds an impossible number ({str(exc)[:80]})"))
    if isinstance(doc, dict) and isinstance(doc.get("facts"), dict):
        doc = doc["facts"]
    if not isinstance(doc, dict):
        fail(T(f"{path}: 应为一个 JSON 对象（代理的应答）", f"{path}: expected a JSON object (an agent response)"))
    try:
        return ProbeResponse.model_validate(doc)
    except RecursionError:
        fail(T(f"{path}: JSON 嵌套过深", f"{path}: the JSON is nested too deeply"))
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:8]]
        more = exc.error_count() - len(lines)
        tail = f"\n  … +{more}" if more > 0 else ""
        body = "\n".join(lines) + tail
        fail(T(f"{path}: 不是有效的代理应答（{exc.error_count()} 处问题）：\n{body}\n请提供 scan 保存的事实 JSON",
               f"{path}: not a valid agent response ({exc.error_count()} problems):\n{body}\n"
               "give the facts JSON a scan recorded"))


def read_host_vars(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from fleetcheck.inventory import load_host_vars

    return load_host_vars(path)  # the one loader: every problem is file:line:col (HostVarsError, exit 2)


def _now(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.timezone.utc)  # the CLI is the edge: it may read the clock
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(T(f"--now {text!r} 不是 ISO 8601 时间（如 2025-06-01T10:00:00+08:00）",
               f"--now {text!r} is not an ISO 8601 time (e.g. 2025-06-01T10:00:00+08:00)"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _table(findings: list[Finding], lang: Lang) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text as RichText

    zh = lang != "en"
    table = Table(show_lines=False)
    for head in (("检查", "check"), ("状态", "status"), ("严重性", "severity"),
                 ("实际值", "observed"), ("说明", "message")):
        table.add_column(head[0] if zh else head[1])
    for f in findings:
        label = _STATUS[f.status.value][0 if zh else 1]
        # Host data is plain text: never rich markup, never terminal escapes.
        title = RichText(safe_terminal(tr(f.title, lang)) + "\n")
        title.append(safe_terminal(f.check_id), style="dim")
        severity = SEVERITY_LABELS[f.severity.value].get(lang) if f.severity.value in SEVERITY_LABELS else f.severity.value
        table.add_row(title, label, severity,
                      *(RichText(safe_terminal(c)) for c in (observed_text(f.observed, lang), tr(f.message, lang))))
    console = Console(record=True, width=140, force_terminal=False)
    with console.capture() as cap:
        console.print(table)
    return cap.get()


@click.command(name="evaluate")
@click.option("--facts", "facts_path", required=True, type=click.Path(path_type=Path),
              help="代理应答 JSON / an agent response (ProbeResponse) JSON file")
@policy_option
@click.option("--host-vars", "vars_path", type=click.Path(path_type=Path),
              help="主机变量 YAML/JSON（如 gateway_cert、operator）/ host variables file")
@click.option("--waivers", "waivers_path", type=click.Path(path_type=Path), help="豁免文件 / waivers file")
@click.option("--host", "host", default="", help="主机名（用于豁免匹配）/ host name, for waivers")
@click.option("--now", "now_text", help="评估时刻 ISO 8601 / evaluation time, ISO 8601")
@format_option(["table", "json"], "table")
def evaluate_cmd(facts_path: Path, policy_paths: tuple[str, ...], *, vars_path: Path | None,
                 waivers_path: Path | None, host: str, now_text: str | None, fmt: str) -> None:
    """离线评估已采集的事实 / evaluate recorded facts offline against policies."""
    lang = lang_of()
    policies = load_policy_files(policy_paths)
    waivers = load_waivers(waivers_path, policies) if waivers_path else []
    facts = read_facts(facts_path)
    host_vars = read_host_vars(vars_path)
    now = _now(now_text)
    missing = {q.id for q in compile_request(policies).queries} - {a.id for a in facts.answers}
    result = evaluate_host(policies, facts, host_vars=host_vars, now=now, waivers=waivers,
                           host=host or facts.os.hostname)
    ok = all(f.status in _OK for f in result.findings)
    if fmt == "json":  # reports_templates/evaluate.schema.json
        counts = {s.value: 0 for s in FindingStatus}
        for f in result.findings:
            counts[f.status.value] += 1
        echo_json({
            "host": host or facts.os.hostname,
            "now": iso_utc(now),
            "policies": [p.id for p in policies],
            "operator": result.operator.user if result.operator else None,
            "operator_sid": result.operator.sid if result.operator else None,
            "operator_note": text_json(result.operator_note) if result.operator_note else None,
            "missing_answers": len(missing),
            "compliant": ok,
            "exit_code": EXIT_OK if ok else EXIT_NONCOMPLIANT,
            "counts": counts,
            "findings": [f.model_dump(mode="json") for f in result.findings],
        })
    else:
        who = result.operator.user or result.operator.sid if result.operator else tr(
            result.operator_note or T("无", "none"), lang)
        click.echo(tr(T(f"主机 {host or facts.os.hostname}，操作员：{who}", f"host {host or facts.os.hostname}, operator: {who}"), lang))
        if missing:
            click.echo(tr(T(f"注意：事实中缺少 {len(missing)} 个查询的应答（不是用这些策略采集的？）",
                            f"note: the facts lack answers to {len(missing)} queries (collected with other policies?)"), lang))
        click.echo(_table(result.findings, lang))
    raise SystemExit(EXIT_OK if ok else EXIT_NONCOMPLIANT)
