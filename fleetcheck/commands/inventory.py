"""``fleetcheck inventory check|list|import``: validate, show resolved, or build an inventory from a spreadsheet.

Exit codes: 0 fine, 2 the inventory or spreadsheet has problems.
"""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from pathlib import Path

import click

from fleetcheck.commands.common import EXIT_OK, EXIT_USAGE, fail, lang_of, say
from fleetcheck.commands.options import format_option, limit_option
from fleetcheck.i18n import T, tr
from fleetcheck.inventory import InventoryError, load_inventory, select_hosts
from fleetcheck.inventory.csvimport import (
    inventory_document,
    parse_spreadsheet,
    write_inventory_yaml,
)
from fleetcheck.inventory.listing import host_vars, inventory_list
from fleetcheck.inventory.load import load_inventory_deferring_credentials
from fleetcheck.jsonout import echo_json, text_json


@click.group(name="inventory")
def inventory() -> None:
    """清单：检查与导入 / inventory: check and import."""


@inventory.command(name="check")
@click.argument("path", type=click.Path(path_type=Path))
@limit_option
@format_option(("table", "json"), "table")
def check(path: Path, limit: str | None, fmt: str) -> None:
    """校验清单并统计主机与组 / validate an inventory, count hosts and groups."""
    lang = lang_of()
    try:
        inv = load_inventory(path)
        names, warnings = select_hosts(inv, limit)
    except InventoryError as exc:
        click.echo(exc.format(lang), err=True)
        fail(T(f"清单有 {len(exc.issues)} 个问题", f"the inventory has {len(exc.issues)} problem(s)"))
    groups = [g for g in inv.groups if g != "all"]
    auth = Counter(inv.hosts[n].auth + "/" + inv.hosts[n].effective_scheme for n in names)
    if fmt == "json":  # the warnings are in the document (stderr stays empty)
        echo_json({"inventory": str(path), "limit": limit, "hosts": list(names), "groups": groups,
                   "connections": dict(sorted(auth.items())),
                   "warnings": [text_json(w) for w in [*inv.warnings, *warnings]]})
        sys.exit(EXIT_OK)
    for warning in [*inv.warnings, *warnings]:
        say(warning, err=True)
    say(T(f"{path}：{len(names)} 台主机，{len(groups)} 个组（{'、'.join(groups) or '无'}）",
          f"{path}: {len(names)} hosts, {len(groups)} groups ({', '.join(groups) or 'none'})"))
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(auth.items()))
    say(T(f"连接方式：{kinds}", f"connections: {kinds}"))
    sys.exit(EXIT_OK)


def _dump(data: object, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=4)
    from ruamel.yaml import YAML  # only for --format yaml

    yaml = YAML(typ="safe", pure=True)
    yaml.allow_unicode = True
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue().rstrip("\n")


@inventory.command(name="list")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--host", "host", default=None, metavar="NAME",
              help="只显示这台主机的变量（同 ansible-inventory --host）/ only this host's variables (as ansible-inventory --host)")
@format_option(["json", "yaml"], "json")
def list_(path: Path, host: str | None, fmt: str) -> None:
    """显示解析后的主机、组与变量（密码已遮蔽），格式同 ansible-inventory --list
    / show the resolved hosts, groups and variables (passwords masked), shaped like ansible-inventory --list."""
    lang = lang_of()
    try:
        inv, unresolved = load_inventory_deferring_credentials(path)  # listing needs no password
    except InventoryError as exc:
        click.echo(exc.format(lang), err=True)
        fail(T(f"清单有 {len(exc.issues)} 个问题", f"the inventory has {len(exc.issues)} problem(s)"))
    for warning in inv.warnings:
        say(warning, err=True)
    shown: list[str] = []
    for found in unresolved.values():  # an unset {env:}/{keyring:}: listed without the password, said once
        for text in (i.format(lang) for i in found):
            if text not in shown:
                shown.append(text)
                click.echo(text, err=True)
    if host is None:
        click.echo(_dump(inventory_list(inv), fmt))
    elif host in inv.hosts:
        click.echo(_dump(host_vars(inv.hosts[host]), fmt))
    else:
        fail(T(f"清单中没有主机 {host}", f"no host {host} in the inventory"))
    sys.exit(EXIT_OK)


@inventory.command(name="import")
@click.argument("csv_path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="输出 YAML（默认打印）/ output YAML (default: print)")
@click.option("--skip-bad", is_flag=True, help="跳过有问题的行继续导入 / import the good rows, skip bad ones")
def import_(csv_path: Path, output: Path | None, skip_bad: bool) -> None:
    """从表格导出的 CSV（UTF-8 或 GBK）生成清单 / build an inventory from a spreadsheet CSV (UTF-8 or GBK)."""
    lang = lang_of()
    parsed = parse_spreadsheet(csv_path.read_bytes(), str(csv_path))  # a CsvImportError: every problem, exit 2
    for row in parsed.bad_rows:
        click.echo(tr(row, lang), err=True)
    if parsed.bad_rows and not skip_bad:
        fail(T(f"{len(parsed.bad_rows)} 行有问题，未写出清单；修正后重试，或加 --skip-bad",
               f"{len(parsed.bad_rows)} bad row(s); nothing written. Fix them, or use --skip-bad"), EXIT_USAGE)
    doc = inventory_document(parsed)
    if output is None:
        buffer = io.StringIO()
        write_inventory_yaml(doc, buffer)
        click.echo(buffer.getvalue(), nl=False)
    else:
        write_inventory_yaml(doc, output)
        say(T(f"已写出 {output}：{parsed.host_count} 台主机（编码 {parsed.encoding}）",
              f"wrote {output}: {parsed.host_count} hosts (encoding {parsed.encoding})"), err=True)
    sys.exit(EXIT_OK)
