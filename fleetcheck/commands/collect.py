"""``fleetcheck collect``: local collection where WinRM is not allowed.

``collect script --out DIR [-p POLICY]`` writes the kit (``collect.cmd`` +
``collect.ps1``: the agent and the compiled request). ``collect import DIR…
[-i INV] [--db] [--out DIR]`` reads the answer files back into one run, writes
``results.json`` and ``report.html`` and records the run, as ``scan`` does.

Exit codes as ``scan``: 0 every imported host compliant, 1 some host
non-compliant, 2 usage error, 3 some file refused (a PC that could not be
read; 3 wins over 1, as in ``scan``). Inventory hosts without an answer file
are listed, not counted.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from fleetcheck.collect import (
    ImportOutcome,
    ImportSettings,
    answer_files,
    import_answers,
    policy_evaluator,
    write_kit,
)
from fleetcheck.commands.common import fail, lang_of, say
from fleetcheck.commands.options import db_option, format_option, inventory_option, policy_option
from fleetcheck.commands.scan import DEFAULT_OUT, publish
from fleetcheck.errors import EXIT_UNREACHABLE
from fleetcheck.evaluate import compile_request
from fleetcheck.i18n import T, tr
from fleetcheck.inventory import Inventory
from fleetcheck.inventory.load import load_inventory_deferring_credentials
from fleetcheck.policy.loader import load_policy_files, load_waivers
from fleetcheck.report.results import write_results
from fleetcheck.report.summary import (
    certificate_thresholds,
    render_summary,
    summarize,
    summary_json,
)
from fleetcheck.store import Store

DEFAULT_KIT_OUT = "fleetcheck-collect"


@click.group(name="collect")
def collect() -> None:
    """本地采集（不允许 WinRM 的电脑）/ local collection on PCs where WinRM is not allowed."""


@collect.command(name="script")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path(DEFAULT_KIT_OUT),
              show_default=True, help="采集工具写入的目录 / folder to write the kit into")
@policy_option
def script_cmd(out_dir: Path, policy_paths: tuple[str, ...]) -> None:
    """写出采集工具 collect.cmd + collect.ps1 / write the collection kit."""
    policies = load_policy_files(policy_paths)
    try:
        files = write_kit(out_dir, compile_request(policies))
    except OSError as exc:
        fail(T(f"无法写入 {out_dir}：{exc.strerror}", f"cannot write {out_dir}: {exc.strerror}"))
    say(T(f"已写出采集工具：{files.wrapper}、{files.script}", f"collection kit written: {files.wrapper}, {files.script}"))
    say(T("在每台电脑上以登录用户身份运行 collect.cmd（可加输出文件夹或共享，如 \\\\server\\share）；"
          "它只读取、不更改任何设置，写出 <计算机名>-<时间>.json。"
          "收回文件后运行：fleetcheck collect import 文件夹 -i 清单",
          "Run collect.cmd on each PC (optionally with an output folder or share, e.g. \\\\server\\share); "
          "it only reads, changes nothing, and writes <COMPUTERNAME>-<time>.json. "
          "Bring the files back and run: fleetcheck collect import FOLDER -i INVENTORY"))


@dataclass(frozen=True)
class ImportOptions:
    """The options of ``collect import``, as click parsed them."""

    folders: tuple[Path, ...]
    inventory_path: Path | None
    policy_paths: tuple[str, ...]
    waivers_path: str | None
    out_dir: Path
    fmt: str
    db_url: str | None


def _inventory(path: Path | None) -> Inventory | None:
    """The inventory (passwords are not needed: nothing is contacted); None without ``-i``."""
    if path is None:
        return None
    inventory, _credentials = load_inventory_deferring_credentials(path)
    for text in inventory.warnings:
        say(text, err=True)
    return inventory


def _tell(outcome: ImportOutcome) -> None:
    """Refused, superseded, unlisted and missing PCs, each by name (stderr)."""
    for refusal in outcome.refused:
        say(refusal.text, err=True)
    for path in outcome.superseded:
        say(T(f"{path.name}：同一台电脑有更新的答案文件，已忽略", f"{path.name}: ignored, the same PC has a newer answer"),
            err=True)
    if outcome.unlisted:
        names = ", ".join(outcome.unlisted)
        say(T(f"清单中没有的电脑（按其计算机名记录）：{names}", f"PCs not in the inventory (recorded by their own name): {names}"),
            err=True)
    if outcome.missing:
        names = ", ".join(outcome.missing[:20]) + (" …" if len(outcome.missing) > 20 else "")
        say(T(f"清单中 {len(outcome.missing)} 台主机没有答案文件：{names}",
              f"{len(outcome.missing)} inventory hosts have no answer file: {names}"), err=True)


@collect.command(name="import")
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@inventory_option.variant(required=False, default=None,
                          help="清单文件（按计算机名对应主机）/ inventory file (hosts matched by computer name)")
@policy_option
@click.option("--waivers", "waivers_path", type=click.Path(), help="豁免文件 / waivers file")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path(DEFAULT_OUT), show_default=True,
              help="结果目录 / output folder")
@format_option(["table", "json"], "table")
@db_option
def import_cmd(**given: Any) -> None:
    """导入采集工具写出的答案文件 / import the kit's answer files as one run."""
    options = ImportOptions(**given)
    lang = lang_of()
    started = time.monotonic()
    inventory = _inventory(options.inventory_path)
    policies = load_policy_files(options.policy_paths)
    waivers = load_waivers(options.waivers_path, policies) if options.waivers_path else []
    Store.open(options.db_url).close()  # a wrong --db is a usage error before any file is read
    settings = ImportSettings(hosts=inventory.hosts if inventory else {},
                              inventory=inventory.source if inventory else None,
                              policies=[getattr(p, "id", str(p)) for p in policies])
    outcome = import_answers(answer_files(options.folders), policy_evaluator(policies, waivers), settings)
    _tell(outcome)
    if not outcome.run.hosts:
        fail(T("没有可导入的答案文件", "no answer file to import"))
    try:
        results_path = write_results(outcome.run, options.out_dir)
    except OSError as exc:
        fail(T(f"无法写入输出目录 {options.out_dir}：{exc.strerror}",
               f"cannot write the output folder {options.out_dir}: {exc.strerror}"))
    run = outcome.run.model_copy(update={"scope": "collect", "hosts_planned": len(outcome.run.hosts)})
    extra = publish(run, options.out_dir, options.db_url, lang, waivers or None).files
    summary = summarize(outcome.run, len(outcome.run.hosts), certificate_thresholds(policies))
    imported = sum(1 for h in outcome.run.hosts if h.local_collection is not None)
    if options.fmt != "json":
        say(T(f"本地采集：导入 {imported} 台电脑的答案文件，拒绝 {len(outcome.refused)} 个文件",
              f"local collection: answers of {imported} PCs imported, {len(outcome.refused)} files refused"))
    if options.fmt == "json":
        click.echo(summary_json(summary, results_path, outcome.run))
    else:
        click.echo(render_summary(summary, lang, time.monotonic() - started))
        click.echo(tr(T("  结果文件：", "  results: "), lang) + ", ".join(str(p) for p in [results_path, *extra]))
    # A refused file is a PC that could not be read, even when another file of it imported.
    sys.exit(EXIT_UNREACHABLE if outcome.refused else summary.exit_code)


__all__ = ["collect"]
