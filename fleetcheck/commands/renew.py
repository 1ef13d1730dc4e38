"""``fleetcheck renew``: distribute renewed file certificates (PFX) into operators' Personal stores.

Dry run by default (validate, match, probe read-only, print the plan);
``--apply`` imports, verifies and records; ``--rollback RUN_ID`` undoes an
applied run (``--format json``: the rollback outcome as one document). See README "Renewing certificates / 证书更新" and
:mod:`fleetcheck.renew.apply` for the steps.

Exit codes: 0 everything planned / installed / already installed; 1 some PFX
refused, pending, refused by the guard or failed; 2 usage or configuration
error; 3 a target host could not be reached.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from fleetcheck.commands.common import (
    EXIT_USAGE,
    clock_of,
    fail,
    lang_of,
    load_targets,
    say,
    warn_calendar,
)
from fleetcheck.commands.options import (
    db_option,
    forks_option,
    format_option,
    inventory_option,
    limit_option,
    now_option,
    policy_option,
    timeout_option,
)
from fleetcheck.i18n import T, Text, tr
from fleetcheck.inventory import (
    Inventory,
)
from fleetcheck.jsonout import echo_json, iso_utc, text_json
from fleetcheck.policy.loader import load_policy_files, load_waivers
from fleetcheck.remediate.guard import (
    DEFAULT_TRADING_PROCESSES,
    Guard,
    TradingCalendar,
)
from fleetcheck.renew.apply import Renewal, RenewalOptions, RenewalOutcome, read_drop
from fleetcheck.renew.passwords import PfxPassword, load_password_file
from fleetcheck.renew.plan import STATE_LABELS, RenewalItem, exit_code, render_items
from fleetcheck.renew.records import RenewalLog
from fleetcheck.renew.rollback import RenewalRollback, rollback_renewal_run
from fleetcheck.renew.validate import load_ca_file
from fleetcheck.store import Store, StoreError
from fleetcheck.store.audit import local_user


def _guard(calendar_path: Path | None, processes: tuple[str, ...], now_text: str | None = None) -> Guard:
    calendar = TradingCalendar.load(calendar_path) if calendar_path is not None else TradingCalendar()
    guard = Guard(calendar, trading_processes=processes or DEFAULT_TRADING_PROCESSES, clock=clock_of(now_text))
    warn_calendar(guard)
    return guard


def _passwords(passwords_path: Path | None, ask: bool, stems: list[str]) -> dict[str, PfxPassword]:
    lang = lang_of()
    if passwords_path is not None and ask:
        fail(T("--passwords 与 --ask 只能选一个", "use either --passwords or --ask, not both"))
    if passwords_path is not None:
        found, warnings = load_password_file(passwords_path)
        for warning in warnings:
            click.echo(tr(warning, lang), err=True)
        return found
    if ask:
        prompted: dict[str, PfxPassword] = {}
        for stem in stems:
            value = click.prompt(tr(T(f"{stem}.pfx 的密码", f"password of {stem}.pfx"), lang), hide_input=True,
                                 err=True, default="", show_default=False)
            if value:
                prompted[stem] = PfxPassword(value)
        return prompted
    return {}


@dataclass(frozen=True)
class RenewRequest:
    """The options of ``fleetcheck renew``, as click parsed them."""

    drop_dir: Path | None
    passwords_path: Path | None
    ask: bool
    inventory_path: Path
    policy_paths: tuple[str, ...]
    limit: str | None
    do_apply: bool
    remove_old: bool
    force: bool
    issuer: str | None
    ca_files: tuple[Path, ...]
    calendar_path: Path | None
    trading_processes: tuple[str, ...]
    rollback_run: str | None
    db_url: str | None
    timeout_s: float
    forks: int
    ask_pass: bool
    now_text: str | None
    fmt: str = "text"
    waivers_path: Path | None = None


@click.command(name="renew")
@click.option("--drop", "drop_dir", type=click.Path(path_type=Path, file_okay=False),
              help="存放 <证书名>.pfx 的文件夹 / folder holding the renewed <CN>.pfx files")
@click.option("--passwords", "passwords_path", type=click.Path(path_type=Path, dir_okay=False),
              help="证书名 → 密码 的 YAML 文件 / YAML file mapping CN to password")
@click.option("--ask", is_flag=True, help="逐个提示输入 PFX 密码 / prompt for each PFX password")
@inventory_option
@policy_option
@limit_option
@click.option("--apply", "do_apply", is_flag=True, help="执行导入（默认只演练）/ import for real (default: dry run)")
@click.option("--remove-old", is_flag=True, help="验证后删除旧证书（有备份，可回滚）/ remove the old certificate after verification (backed up)")
@click.option("--force", is_flag=True, help="忽略交易时段与交易软件保护 / override the trading-hours and trading-client guard")
@click.option("--issuer", default=None, help="期望的颁发者（CN 或完整 DN）/ expected issuer (CN or full DN)")
@click.option("--ca-file", "ca_files", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="颁发 CA 的证书（PEM/DER），可重复：PFX 必须由其签名 / issuing CA certificate (PEM/DER), "
                   "repeatable: the PFX must carry its signature")
@click.option("--calendar", "calendar_path", type=click.Path(path_type=Path, dir_okay=False),
              help="交易日历 YAML / trading calendar YAML")
@click.option("--trading-process", "trading_processes", multiple=True,
              help="交易软件进程名，可重复（替换默认列表）/ trading client process name, repeatable (replaces the defaults)")
@click.option("--waivers", "waivers_path", type=click.Path(path_type=Path, dir_okay=False),
              help="豁免文件（与 scan/fix --waivers 相同）：证书检查被豁免的主机不导入 / "
                   "waivers file (as scan's): a host whose certificate check is waived is left alone")
@click.option("--rollback", "rollback_run", default=None, metavar="RUN_ID",
              help="回滚一次已执行的更新（RUN_ID 或 latest）/ undo an applied renewal run (RUN_ID or latest)")
@db_option
@timeout_option
@forks_option.variant(type=click.IntRange(1, 200), default=10)
@click.option("--ask-pass", is_flag=True, help="提示输入一次 WinRM 密码 / prompt once for the WinRM password")
@now_option
@format_option(("text", "json"), "text")
def renew(**given: Any) -> None:
    """导入更新后的文件证书（PFX）到操作员的个人证书存储 / import renewed file certificates into operators' stores."""
    req = RenewRequest(**given)
    inventory, names = load_targets(req.inventory_path, req.limit, ask_pass=req.ask_pass)
    policies = load_policy_files(req.policy_paths)
    guard = _guard(req.calendar_path, req.trading_processes, req.now_text)
    if req.rollback_run is not None:
        sys.exit(_rollback(req.rollback_run, req.db_url, inventory, policies, guard=guard, force=req.force,
                           timeout_s=req.timeout_s, as_json=req.fmt == "json"))
    if req.drop_dir is None:
        fail(T("需要 --drop 文件夹（或 --rollback RUN_ID）", "--drop FOLDER is required (or --rollback RUN_ID)"))
    files = read_drop(req.drop_dir)
    waivers = tuple(load_waivers(req.waivers_path, policies)) if req.waivers_path else ()  # WaiverError: cli.main
    trusted_cas = _trusted_cas(req.ca_files)
    passwords = _passwords(req.passwords_path, req.ask, [f.stem for f in files])
    store = _store_for(req.db_url, req.do_apply)
    try:
        options = RenewalOptions(apply=req.do_apply, remove_old=req.remove_old, force=req.force, issuer=req.issuer,
                                 trusted_cas=tuple(trusted_cas), timeout_s=req.timeout_s, forks=req.forks,
                                 who=local_user(), waivers=waivers)
        outcome = Renewal(inventory, names, policies, store=store, guard=guard, options=options).run(files, passwords)
    finally:
        if store is not None:
            store.close()
    _show(req, outcome)
    sys.exit(exit_code(outcome.items))


def _show(req: RenewRequest, outcome: RenewalOutcome) -> None:
    """The outcome on the console: text lines, or (``--format json``) one document on stdout and notes on stderr."""
    as_json = req.fmt == "json"
    if outcome.pending_before:
        say(T(f"上次待处理的更新 {len(outcome.pending_before)} 个，本次重试", f"{len(outcome.pending_before)} pending renewal(s) from earlier runs retried"),
            err=as_json)
    for record in outcome.pending_missing:
        say(T(f"提示：待处理的 {record.cn}（{record.host}）的 PFX 已不在 {req.drop_dir} 中",
              f"note: the PFX of pending {record.cn} ({record.host}) is no longer in {req.drop_dir}"), err=True)
    if as_json:
        echo_json(renew_json(outcome, applied=req.do_apply))
        return
    click.echo("\n".join(render_items(outcome.items, lang_of(), applied=req.do_apply)))
    if req.do_apply:
        say(T(f"记录编号：{outcome.run_id}（回滚：fleetcheck renew -i … --rollback {outcome.run_id}）",
              f"run id: {outcome.run_id} (undo: fleetcheck renew -i … --rollback {outcome.run_id})"))


def _item_json(item: RenewalItem) -> dict[str, object]:
    old, pfx = item.installed, item.pfx
    return {
        "file_name": item.file_name, "cn": item.cn, "host": item.host, "operator": item.operator,
        "state": item.state.value, "state_label": text_json(STATE_LABELS[item.state]),
        "reasons": [{"code": r.code, "text": text_json(r.reason)} for r in item.reasons],
        "notes": [text_json(n) for n in item.notes],
        "old_thumbprint": old.thumbprint if old else None,
        "old_not_after": iso_utc(old.not_after) if old else None,
        "new_thumbprint": pfx.thumbprint if pfx else None,
        "new_not_after": iso_utc(pfx.not_after) if pfx else None,
        "was_pending": item.was_pending, "unreachable": item.unreachable, "forced": item.forced,
        "removed_old": item.removed_old,
    }


def renew_json(outcome: RenewalOutcome, *, applied: bool) -> dict[str, object]:
    """The ``--format json`` document (``reports_templates/renew.schema.json``); a dry run has no run id."""
    items = sorted(outcome.items, key=lambda i: (i.host or "~", i.file_name))
    return {"applied": applied, "run_id": outcome.run_id if applied else None,
            "pending_retried": len(outcome.pending_before), "items": [_item_json(i) for i in items]}


def _trusted_cas(ca_files: tuple[Path, ...]) -> list[Any]:
    trusted: list[Any] = []
    for ca_file in ca_files:
        try:
            trusted += load_ca_file(ca_file)
        except (OSError, ValueError) as exc:
            fail(T(f"无法读取 CA 证书 {ca_file}：{exc}", f"cannot read the CA certificate {ca_file}: {exc}"))
    return trusted


def _store_for(db_url: str | None, do_apply: bool) -> Store | None:
    """The history store; a dry run goes on without one (said once), ``--apply`` needs it (records, rollback)."""
    try:
        return Store.open(db_url)
    except StoreError as exc:
        if do_apply:
            fail(T(f"--apply 需要历史数据库（记录与回滚）：{exc.text.zh}",
                   f"--apply needs the history database (records and rollback): {exc.text.en}"))
        click.echo(tr(exc.text, lang_of()), err=True)
        return None


ROLLBACK_STATES: dict[str, Text] = {
    "rolled_back": T("已回滚", "rolled back"),
    "failed": T("部分或全部恢复失败", "some restore failed"),
    "already_rolled_back": T("此前已回滚，没有可再回滚的内容", "already rolled back: nothing left to undo"),
    "nothing_imported": T("该次更新没有导入任何证书", "the run imported no certificate"),
    "not_a_renewal_run": T("不是证书更新记录", "not a renewal run"),
}


def _rollback_state(outcome: RenewalRollback | None) -> str:
    if outcome is None:
        return "not_a_renewal_run"
    if outcome.results:
        return "rolled_back" if all(r.ok for r in outcome.results) else "failed"
    return "already_rolled_back" if outcome.already_rolled_back_at else "nothing_imported"


def _stored_time(value: str | None) -> str | None:
    """A stored ISO 8601 UTC text, normalised to the JSON outputs' form (with its offset)."""
    return iso_utc(datetime.fromisoformat(value)) if value else None


def rollback_json(run_id: str, outcome: RenewalRollback | None) -> dict[str, object]:
    """The ``renew --rollback --format json`` document (``reports_templates/renew-rollback.schema.json``)."""
    state = _rollback_state(outcome)
    return {
        "run_id": run_id, "state": state, "state_label": text_json(ROLLBACK_STATES[state]),
        "already_rolled_back_at": _stored_time(outcome.already_rolled_back_at) if outcome is not None else None,
        "items": [{"host": r.record.host, "cn": r.record.cn, "file_name": r.record.file_name, "ok": r.ok,
                   "message": text_json(r.message), "new_thumbprint": r.record.new_thumbprint,
                   "old_thumbprint": r.record.old_thumbprint, "removed_old": r.record.removed_old}
                  for r in (outcome.results if outcome is not None else ())],
    }


def _rollback(run_id: str, db_url: str | None, inventory: Inventory, policies: list[Any], *, guard: Guard,
              force: bool, timeout_s: float, as_json: bool = False) -> int:
    with Store.open(db_url) as store:
        if run_id == "latest":
            found = RenewalLog(store).latest_run_id()
            if found is None:
                fail(T("没有可回滚的证书更新记录", "no applied renewal to roll back"))
            run_id = found
        outcome = rollback_renewal_run(store, run_id, inventory, timeout_s, policies=policies, guard=guard,
                                       force=force)
    if as_json:
        echo_json(rollback_json(run_id, outcome))
        return EXIT_USAGE if outcome is None else outcome.exit_code
    if outcome is None:
        say(T(f"{run_id} 中没有可回滚的证书导入", f"nothing to roll back in {run_id}"))
        return EXIT_USAGE
    for line in outcome.lines():
        say(line)
    return outcome.exit_code
