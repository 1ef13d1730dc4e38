"""``fleetcheck selftest``: check the agent against a real PC (see fleetcheck.selftest)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from fleetcheck.commands.common import (
    EXIT_NONCOMPLIANT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    fail,
    lang_of,
    load_targets,
)
from fleetcheck.commands.options import format_option, inventory_option, timeout_option
from fleetcheck.i18n import T, Text, tr
from fleetcheck.jsonout import echo_json, text_json
from fleetcheck.selftest import SelftestItem, run_selftest
from fleetcheck.transport import Deadline, TransportError, probe_host


@click.command(name="selftest")
@click.argument("host")
@inventory_option
@click.option("--write", is_flag=True,
              help="同时做写入往返测试（临时键 HKLM\\SOFTWARE\\fleetcheck\\selftest，测完删除）/ "
                   "also run write round trips under a scratch key, removed afterwards")
@click.option("--cert", is_flag=True,
              help="同时（需 --write）向已登录操作员的个人证书存储导入一张临时自签名证书，看 Windows 把它放在哪里，"
                   "然后删除 / also (with --write) import a throw-away self-signed certificate into the logged-on "
                   "operator's Personal store, see where Windows puts it, then remove it")
@timeout_option.variant(type=click.FloatRange(5, 600), default=120,
                        help="每次往返的时限（秒）/ deadline per round trip, seconds")
@format_option(["text", "json"], "text")
def selftest(host: str, inventory_path: Path, write: bool, cert: bool, timeout_s: float, fmt: str) -> None:
    """在一台真实 PC 上检验代理脚本 / hold the agent to its contract on one real PC.

    Run it once on the first PC of each kind (Windows 7/10/11, 32/64-bit)
    before trusting sweeps of the rest. Exit 0 when every item passes, 1 when
    some fails, 3 when the host cannot be reached. ``--format json``: each
    item and the counts (schema ``reports_templates/selftest.schema.json``).
    """
    lang = lang_of()
    if cert and not write:
        fail(T("--cert 需要同时给出 --write", "--cert needs --write"))
    inventory, names = load_targets(inventory_path, host)
    if len(names) != 1:
        fail(T(f"selftest 需要正好一台主机，{host!r} 匹配了 {len(names)} 台",
               f"selftest needs exactly one host; {host!r} matches {len(names)}"))
    spec = inventory.hosts[names[0]]
    try:
        items = run_selftest(
            lambda request: probe_host(spec, request, Deadline.after(timeout_s)), write=write, cert=cert
        )
    except TransportError as exc:
        if fmt == "json":
            echo_json(selftest_json(names[0], [], exc.text))
        click.echo(tr(exc.text, lang), err=True)
        sys.exit(EXIT_UNREACHABLE)
    if fmt == "json":
        document = selftest_json(names[0], items, None)
        echo_json(document)
        sys.exit(document["exit_code"])
    for item in items:
        mark = "–" if item.skipped else "✓" if item.ok else "✗"
        click.echo(f"{mark} {tr(item.name, lang)}: {tr(item.detail, lang)}")
    judged = [item for item in items if not item.skipped]
    failed = sum(not item.ok for item in judged)
    summary = T(f"{len(judged) - failed}/{len(judged)} 项通过", f"{len(judged) - failed}/{len(judged)} items passed")
    skipped = len(items) - len(judged)
    if skipped:
        summary = T(f"{summary.zh}，{skipped} 项无法观察", f"{summary.en}, {skipped} not observable")
    click.echo(tr(summary, lang))
    sys.exit(EXIT_NONCOMPLIANT if failed else EXIT_OK)


def selftest_json(host: str, items: list[SelftestItem], error: Text | None) -> dict[str, Any]:
    """``selftest --format json``: each item (pass, fail or not observable) and the counts; ``error``: unreachable."""
    judged = [item for item in items if not item.skipped]
    failed = sum(not item.ok for item in judged)
    code = EXIT_UNREACHABLE if error is not None else EXIT_NONCOMPLIANT if failed else EXIT_OK
    return {
        "host": host,
        "exit_code": code,
        "error": text_json(error) if error is not None else None,
        "passed": len(judged) - failed,
        "failed": failed,
        "not_observable": len(items) - len(judged),
        "items": [{"name": text_json(item.name),
                   "status": "not_observable" if item.skipped else "pass" if item.ok else "fail",
                   "detail": text_json(item.detail)} for item in items],
    }
