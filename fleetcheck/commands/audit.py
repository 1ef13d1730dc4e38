"""``fleetcheck audit verify|show``: the tamper-evident audit log of every change.

``verify`` checks the hash chain and names edited or removed entries (exit 1
when any); ``show`` prints the entries (``--format json``: as stored, with
their hashes; ``--head``: only the newest hash, to keep elsewhere).
"""

from __future__ import annotations

import json
import sys

import click

from fleetcheck.commands.common import EXIT_NONCOMPLIANT, fail, lang_of
from fleetcheck.commands.options import db_option, format_option
from fleetcheck.i18n import T, tr
from fleetcheck.store import Store, StoreError
from fleetcheck.store.audit import AuditLog
from fleetcheck.termsafe import safe_terminal

__all__ = ["audit"]


def register(main: click.Group) -> None:
    main.add_command(audit)


def _open_store(db_url: str | None) -> Store:
    try:
        return Store.open(db_url)
    except StoreError as exc:
        fail(exc.text)


@click.group(name="audit")
def audit() -> None:
    """审计日志 / the audit log of every change."""


@audit.command(name="verify")
@db_option
@click.option("--expect-head", help="期望的最新条目哈希（外部留存）/ expected newest hash, kept elsewhere")
def audit_verify(db_url: str | None, expect_head: str | None) -> None:
    """校验哈希链，指出被修改或删除的条目 / check the hash chain; name edited or removed entries."""
    lang = lang_of()
    store = _open_store(db_url)
    try:
        log = AuditLog(store)
        problems = log.verify(expect_head)
        count = len(log.entries())
    except StoreError as exc:  # a damaged file found while reading it
        fail(exc.text)
    finally:
        store.close()
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
@click.option("--limit", type=click.IntRange(1, 1_000_000), help="最新 N 条 / newest N entries")
@click.option("--head", "head_only", is_flag=True, help="只显示最新条目的哈希 / only the newest hash")
@format_option(["table", "json"], "table")
def audit_show(db_url: str | None, host: str | None, run_id: str | None, limit: int | None, head_only: bool,
               fmt: str) -> None:
    """显示审计日志 / show the audit log."""
    store = _open_store(db_url)
    try:
        log = AuditLog(store)
        if head_only:
            seq, digest = log.head()
            click.echo(f"{seq}:{digest}")
            return
        entries = log.entries(host=host, run_id=run_id, limit=limit)
    except StoreError as exc:
        fail(exc.text)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps([{**e.hashed_fields(), "hash": e.hash} for e in entries], ensure_ascii=False, indent=1))
        return
    for e in entries:
        forced = " FORCED" if e.forced else ""
        check = (e.details or {}).get("check", "") if isinstance(e.details, dict) else ""
        click.echo(safe_terminal(f"#{e.seq} {e.at} {e.who} {e.host} {e.event}{forced} {e.action_id or '-'} {check} {e.result}"))
        if e.before is not None or e.after is not None:
            click.echo(safe_terminal(f"     {json.dumps(e.before, ensure_ascii=False)} → {json.dumps(e.after, ensure_ascii=False)}"))
