"""``fleetcheck demo``: start a simulated office (about 40 PCs) on loopback and sweep it.

The office runs from :mod:`fleetcheck.sim` in a temporary folder (removed after,
also on Ctrl-C or SIGTERM); the sweep is ``scan``'s (:func:`fleetcheck.commands.scan.run_sweep`),
its results and history store under ``--out`` so the demo keeps out of the real history.
Exit codes as ``scan``.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from fleetcheck.commands.common import fail, lang_of
from fleetcheck.commands.options import db_option, forks_option
from fleetcheck.commands.scan import SweepSettings, run_sweep
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.inventory import PasswordSources, load_inventory
from fleetcheck.policy.loader import load_policy_files
from fleetcheck.runner import DEFAULT_TIMEOUT_S

__all__ = ["DEMO_OUT", "demo", "demo_office_path", "next_steps"]

DEMO_OUT = "fleetcheck-demo"


def demo_office_path() -> Path:
    import fleetcheck.sim

    return Path(fleetcheck.sim.__file__).resolve().parent / "offices" / "demo.yaml"


@click.command(name="demo")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path(DEMO_OUT), show_default=True,
              help="结果目录 / output folder")
@click.option("--keep-running", is_flag=True,
              help="扫描后继续运行模拟办公室，直到 Ctrl-C / keep the simulated office up until Ctrl-C")
@click.option("--inventory-out", type=click.Path(path_type=Path),
              help="与 --keep-running 一起：写出办公室清单 / with --keep-running: write the office inventory here")
@forks_option
@db_option.variant(envvar=None,  # the demo keeps out of the real history: FLEETCHECK_DB does not apply
                   help="历史库；默认 DIR/fleetcheck.db（演示不写入你的正式历史库）/ "
                        "history store; default DIR/fleetcheck.db (the demo keeps out of your real history)")
@click.option("--first-address", default=None, metavar="127.0.x.y",
              help="模拟 PC 的起始回环地址（默认 127.0.1.1）/ first loopback address of the simulated PCs")
def demo(out_dir: Path, keep_running: bool, inventory_out: Path | None, forks: int, db_url: str | None,
         first_address: str | None) -> None:
    """启动模拟办公室（约 40 台 PC）并扫描 / start a simulated office (~40 PCs) and sweep it."""
    from fleetcheck.sim.office import start_office

    lang = lang_of()
    if inventory_out is not None and not keep_running:
        fail(T("--inventory-out 需要与 --keep-running 一起使用", "--inventory-out needs --keep-running"))
    # SIGTERM (systemd, kill, a closing terminal's supervisor) stops the demo like Ctrl-C, so the
    # office is shut down and its temporary folder (the simulated CA's private key) removed.
    with _sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="fleetcheck-demo-") as state:
        click.echo(tr(T("正在启动模拟办公室…", "starting the simulated office…"), lang), err=True)
        try:
            # The office's certificates are made relative to today, like a real office's.
            running = start_office(demo_office_path(), Path(state), now=datetime.now(timezone.utc),
                                   first_address=first_address)
        except OSError as exc:
            fail(T(f"无法监听模拟地址（{exc.strerror or exc}）：是否已有演示或模拟器在运行？"
                   "先停止它，或用 --first-address 换一段地址（如 127.0.2.1）",
                   f"cannot listen on the simulated addresses ({exc.strerror or exc}): is another demo or "
                   "simulator running? Stop it, or pick another range with --first-address (e.g. 127.0.2.1)"))
        with running as office:
            # The office's inventory goes beside the results (or where --inventory-out says),
            # so the report's `fleetcheck fix HOST -i …` commands name a file that exists.
            inventory_path = inventory_out or out_dir / "inventory.yaml"
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
                office.write_inventory(inventory_path)
            except OSError as exc:
                fail(T(f"无法写入清单 {inventory_path}：{exc.strerror}",
                       f"cannot write the inventory {inventory_path}: {exc.strerror}"))
            inventory = load_inventory(inventory_path, PasswordSources(literal_ok=True))
            policies = load_policy_files(())
            settings = SweepSettings(forks=forks, timeout_s=DEFAULT_TIMEOUT_S, out_dir=out_dir, fmt="table",
                                     db_url=db_url or str(out_dir.resolve() / "fleetcheck.db"))
            code = run_sweep(inventory, list(inventory.hosts), policies, [], settings)
            click.echo(tr(next_steps(out_dir, inventory_path, db_url, keep_running=keep_running), lang))
            if keep_running:
                _serve_until_interrupted(office, inventory_path, lang)
    sys.exit(code)


def next_steps(out_dir: Path, inventory: Path, db_url: str | None, *, keep_running: bool) -> Text:
    """What the demo wrote and what to try next: 4–5 commands, every one on the demo's own database.

    >>> print(next_steps(Path("fleetcheck-demo"), Path("fleetcheck-demo/inventory.yaml"), None,
    ...                  keep_running=False).en)
    The demo wrote:
      report     fleetcheck-demo/report.html
      inventory  fleetcheck-demo/inventory.yaml
      database   fleetcheck-demo/fleetcheck.db
    Try next (all on this database, so history, the dashboard and fix agree):
      fleetcheck certs --db fleetcheck-demo/fleetcheck.db
      fleetcheck history --db fleetcheck-demo/fleetcheck.db
      fleetcheck demo --keep-running --out fleetcheck-demo --db fleetcheck-demo/fleetcheck.db    # keep the office up; then, in another shell:
      fleetcheck fix --limit all -i fleetcheck-demo/inventory.yaml --db fleetcheck-demo/fleetcheck.db    # dry run
      fleetcheck serve -i fleetcheck-demo/inventory.yaml --db fleetcheck-demo/fleetcheck.db    # the dashboard
    """
    db_shown = db_url or str(out_dir / "fleetcheck.db")
    db, inv = shlex.quote(db_shown), shlex.quote(str(inventory))
    again = f"fleetcheck demo --keep-running --out {shlex.quote(str(out_dir))} --db {db}"
    certs, history = f"fleetcheck certs --db {db}", f"fleetcheck history --db {db}"
    fix, serve = f"fleetcheck fix --limit all -i {inv} --db {db}", f"fleetcheck serve -i {inv} --db {db}"
    zh_again = "" if keep_running else f"  {again}    # 让模拟办公室保持运行；然后在另一个终端：\n"
    en_again = "" if keep_running else f"  {again}    # keep the office up; then, in another shell:\n"
    return T(
        f"演示写出了：\n  报告    {out_dir / 'report.html'}\n  清单    {inventory}\n  历史库  {db_shown}\n"
        "接下来可以试试（都用这个历史库，历史、仪表盘和修复结果才一致）：\n"
        f"  {certs}\n  {history}\n{zh_again}  {fix}    # 演练：会改动哪些 PC\n  {serve}    # 仪表盘",
        f"The demo wrote:\n  report     {out_dir / 'report.html'}\n  inventory  {inventory}\n  database   {db_shown}\n"
        "Try next (all on this database, so history, the dashboard and fix agree):\n"
        f"  {certs}\n  {history}\n{en_again}  {fix}    # dry run\n  {serve}    # the dashboard")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (main thread only); restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve_until_interrupted(office: Any, inventory_out: Path, lang: Lang, max_hours: float = 24.0) -> None:
    office.write_inventory(inventory_out)
    click.echo(tr(T(f"模拟办公室运行中；清单：{inventory_out}\n  试试：fleetcheck scan -i {inventory_out}\n  按 Ctrl-C 停止",
                    f"the simulated office is running; inventory: {inventory_out}\n"
                    f"  try: fleetcheck scan -i {inventory_out}\n  press Ctrl-C to stop"), lang))
    deadline = time.monotonic() + max_hours * 3600
    try:
        while time.monotonic() < deadline:
            time.sleep(1.0)
    except KeyboardInterrupt:
        click.echo(tr(T("正在停止模拟办公室…", "stopping the simulated office…"), lang), err=True)
