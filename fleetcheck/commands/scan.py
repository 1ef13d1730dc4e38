"""``fleetcheck scan`` and ``fleetcheck demo``: sweep an office, summarise, write results.

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

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from fleetcheck.commands.common import (
    EXIT_NONCOMPLIANT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    fail,
    lang_of,
    load_policies_for,
    load_targets,
    say,
)
from fleetcheck.commands.options import (
    db_option,
    forks_option,
    format_option,
    inventory_option,
    limit_option,
    policy_option,
    timeout_option,
)
from fleetcheck.findings import FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.inventory import (
    Inventory,
    InventoryError,
    PasswordSources,
    load_inventory,
)
from fleetcheck.officetime import office_time
from fleetcheck.runner import DEFAULT_FORKS, DEFAULT_TIMEOUT_S, SweepOutcome, policy_sweep
from fleetcheck.transport import auth_unavailable

if TYPE_CHECKING:
    from fleetcheck.notify import NotifyConfig

DEFAULT_OUT = "fleetcheck-out"
DEMO_OUT = "fleetcheck-demo"
DEFAULT_CERT_THRESHOLD_DAYS = 30


def register(main: click.Group) -> None:
    main.add_command(scan)
    main.add_command(demo)


# --------------------------------------------------------------------------- summary (pure)


@dataclass
class ExpiringCertificate:
    host: str
    subject_cn: str
    days_left: int
    not_after: str | None
    kind: str | None


@dataclass
class ScanSummary:
    """What the console shows after a sweep; built from the RunResult alone."""

    total: int
    swept: int
    compliant: int = 0
    noncompliant: int = 0
    unprobed: Counter[str] = field(default_factory=Counter)  # error class -> hosts
    failing_checks: list[tuple[str, int, Text]] = field(default_factory=list)  # check, hosts, title
    expiring: list[ExpiringCertificate] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.unprobed or self.swept < self.total:
            return EXIT_UNREACHABLE
        return EXIT_NONCOMPLIANT if self.noncompliant else EXIT_OK


def summarize(run: RunResult, total: int, thresholds: dict[str, int], *, interrupted: bool = False,
              top: int = 10) -> ScanSummary:
    """Counts, top failing checks, expiring certificates. ``thresholds``: check id → min days left."""
    summary = ScanSummary(total=total, swept=len(run.hosts), interrupted=interrupted)
    failing: Counter[str] = Counter()
    titles: dict[str, Text] = {}
    seen_certs: set[tuple[str, str]] = set()
    for host in run.hosts:
        if host.status is not HostStatus.ok:
            summary.unprobed[host.error_class or host.status.value] += 1
            continue
        if host.compliant:
            summary.compliant += 1
        else:
            summary.noncompliant += 1
        for finding in host.findings:
            key = f"{finding.policy_id}/{finding.check_id}"
            if finding.status in (FindingStatus.fail, FindingStatus.error):
                failing[key] += 1
                titles[key] = finding.title
            if finding.check_type == "certificate":
                cert = _expiring(host, finding.details, thresholds.get(key, DEFAULT_CERT_THRESHOLD_DAYS))
                # Several checks (present, kind, validity) look at the same certificate.
                ident = (host.host, str(finding.details.get("thumbprint") or finding.details.get("subject_cn")))
                if cert is not None and ident not in seen_certs:
                    seen_certs.add(ident)
                    summary.expiring.append(cert)
    summary.failing_checks = [(key, count, titles[key]) for key, count in failing.most_common(top)]
    summary.expiring.sort(key=lambda c: (c.days_left, c.host))
    return summary


def _expiring(host: HostResult, details: dict[str, Any], threshold: int) -> ExpiringCertificate | None:
    days = details.get("days_left")
    if not isinstance(days, int) or days >= threshold:
        return None
    return ExpiringCertificate(host=host.host, subject_cn=str(details.get("subject_cn") or "?"), days_left=days,
                               not_after=None if details.get("not_after") is None else str(details["not_after"]),
                               kind=details.get("kind"))


def certificate_thresholds(policies: Sequence[Any]) -> dict[str, int]:
    """``policy/check`` → ``min_days_left`` of every certificate check that sets one."""
    found: dict[str, int] = {}
    for policy in policies:
        for check in policy.checks:
            days = getattr(check, "min_days_left", None)
            if check.type == "certificate" and isinstance(days, int):
                found[f"{policy.id}/{check.id}"] = days
    return found


def render_summary(summary: ScanSummary, lang: Lang, elapsed_s: float) -> str:
    """The bilingual table printed after a sweep."""
    zh = lang == "zh"
    lines = [
        (f"扫描完成：{summary.swept}/{summary.total} 台主机，用时 {elapsed_s:.1f} 秒" if zh else
         f"Sweep finished: {summary.swept}/{summary.total} hosts in {elapsed_s:.1f} s"),
    ]
    if summary.interrupted:
        lines.append(f"  已中断（Ctrl-C）：{summary.total - summary.swept} 台未检查" if zh else
                     f"  interrupted (Ctrl-C): {summary.total - summary.swept} hosts not swept")
    unprobed = sum(summary.unprobed.values())
    lines.append(f"  合规 {summary.compliant}   不合规 {summary.noncompliant}   无法检查 {unprobed}" if zh else
                 f"  compliant {summary.compliant}   non-compliant {summary.noncompliant}   not probed {unprobed}")
    if summary.unprobed:
        parts = ", ".join(f"{name} {count}" for name, count in summary.unprobed.most_common())
        lines.append(("  无法检查（按错误类型）：" if zh else "  not probed, by error class: ") + parts)
    if summary.failing_checks:
        lines.append("  失败最多的检查：" if zh else "  top failing checks:")
        for key, count, title in summary.failing_checks:
            unit = "台" if zh else ("host " if count == 1 else "hosts")
            lines.append(f"    {count:>4} {unit}  {key}  {tr(title, lang)}")
    if summary.expiring:
        lines.append("  即将到期或已过期的证书：" if zh else "  certificates expiring or expired:")
        for cert in summary.expiring[:20]:
            left = (f"剩余 {cert.days_left} 天" if cert.days_left >= 0 else f"已过期 {-cert.days_left} 天") if zh else \
                   (f"{cert.days_left} days left" if cert.days_left >= 0 else f"expired {-cert.days_left} days ago")
            until = office_time(cert.not_after)[:10] if cert.not_after else ""
            lines.append(f"    {cert.host}  {cert.subject_cn}  {left}  {until}".rstrip())
        if len(summary.expiring) > 20:
            lines.append(f"    …另有 {len(summary.expiring) - 20} 个" if zh else f"    … and {len(summary.expiring) - 20} more")
    return "\n".join(lines)


def summary_json(summary: ScanSummary, results_path: Path, run_id: str) -> str:
    return json.dumps({
        "run_id": run_id, "hosts": summary.total, "swept": summary.swept, "compliant": summary.compliant,
        "noncompliant": summary.noncompliant, "unprobed": dict(summary.unprobed),
        "interrupted": summary.interrupted,
        "top_failing_checks": [{"check": k, "hosts": n, "title": t.model_dump()} for k, n, t in summary.failing_checks],
        "expiring_certificates": [c.__dict__ for c in summary.expiring],
        "results": str(results_path), "exit_code": summary.exit_code,
    }, ensure_ascii=False, indent=2)


# --------------------------------------------------------------------------- results files


class HostLog:
    """``hosts.jsonl``: one line per finished host, flushed as it comes."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / "hosts.jsonl"
        self._handle: TextIO = self.path.open("w", encoding="utf-8")

    def write(self, result: HostResult) -> None:
        from fleetcheck.runner import serializable

        # One host that cannot be serialized becomes that host's error line, never the sweep's end
        # (serialized once when it can be: the fallback runs only for a host that fails).
        try:
            line = result.model_dump_json()
        except Exception:  # noqa: BLE001 - repaired or turned into this host's error below
            line = serializable(result).model_dump_json()
        self._handle.write(line + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def write_results(run: RunResult, out_dir: Path, host_lines: Path | None = None) -> Path:
    """``DIR/results.json`` written atomically (a reader never sees half a file).

    With ``host_lines`` (a ``hosts.jsonl`` of complete HostResults, facts
    included) the hosts are copied from that file line by line instead of from
    ``run``, so a big sweep never needs every host's facts in memory at once.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "results.json"
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=out_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        if host_lines is None:
            from fleetcheck.runner import serializable

            try:
                text = run.model_dump_json(indent=1)
            except Exception:  # noqa: BLE001 - one host's failure must not lose the others
                safe = run.model_copy(update={"hosts": [serializable(h) for h in run.hosts]})
                text = safe.model_dump_json(indent=1)
            handle.write(text)
        else:
            head = run.model_copy(update={"hosts": []}).model_dump_json()
            assert head.endswith('"hosts":[]}')  # hosts is the last field of RunResult
            handle.write(head[: -len("]}")] + "\n")
            with host_lines.open(encoding="utf-8") as lines:
                for index, line in enumerate(lines):
                    handle.write(("," if index else "") + line.rstrip("\n") + "\n")
            handle.write("]}\n")
    os.replace(tmp, target)
    return target


def publish(run: RunResult, out_dir: Path, db_url: str | None, lang: Lang) -> tuple[list[Path], RunResult | None]:
    """Record the run in the history store and write ``out_dir/report.html``.

    Returns the files written and the previous recorded run (for --notify's
    "what changed"). Never fatal: results.json is already safe on disk, so a
    store or report failure is printed once and the sweep's exit code stands.
    """
    from fleetcheck.report.publish import record_and_report
    from fleetcheck.store import Store, StoreError

    try:
        paths = record_and_report(run, out_dir, db_url=db_url, lang=lang)
    except Exception as exc:  # noqa: BLE001 - a report bug must not lose the sweep
        click.echo(tr(T(f"生成报告失败：{type(exc).__name__}: {exc}",
                        f"writing the report failed: {type(exc).__name__}: {exc}"), lang), err=True)
        return [], None
    if paths.store_error is not None:
        click.echo(tr(T("未能写入历史库：", "could not record the run in the history store: "), lang)
                   + tr(paths.store_error, lang), err=True)
        return [paths.html], None
    previous: RunResult | None = None
    try:
        with Store.open(db_url) as store:
            before = store.previous_run(run.run_id)
            previous = store.load_run(before.run_id) if before is not None else None
    except StoreError:
        previous = None
    return [paths.html], previous


def _check_store(db_url: str | None) -> None:
    """Open the history store once before the sweep: a wrong ``--db`` is a usage
    error (exit 2) found in a second, not a note after every host was probed."""
    from fleetcheck.store import Store, StoreError

    try:
        Store.open(db_url).close()
    except StoreError as exc:
        fail(exc.text)


# --------------------------------------------------------------------------- progress


class SweepProgress:
    """A rich progress bar (done / failed / ETA) on a terminal; plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream or sys.stderr
        self._bar: Any = None
        if self.stream.isatty():
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


def run_sweep(inventory: Inventory, host_names: list[str], policies: Sequence[Any], waivers: Sequence[Any], *,
              forks: int, timeout_s: float, out_dir: Path, fmt: str, progress_stream: TextIO | None = None,
              notify: NotifyConfig | None = None, db_url: str | None = None) -> int:
    """Sweep, write files, print the summary; the exit code."""
    lang = lang_of()
    hosts = [inventory.hosts[name] for name in host_names]
    # A missing auth extra is the affected hosts' ConfigurationError (the transport says so per
    # host); the other hosts are swept. Said once up front so the cause is plain.
    for missing_extra in sorted({e for h in hosts if (e := auth_unavailable(h.auth))}):
        affected = sum(1 for h in hosts if auth_unavailable(h.auth) == missing_extra)
        say(T(f"警告：清单要求 {missing_extra} 认证，但未安装（pip install 'fleetcheck[{missing_extra}]'）："
              f"{affected} 台主机将记为 ConfigurationError，其余主机照常扫描",
              f"warning: the inventory asks for {missing_extra} authentication, which is not installed "
              f"(pip install 'fleetcheck[{missing_extra}]'): {affected} host(s) get a ConfigurationError, "
              "the others are swept"), err=True)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        log = HostLog(out_dir)
    except OSError as exc:
        fail(T(f"无法写入输出目录 {out_dir}：{exc.strerror}", f"cannot write the output folder {out_dir}: {exc.strerror}"))
    def on_grace(in_flight: int, seconds: float) -> None:
        click.echo(tr(T(f"\n正在停止：等待 {in_flight} 台进行中的主机关闭 WinRM 会话（最多 {seconds:.0f} 秒）…",
                        f"\nstopping: waiting up to {seconds:.0f} s for {in_flight} hosts in flight "
                        "to close their WinRM shells…"), lang), err=True)

    sweep = policy_sweep(policies, hosts, waivers=waivers, forks=forks, timeout_s=timeout_s,
                         inventory=inventory.source, on_grace=on_grace)
    progress = SweepProgress(len(hosts), progress_stream)
    started = time.monotonic()

    def on_result(result: HostResult) -> None:
        log.write(result)
        progress.update(result)

    try:
        outcome: SweepOutcome = sweep.run(on_result=on_result, retain_facts=False)
    finally:
        progress.close()
        log.close()
    elapsed = time.monotonic() - started
    fallback_previous = _previous_for_notify(notify, out_dir)  # read before results.json is replaced
    results_path = write_results(outcome.run, out_dir, host_lines=log.path)
    extra, previous = publish(outcome.run, out_dir, db_url, lang)
    previous = previous or fallback_previous
    summary = summarize(outcome.run, len(hosts), certificate_thresholds(policies), interrupted=outcome.interrupted)
    if fmt == "json":
        click.echo(summary_json(summary, results_path, outcome.run.run_id))
    else:
        click.echo(render_summary(summary, lang, elapsed))
        click.echo(("  结果文件：" if lang == "zh" else "  results: ") + ", ".join(str(p) for p in [results_path, *extra]))
    _notify(notify, outcome.run, previous, out_dir, lang)
    return summary.exit_code


# --------------------------------------------------------------------------- --notify (fleetcheck.notify)
# Notifications never change the results or the exit code; failures are printed once per channel.


def _load_notify(path: str | None, notify_on: str | None = None) -> NotifyConfig | None:
    """The --notify config, with --notify-on (when given) overriding its ``notify_on``."""
    if path is None:
        if notify_on is not None:
            fail(T("--notify-on 需要与 --notify 一起使用", "--notify-on needs --notify CONFIG"))
        return None
    from fleetcheck.notify import NotifyConfigError, load_notify_config

    try:
        config = load_notify_config(path)
    except NotifyConfigError as exc:
        fail(exc.format(lang_of()))
    return config.model_copy(update={"notify_on": notify_on}) if notify_on else config


def _previous_for_notify(notify: NotifyConfig | None, out_dir: Path) -> RunResult | None:
    if notify is None:
        return None
    from fleetcheck.notify import load_previous_results

    return load_previous_results(out_dir / "results.json")


def _notify(notify: NotifyConfig | None, run: RunResult, previous: RunResult | None, out_dir: Path, lang: Lang) -> None:
    if notify is None:
        return
    from fleetcheck.notify import notify_after_scan

    report = out_dir / "report.html"
    results = notify_after_scan(notify, run, previous, report if report.is_file() else None, lang=lang,
                                report=lambda message: click.echo(message, err=True))
    for result in results:
        if result.ok:
            click.echo(result.describe(lang), err=True)


def _load_waivers(path: str | None, policies: list[Any]) -> list[Any]:
    if path is None:
        return []
    from fleetcheck.policy.loader import WaiverError, load_waivers

    try:
        return load_waivers(path, policies)
    except WaiverError as exc:
        fail(exc.format(lang_of()))


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
def scan(inventory_path: Path, policy_paths: tuple[str, ...], waivers_path: str | None, limit: str | None,
         forks: int, timeout_s: float, out_dir: Path, fmt: str, ask_pass: bool, notify_path: str | None,
         notify_on: str | None, db_url: str | None) -> None:
    """扫描清单中的主机 / sweep the hosts of an inventory over WinRM."""
    inventory, names = load_targets(inventory_path, limit, ask_pass=ask_pass)
    policies = load_policies_for(policy_paths)
    waivers = _load_waivers(waivers_path, policies)
    notify = _load_notify(notify_path, notify_on)
    _check_store(db_url)
    sys.exit(run_sweep(inventory, names, policies, waivers, forks=forks, timeout_s=timeout_s,
                       out_dir=out_dir, fmt=fmt, notify=notify, db_url=db_url))


# --------------------------------------------------------------------------- demo


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
@click.option("--forks", type=click.IntRange(1, 1000), default=DEFAULT_FORKS, show_default=True)
@click.option("--db", "db_url", help="历史库；默认 DIR/fleetcheck.db（演示不写入你的正式历史库）/ "
                                     "history store; default DIR/fleetcheck.db (the demo keeps out of your real history)")
@click.option("--first-address", default=None, metavar="127.0.x.y",
              help="模拟 PC 的起始回环地址（默认 127.0.1.1）/ first loopback address of the simulated PCs")
def demo(out_dir: Path, keep_running: bool, inventory_out: Path | None, forks: int, db_url: str | None,
         first_address: str | None) -> None:
    """启动模拟办公室（约 40 台 PC）并扫描 / start a simulated office (~40 PCs) and sweep it."""
    from fleetcheck.sim.office import OfficeError, start_office

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
        except OfficeError as exc:
            fail(exc.text)
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
            try:
                inventory = load_inventory(inventory_path, PasswordSources(literal_ok=True))
            except InventoryError as exc:
                fail(exc.format(lang))
            policies = load_policies_for(())
            code = run_sweep(inventory, list(inventory.hosts), policies, [], forks=forks,
                             timeout_s=DEFAULT_TIMEOUT_S, out_dir=out_dir, fmt="table",
                             db_url=db_url or str(out_dir.resolve() / "fleetcheck.db"))
            if keep_running:
                _serve_until_interrupted(office, inventory_path, lang)
    sys.exit(code)


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


__all__ = ["ScanSummary", "publish", "render_summary", "run_sweep", "summarize",
           "write_results"]
