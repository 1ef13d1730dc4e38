"""``fleetcheck audit verify|show``: the tamper-evident audit log of every change.

``verify`` checks the hash chain and names edited or removed entries (exit 1
when any; ``--format json``: schema ``reports_templates/audit-verify.schema.json``); ``show`` prints the entries (``--format json``: as stored, with
their hashes, plus ``result_text`` in both languages; schema
``reports_templates/audit-show.schema.json``; ``--head``: only the newest
hash, to keep elsewhere).

The table is for a person, in the chosen language: times in office time with
the zone named, the result in that language, and the before/after states
rendered (``3 (DWORD) → 0 (DWORD)``, ``absent``, a file's path and hash), not
raw JSON. Results were stored in English only before entries carried a
bilingual ``details.result_text``; for those, a refusal is shown from its
stored (bilingual) reasons, the fixed phrases fleetcheck itself writes are
translated, and anything else (an agent's or Windows' own error text) is
shown as stored.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import click

from fleetcheck.commands.common import EXIT_NONCOMPLIANT, EXIT_OK, lang_of
from fleetcheck.commands.options import db_option, format_option, last_option
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.jsonout import echo_json, text_json
from fleetcheck.officetime import office_time, office_zone
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditEntry, AuditLog
from fleetcheck.termsafe import safe_terminal

__all__ = ["audit"]


@click.group(name="audit")
def audit() -> None:
    """审计日志 / the audit log of every change."""


@audit.command(name="verify")
@db_option
@click.option("--expect-head", help="期望的最新条目哈希（外部留存）/ expected newest hash, kept elsewhere")
@format_option(["text", "json"], "text")
def audit_verify(db_url: str | None, expect_head: str | None, fmt: str) -> None:
    """校验哈希链，指出被修改或删除的条目 / check the hash chain; name edited or removed entries.

    Exit 0 when intact, 1 when not. ``--format json``: intact or not, the
    entries and the head, and each problem with the entry it names
    (schema ``reports_templates/audit-verify.schema.json``).
    """
    lang = lang_of()
    # A store that cannot be opened or read (a damaged file): StoreError, reported by cli.main.
    with Store.open(db_url) as store:
        log = AuditLog(store)
        problems = log.verify(expect_head)
        entries = log.entries()
        head_seq, head_hash = log.head()
    count = len(entries)
    if fmt == "json":
        named = [p.seq for p in problems if p.seq is not None]
        echo_json({
            "intact": not problems,
            "exit_code": EXIT_NONCOMPLIANT if problems else EXIT_OK,
            "entries": count,
            "newest": {"seq": entries[-1].seq, "hash": entries[-1].hash} if entries else None,
            "head": {"seq": head_seq, "hash": head_hash},
            "expected_head": expect_head,
            "first_broken_seq": min(named) if named else None,
            "problems": [{"seq": p.seq, "text": text_json(p.text)} for p in problems],
        })
        if problems:
            sys.exit(EXIT_NONCOMPLIANT)
        return
    for problem in problems:
        click.echo(tr(problem.text, lang))
    if problems:
        click.echo(tr(T(f"审计日志校验失败：{len(problems)} 个问题", f"audit log verification FAILED: {len(problems)} problems"), lang))
        sys.exit(EXIT_NONCOMPLIANT)
    click.echo(tr(T(f"审计日志完整：{count} 条", f"audit log intact: {count} entries"), lang))


@audit.command(name="show")
@db_option
@click.option("--host", help="只看这台主机 / one host only")
@click.option("--run", "run_id", help="只看这次修复运行 / one fix run only")
@last_option(None, "只显示最新 N 条 / show the newest N entries")
@click.option("--head", "head_only", is_flag=True, help="只显示最新条目的哈希 / only the newest hash")
@format_option(["table", "json"], "table")
def audit_show(db_url: str | None, host: str | None, run_id: str | None, last: int | None, head_only: bool,
               fmt: str) -> None:
    """显示审计日志 / show the audit log."""
    with Store.open(db_url) as store:
        log = AuditLog(store)
        if head_only:
            seq, digest = log.head()
            click.echo(f"{seq}:{digest}")
            return
        entries = log.entries(host=host, run_id=run_id, limit=last)
    if fmt == "json":  # reports_templates/audit-show.schema.json: as stored, plus the result in both languages
        echo_json([{**e.hashed_fields(), "hash": e.hash,
                    "result_text": {"zh": entry_result(e, "zh"), "en": entry_result(e, "en")}} for e in entries])
        return
    lang = lang_of()
    for e in entries:
        for line in render_entry(e, lang):
            click.echo(safe_terminal(line))


# --------------------------------------------------------------------------- rendering

#: The fixed English results fleetcheck itself writes (old entries hold only these words).
_KNOWN_RESULTS: Mapping[str, Text] = {
    "ok": T("成功", "ok"),
    "outcome unknown until the agent's answer is recorded": T("结果未知，等待记录代理的回答",
                                                              "outcome unknown until the agent's answer is recorded"),
    "the change is on the PC": T("修改已在 PC 上生效", "the change is on the PC"),
    "the change did not reach the PC": T("修改未到达 PC", "the change did not reach the PC"),
    "allowed": T("允许", "allowed"),
    "read-back differs": T("读回的状态与预期不同", "read-back differs"),
    "already installed": T("已安装", "already installed"),
    "pending: no operator logged on": T("待处理：没有操作员登录", "pending: no operator logged on"),
    "imported": T("已导入", "imported"),
    "old certificate removed (backup kept)": T("旧证书已删除（备份已保留）", "old certificate removed (backup kept)"),
}
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("verification failed: ", "验证失败："),
    ("verification: ", "验证："),
    ("pending: ", "待处理："),
)


def _text_of(value: Any) -> Text | None:
    """A stored ``{"zh": ..., "en": ...}`` as Text, else None."""
    if isinstance(value, Mapping) and isinstance(value.get("zh"), str) and isinstance(value.get("en"), str):
        return T(value["zh"], value["en"])
    return None


def entry_result(entry: AuditEntry, lang: Lang) -> str:
    """The entry's result in ``lang`` (see the module docstring for entries stored in English only)."""
    details = entry.details if isinstance(entry.details, Mapping) else {}
    stored = _text_of(details.get("result_text"))
    if stored is not None:
        return tr(stored, lang)
    reasons = [t for t in (_text_of(r) for r in details.get("reasons") or ()) if t is not None]
    if entry.event == "refused" and reasons:
        return ("；" if lang == "zh" else "; ").join(tr(r, lang) for r in reasons)
    known = _KNOWN_RESULTS.get(entry.result)
    if known is not None:
        return tr(known, lang)
    for english, chinese in _PREFIXES:
        if lang == "zh" and entry.result.startswith(english):
            return chinese + entry.result[len(english):]
    return entry.result


def _value(value: Any, lang: Lang) -> str:
    """A registry value as stored (``{"t": "DWORD", "v": 3}``) → ``3 (DWORD)``."""
    if isinstance(value, Mapping) and "t" in value and "v" in value:
        data = value["v"]
        shown = "; ".join(str(v) for v in data) if isinstance(data, list) else str(data)
        return f"{shown} ({value['t']})"
    if value is None:
        return "不存在" if lang == "zh" else "absent"
    return json.dumps(value, ensure_ascii=False)


def _file(info: Mapping[str, Any], lang: Lang) -> str:
    path = info.get("path", "")
    if info.get("exists") is False:
        return (f"文件 {path} 不存在" if lang == "zh" else f"file {path} absent").replace("  ", " ")
    digest = str(info.get("sha256") or "")[:12]
    return (f"文件 {path} sha256 {digest}…" if lang == "zh" else f"file {path} sha256 {digest}…").replace("  ", " ")


def render_state(state: Any, lang: Lang) -> str:
    """A before/after state as a person reads it; unknown shapes fall back to compact JSON."""
    zh = lang == "zh"
    if state is None:
        return "—"
    if not isinstance(state, Mapping):
        return json.dumps(state, ensure_ascii=False)
    parts: list[str] = []
    if state.get("absent"):
        parts.append("不存在" if zh else "absent")
    if "value" in state:
        parts.append(_value(state["value"], lang))
    if state.get("created_key"):
        parts.append(f"（键 {state['created_key']} 由修复创建）" if zh else f"(key {state['created_key']} created by the fix)")
    if "tree" in state:
        parts.append(("键树（已备份）" if zh else "key tree (backed up)") if state["tree"] is not None
                     else ("键不存在" if zh else "key absent"))
    if isinstance(state.get("file"), Mapping):
        parts.append(_file(state["file"], lang))
    if state.get("task"):
        parts.append(f"计划任务 {state['task']}" if zh else f"task {state['task']}")
    known = {"absent", "value", "created_key", "tree", "file", "task"}
    rest = {k: v for k, v in state.items() if k not in known}
    if rest or not parts:
        parts.append(json.dumps(rest or dict(state), ensure_ascii=False))
    return " ".join(parts)


def render_entry(entry: AuditEntry, lang: Lang) -> list[str]:
    """One entry's lines: seq, office time (zone named), who, host, event, action, check, result; then the states."""
    forced = " FORCED" if entry.forced else ""
    check = entry.details.get("check", "") if isinstance(entry.details, Mapping) else ""
    at = f"{office_time(entry.at)} ({office_zone().key})"
    head = [f"#{entry.seq}", at, entry.who, entry.host, entry.event + forced, entry.action_id or "-", str(check),
            entry_result(entry, lang)]
    lines = [" ".join(part for part in head if part)]
    if entry.before is not None or entry.after is not None:
        lines.append(f"     {render_state(entry.before, lang)} → {render_state(entry.after, lang)}")
    return lines
