"""``fleetcheck scan``: sweep an office, summarise, write results (``demo`` sweeps a simulated one).

Exit codes: 0 every host compliant, 1 some host non-compliant, 2 usage or
configuration error, 3 some hosts could not be probed (or the sweep was
interrupted before every host was swept). 3 wins over 1: a sweep with holes
is not a compliance verdict.

Files (``--out DIR``, default ``./fleetcheck-out``): ``hosts.jsonl`` grows by
one line per host as each finishes (survives a crash or Ctrl-C);
``results.json`` is the full :class:`RunResult` (facts, findings, host
errors), written at the end, also after Ctrl-C. Neither ever holds a password:
hosts carry only masked secrets and errors are built without them.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

import click

from fleetcheck.commands.common import fail, lang_of, load_targets, say
from fleetcheck.commands.options import (
    db_option,
    forks_option,
    format_option,
    inventory_option,
    limit_option,
    policy_option,
    timeout_option,
)
from fleetcheck.errors import FleetcheckError
from fleetcheck.findings import HostResult, HostStatus, RunResult
from fleetcheck.heap import frozen_heap
from fleetcheck.i18n import Lang, T, tr
from fleetcheck.inventory import HostSpec, Inventory
from fleetcheck.logsetup import is_quiet, log_text
from fleetcheck.policy.loader import load_policy_files
from fleetcheck.report.results import HostLog, write_results
from fleetcheck.report.summary import (
    ScanSummary,
    certificate_thresholds,
    render_summary,
    summarize,
    summary_json,
)
from fleetcheck.runner import SweepOutcome, policy_sweep
from fleetcheck.transport import auth_unavailable

if TYPE_CHECKING:
    from fleetcheck.notify import NotifyConfig

DEFAULT_OUT = "fleetcheck-out"

log = logging.getLogger(__name__)


class Published(NamedTuple):
    """What :func:`publish` wrote, and the office state after and before the run (for --notify)."""

    files: list[Path]
    office: RunResult | None  # the office state after the run (None: it could not be recorded)
    office_before: RunResult | None  # ... before it (None: the office's first run, or not recorded)


def publish(run: RunResult, out_dir: Path, db_url: str | None, lang: Lang,
            waivers: Sequence[Any] | None = None, *, names: Collection[str] | None = None,
            compare: bool = False) -> Published:
    """Record the run in the history store and write ``out_dir/report.html`` of the office state
    (``names``: the inventory's PCs; ``waivers``: the report's waivers section).

    Returns the files written and the office state after the run and, with
    ``compare`` (--notify: "what changed" across the office, whatever the run's
    scope), before it.
    Never fatal: results.json is already safe on disk, so a store or report
    failure is printed once and the sweep's exit code stands.
    """
    from fleetcheck.report.publish import record_and_report

    try:
        paths = record_and_report(run, out_dir, db_url=db_url, lang=lang, waivers=waivers, names=names,
                                  compare=compare)
    except FleetcheckError as exc:
        click.echo(tr(T("生成报告失败：", "writing the report failed: "), lang) + exc.format(lang), err=True)
        return Published([], None, None)
    except OSError as exc:
        click.echo(tr(T(f"生成报告失败：无法写入 {out_dir}（{exc.strerror}）",
                        f"writing the report failed: cannot write {out_dir} ({exc.strerror})"), lang), err=True)
        return Published([], None, None)
    except Exception:  # a report bug must not lose the sweep: results.json is already on disk
        log.exception("writing the report of %s failed", run.run_id)  # the details go to the log, not the user
        click.echo(tr(T(f"生成报告失败（内部错误）；结果已保存在 {out_dir / 'results.json'}，"
                        f"可用 fleetcheck report --results 重新生成",
                        f"writing the report failed (an internal error); the results are saved in "
                        f"{out_dir / 'results.json'}: fleetcheck report --results writes it again"), lang), err=True)
        return Published([], None, None)
    if paths.store_error is not None:
        click.echo(tr(T("未能写入历史库：", "could not record the run in the history store: "), lang)
                   + tr(paths.store_error, lang), err=True)
    return Published([paths.html], paths.office, paths.office_before)


def scoped(run: RunResult, planned: int, office_size: int, interrupted: bool) -> RunResult:
    """``run`` marked with what it set out to see: the whole inventory ("office") or a ``--limit``
    subset, how many hosts, and whether it stopped early (the store's office state reads these)."""
    return run.model_copy(update={"scope": "office" if planned >= office_size else "limit",
                                  "hosts_planned": planned, "interrupted": interrupted})


def _check_store(db_url: str | None) -> None:
    """Open the history store once before the sweep: a wrong ``--db`` is a usage
    error (exit 2) found in a second, not a note after every host was probed."""
    from fleetcheck.store import Store

    Store.open(db_url).close()  # a StoreError: the CLI root prints it, exit 2


# --------------------------------------------------------------------------- progress


class SweepProgress:
    """A rich progress bar (done / failed / ETA) on a terminal; plain lines otherwise.

    Quiet (``-q``): no bar, and a line only for a host that could not be probed (an error).
    """

    def __init__(self, total: int, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._bar: Any = None
        if self.stream.isatty() and not quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("✗ {task.fields[failed]}"), TimeRemainingColumn(),
                                 console=Console(file=self.stream), transient=True)
            self._task = self._bar.add_task("扫描" if lang_of() == "zh" else "sweep", total=total, failed=0)
            self._bar.start()

    def update(self, result: HostResult) -> None:
        self.done += 1
        if result.status is not HostStatus.ok:
            self.failed += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self.failed)
            return
        if self.quiet and result.status is HostStatus.ok:
            return
        lang = lang_of()
        state = result.status.value if result.status is not HostStatus.ok else (
            "compliant" if result.compliant else "non-compliant")
        took = ""
        if result.started and result.finished:
            took = f" {(result.finished - result.started).total_seconds():.1f}s"
        line = f"[{self.done}/{self.total}] {result.host} {state}{took}"
        if result.error is not None:
            line += f": {tr(result.error, lang)}"
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# --------------------------------------------------------------------------- the sweep itself


@dataclass(frozen=True)
class SweepSettings:
    """How ``scan`` (and ``demo``) sweep: concurrency, deadline, where the files go, what is printed."""

    forks: int
    timeout_s: float
    out_dir: Path
    fmt: str = "table"
    notify: NotifyConfig | None = None
    db_url: str | None = None
    progress_stream: TextIO | None = None
    broker_url: str | None = None  # --executor celery: the jobs go to workers through this broker


def _warn_missing_auth_extras(hosts: Sequence[HostSpec]) -> None:
    """A missing auth extra is the affected hosts' ConfigurationError (the transport says so per
    host); the other hosts are swept. Said once up front so the cause is plain (not under -q:
    the hosts' own errors say it)."""
    if is_quiet():
        return
    for missing_extra in sorted({e for h in hosts if (e := auth_unavailable(h.auth))}):
        affected = sum(1 for h in hosts if auth_unavailable(h.auth) == missing_extra)
        say(T(f"警告：清单要求 {missing_extra} 认证，但未安装（pip install 'fleetcheck[{missing_extra}]'）："
              f"{affected} 台主机将记为 ConfigurationError，其余主机照常扫描",
              f"warning: the inventory asks for {missing_extra} authentication, which is not installed "
              f"(pip install 'fleetcheck[{missing_extra}]'): {affected} host(s) get a ConfigurationError, "
              "the others are swept"), err=True)


def _host_log(out_dir: Path) -> HostLog:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return HostLog(out_dir)
    except OSError as exc:
        fail(T(f"无法写入输出目录 {out_dir}：{exc.strerror}", f"cannot write the output folder {out_dir}: {exc.strerror}"))


def _sweep(inventory: Inventory, hosts: list[HostSpec], policies: Sequence[Any], waivers: Sequence[Any],
           settings: SweepSettings) -> tuple[SweepOutcome, Path, float]:
    """Probe every host (a line per host to hosts.jsonl as it finishes); the outcome, the log, seconds taken."""
    lang = lang_of()
    log = _host_log(settings.out_dir)

    def on_grace(in_flight: int, seconds: float) -> None:
        click.echo(tr(T(f"\n正在停止：等待 {in_flight} 台进行中的主机关闭 WinRM 会话（最多 {seconds:.0f} 秒）…",
                        f"\nstopping: waiting up to {seconds:.0f} s for {in_flight} hosts in flight "
                        "to close their WinRM shells…"), lang), err=True)

    executor = None
    if settings.broker_url is not None:
        from fleetcheck.distributed.executor import celery_executor

        executor = celery_executor(settings.broker_url, on_grace=on_grace,
                                   on_broker_lost=lambda text: click.echo(tr(text, lang), err=True))
    sweep = policy_sweep(policies, hosts, waivers=waivers, forks=settings.forks, timeout_s=settings.timeout_s,
                         inventory=inventory.source, on_grace=on_grace, executor=executor)
    progress = SweepProgress(len(hosts), settings.progress_stream, quiet=is_quiet())
    started = time.monotonic()

    def on_result(result: HostResult) -> None:
        log.write(result)
        progress.update(result)

    try:
        with frozen_heap():  # collections skip the policies, inventory and modules (fleetcheck.heap)
            outcome = sweep.run(on_result=on_result, retain_facts=False)
    finally:
        progress.close()
        log.close()
    return outcome, log.path, time.monotonic() - started


def run_sweep(inventory: Inventory, host_names: list[str], policies: Sequence[Any], waivers: Sequence[Any],
              settings: SweepSettings) -> int:
    """Sweep, write files, print the summary; the exit code."""
    lang = lang_of()
    out_dir, notify = settings.out_dir, settings.notify
    hosts = [inventory.hosts[name] for name in host_names]
    _warn_missing_auth_extras(hosts)
    log_text(log, logging.INFO, T(
        f"扫描 {len(hosts)} 台主机：并发 {settings.forks}，每台时限 {settings.timeout_s:g} 秒，输出目录 {out_dir}",
        f"sweeping {len(hosts)} hosts: {settings.forks} at once, {settings.timeout_s:g} s per host, into {out_dir}"))
    outcome, host_lines, elapsed = _sweep(inventory, hosts, policies, waivers, settings)
    log_text(log, logging.INFO, T(f"扫描用时 {elapsed:.1f} 秒；写入结果", f"swept in {elapsed:.1f} s; writing the results"))
    run = scoped(outcome.run, len(hosts), len(inventory.hosts), outcome.interrupted)
    fallback_previous = _previous_for_notify(notify, out_dir)  # read before results.json is replaced
    results_path = write_results(run, out_dir, host_lines=host_lines)
    published = publish(run, out_dir, settings.db_url, lang, list(waivers) or None, names=set(inventory.hosts),
                        compare=notify is not None)
    summary = summarize(run, len(hosts), certificate_thresholds(policies), interrupted=outcome.interrupted)
    if settings.fmt == "json":
        click.echo(summary_json(summary, results_path, run))
    elif is_quiet():
        click.echo(closing_line(summary, lang, elapsed))
    else:
        click.echo(render_summary(summary, lang, elapsed))
        click.echo(("  结果文件：" if lang == "zh" else "  results: ")
                   + ", ".join(str(p) for p in [results_path, *published.files]))
    # The notification is about the office, not only the hosts this run reached: after a --limit
    # scan it still covers every PC. Without a store: this run against the previous results.json.
    current, previous = published.office or run, published.office_before
    if published.office is None:
        previous = fallback_previous
    _notify(notify, current, previous, out_dir, lang, waivers=list(waivers) or None)
    return summary.exit_code


def closing_line(summary: ScanSummary, lang: Lang, elapsed_s: float) -> str:
    """The one line ``fleetcheck -q scan`` prints: hosts swept, the verdict counts, the time taken."""
    unprobed = sum(summary.unprobed.values())
    stopped = summary.total - summary.swept if summary.interrupted else 0
    text = T(
        f"扫描完成：{summary.swept}/{summary.total} 台主机，合规 {summary.compliant}，不合规 {summary.noncompliant}，"
        f"无法检查 {unprobed}" + (f"，已中断 {stopped} 台未检查" if summary.interrupted else "")
        + f"，用时 {elapsed_s:.1f} 秒",
        f"sweep finished: {summary.swept}/{summary.total} hosts, compliant {summary.compliant}, "
        f"non-compliant {summary.noncompliant}, not probed {unprobed}"
        + (f", interrupted with {stopped} not swept" if summary.interrupted else "") + f", {elapsed_s:.1f} s",
    )
    return text.get(lang)


# --------------------------------------------------------------------------- --notify (fleetcheck.notify)
# Notifications never change the results or the exit code; failures are printed once per channel.


def _load_notify(path: str | None, notify_on: str | None = None) -> NotifyConfig | None:
    """The --notify config, with --notify-on (when given) overriding its ``notify_on``."""
    if path is None:
        if notify_on is not None:
            fail(T("--notify-on 需要与 --notify 一起使用", "--notify-on needs --notify CONFIG"))
        return None
    from fleetcheck.notify import load_notify_config

    config = load_notify_config(path)
    return config.model_copy(update={"notify_on": notify_on}) if notify_on else config


def _previous_for_notify(notify: NotifyConfig | None, out_dir: Path) -> RunResult | None:
    if notify is None:
        return None
    from fleetcheck.notify import load_previous_results

    return load_previous_results(out_dir / "results.json")


def _notify(notify: NotifyConfig | None, run: RunResult, previous: RunResult | None, out_dir: Path, lang: Lang,
            *, waivers: Sequence[Any] | None = None) -> None:
    if notify is None:
        return
    from fleetcheck.notify import notify_after_scan

    report = out_dir / "report.html"
    results = notify_after_scan(notify, run, previous, report if report.is_file() else None, lang=lang,
                                report=lambda message: click.echo(message, err=True), waivers=waivers)
    for result in results:
        if result.ok and not is_quiet():
            click.echo(result.describe(lang), err=True)


def _load_waivers(path: str | None, policies: list[Any]) -> list[Any]:
    if path is None:
        return []
    from fleetcheck.policy.loader import load_waivers

    return load_waivers(path, policies)


@dataclass(frozen=True)
class ScanOptions:
    """The options of ``fleetcheck scan``, as click parsed them."""

    inventory_path: Path
    policy_paths: tuple[str, ...]
    waivers_path: str | None
    limit: str | None
    forks: int
    timeout_s: float
    out_dir: Path
    fmt: str
    ask_pass: bool
    notify_path: str | None
    notify_on: str | None
    db_url: str | None
    executor: str = "local"
    broker_url: str | None = None


@click.command(name="scan")
@inventory_option
@policy_option
@click.option("--waivers", "waivers_path", type=click.Path(), help="豁免文件 / waivers file")
@limit_option
@forks_option
@timeout_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path(DEFAULT_OUT), show_default=True,
              help="结果目录 / output folder")
@format_option(["table", "json"], "table")
@click.option("--ask-pass", is_flag=True, help="提示输入一次 WinRM 密码 / prompt once for the WinRM password")
@click.option("--notify", "notify_path", type=click.Path(dir_okay=False),
              help="扫描后按此配置发送通知（见 notify.example.yaml）/ send notifications after the sweep")
@click.option("--notify-on", type=click.Choice(["always", "change", "problems"]),
              help="何时发送（覆盖配置中的 notify_on）/ when to send (overrides the config's notify_on)")
@db_option
@click.option("--executor", type=click.Choice(["local", "celery"]), default="local", show_default=True,
              help="由本机线程或各营业部的 Celery worker 扫描 / sweep from local threads or branch Celery workers")
@click.option("--broker", "broker_url", envvar="FLEETCHECK_BROKER", metavar="URL",
              help="--executor celery 的消息代理，如 redis://主机:6379/0 / the broker of --executor celery")
def scan(**given: Any) -> None:
    """扫描清单中的主机 / sweep the hosts of an inventory over WinRM."""
    options = ScanOptions(**given)
    broker_url = _celery_broker(options)
    inventory, names = load_targets(options.inventory_path, options.limit, ask_pass=options.ask_pass)
    policies = load_policy_files(options.policy_paths)
    waivers = _load_waivers(options.waivers_path, policies)
    notify = _load_notify(options.notify_path, options.notify_on)
    _check_store(options.db_url)
    settings = SweepSettings(forks=options.forks, timeout_s=options.timeout_s, out_dir=options.out_dir,
                             fmt=options.fmt, notify=notify, db_url=options.db_url, broker_url=broker_url)
    sys.exit(run_sweep(inventory, names, policies, waivers, settings))


def _celery_broker(options: ScanOptions) -> str | None:
    """The broker of ``--executor celery`` (None for a local sweep); usage errors exit 2."""
    if options.executor != "celery":
        return None
    if options.broker_url is None:
        fail(T("--executor celery 需要 --broker URL（或 FLEETCHECK_BROKER）",
               "--executor celery needs --broker URL (or FLEETCHECK_BROKER)"))
    from fleetcheck.distributed.app import check_url
    from fleetcheck.distributed.secrets import refuse_prompted_password

    refuse_prompted_password(options.ask_pass)
    return check_url(options.broker_url)


__all__ = ["DEFAULT_OUT", "Published", "ScanOptions", "SweepSettings", "closing_line", "publish", "run_sweep", "scan",
           "scoped"]
