"""``fleetcheck schedule show|install``: run sweeps from cron, systemd timers or Windows Task Scheduler.

Everything after ``--`` is the fleetcheck command to run, e.g.
``fleetcheck schedule show --at 07:30 --days mon-fri -- scan -i inventory.yaml --notify notify.yaml``.

``--at`` is office time: ``--office-tz``, else the ``timezone`` of ``--calendar``
(the trading calendar file of ``fix``), else Asia/Shanghai (fleetcheck.officetime).
The hidden ``--machine-tz`` and ``--now`` stand in for this machine's zone and
clock in tests (see :mod:`fleetcheck.schedule`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from datetime import datetime
from pathlib import Path, PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo

import click

from fleetcheck import schedule as sched
from fleetcheck.commands.common import EXIT_USAGE, clock_of, fail, lang_of, say
from fleetcheck.commands.options import format_option, now_option
from fleetcheck.i18n import T
from fleetcheck.jsonout import echo_json, iso_utc, text_json
from fleetcheck.officetime import office_zone
from fleetcheck.remediate.guard import TradingCalendar

__all__ = ["schedule_group"]


def _common_options(func: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option("--at", "at", required=True, help="每天运行时间 HH:MM / time of day, HH:MM"),
        click.option(
            "--days",
            default="mon-fri",
            show_default=True,
            help="哪几天：daily、mon-fri、mon,wed,fri / which days",
        ),
        click.option(
            "--name",
            default="fleetcheck-scan",
            show_default=True,
            help="任务名（文件名、任务名、锁文件名）/ schedule name",
        ),
        click.option(
            "--workdir",
            type=click.Path(file_okay=False),
            default=None,
            help="工作目录（默认当前目录）/ working directory (default: current)",
        ),
        click.option(
            "--log",
            "log",
            type=click.Path(dir_okay=False),
            default=None,
            help="日志文件（默认 WORKDIR/NAME.log）/ log file",
        ),
        click.option(
            "--lock",
            type=click.Path(dir_okay=False),
            default=None,
            help="锁文件（默认 WORKDIR/.NAME.lock）/ lock file",
        ),
        click.option(
            "--executable",
            default=None,
            help="fleetcheck 程序的绝对路径（默认当前 venv 中的）/ fleetcheck program path",
        ),
        click.option(
            "--office-tz",
            default=None,
            help="--at 所用的办公室时区（默认 --calendar 的 timezone，否则 Asia/Shanghai）"
            " / office time zone of --at (default: --calendar's timezone, else Asia/Shanghai)",
        ),
        click.option(
            "--calendar",
            "calendar_path",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="交易日历 YAML（取其 timezone）/ trading calendar YAML (its timezone)",
        ),
        click.option("--machine-tz", default=None, hidden=True,
                     help="this machine's zone instead of /etc/localtime (tests)"),
        click.argument("fleetcheck_args", nargs=-1, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        func = option(func)
    # The next runs and the cron conversion are computed from this instant (default: the real clock).
    return now_option.variant(help="ISO 8601 instant the next runs count from (tests)")(func)


@dataclasses.dataclass(frozen=True)
class SpecOptions:
    """The options every ``schedule`` subcommand takes (:func:`_common_options`): what to run, when, where."""

    at: str
    days: str
    name: str
    workdir: str | None
    log: str | None
    lock: str | None
    executable: str | None
    office_tz: str | None
    calendar_path: Path | None
    machine_tz: str | None
    now_text: str | None
    fleetcheck_args: tuple[str, ...]


def _office_zone(options: SpecOptions) -> ZoneInfo:
    """``--office-tz``, else the trading calendar's ``timezone``, else the office clock's (Asia/Shanghai)."""
    if options.office_tz:
        return sched.parse_zone(options.office_tz)
    if options.calendar_path is not None:
        return TradingCalendar.load(options.calendar_path).zone  # a bad file: CalendarError, exit 2
    return office_zone()


def _machine(options: SpecOptions) -> sched.Machine:
    """This machine's scheduler zone (``--machine-tz`` or the system's) and now (``--now`` or the clock)."""
    zone = sched.parse_zone(options.machine_tz, "--machine-tz") if options.machine_tz else sched.machine_zone()
    return sched.Machine(zone=zone, now=clock_of(options.now_text)())


def _build_spec(options: SpecOptions) -> sched.ScheduleSpec:
    at, days, name, workdir = options.at, options.days, options.name, options.workdir
    log, lock, fleetcheck_args = options.log, options.lock, options.fleetcheck_args
    if not fleetcheck_args:
        fail(
            T(
                "请在 -- 之后写要定时运行的 fleetcheck 命令，例如：-- scan -i inventory.yaml",
                "Give the fleetcheck command to run after --, e.g.: -- scan -i inventory.yaml",
            )
        )
    if fleetcheck_args[0] in ("fleetcheck", "fleetcheck.exe"):
        fail(
            T(
                "-- 之后不要重复程序名 fleetcheck，直接写子命令（如 scan …）。",
                "Do not repeat the program name after --; start with the subcommand (e.g. scan …).",
            )
        )
    _check_scheduled_command(fleetcheck_args)
    base = Path(workdir).expanduser() if workdir else Path.cwd()
    base = base.absolute()
    return sched.ScheduleSpec(  # a bad --at or --days is a ScheduleError: the CLI root prints it, exit 2
        zone=_office_zone(options),
        name=name,
        at=sched.parse_at(at),
        days=sched.parse_days(days),
        workdir=base,
        log=(base / Path(log).expanduser()) if log else base / f"{name}.log",
        lock=(base / Path(lock).expanduser()) if lock else base / f".{name}.lock",
        command=[*sched.default_command(options.executable), *fleetcheck_args],
    )


def _check_scheduled_command(fleetcheck_args: tuple[str, ...]) -> None:
    """Reject a scheduled command whose (sub)command names or group options fleetcheck does not know.

    Walks the command groups from the root: options of a group are checked by name
    (a value-taking option skips its value), the next word must name one of its
    subcommands. The leaf command's own arguments are left to the scheduled run:
    an environment variable or file it needs may only exist at that time.
    """
    ctx = click.get_current_context()
    root = ctx.find_root()
    command: click.Command = root.command
    path = ["fleetcheck"]
    words = list(fleetcheck_args)
    index = 0
    while isinstance(command, click.Group) and index < len(words):
        word = words[index]
        index += 1
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            option = next((p for p in command.get_params(ctx) if isinstance(p, click.Option)
                           and name in (*p.opts, *p.secondary_opts)), None)
            if option is None:
                fail(T(f"要定时运行的命令中，{' '.join(path)} 没有选项 {name}。",
                       f"in the command to schedule, {' '.join(path)} has no option {name}."), EXIT_USAGE)
            if "=" not in word and not option.is_flag and not option.count:
                index += 1
            continue
        sub = command.get_command(ctx, word)
        if sub is None:
            known = ", ".join(sorted(command.list_commands(ctx)))
            fail(T(f"要定时运行的命令中，{' '.join(path)} 没有子命令 {word!r}（可用：{known}）。",
                   f"in the command to schedule, {' '.join(path)} has no subcommand {word!r} "
                   f"(known: {known})."), EXIT_USAGE)
        command = sub
        path.append(word)
    if isinstance(command, click.Group):
        fail(T(f"要定时运行的命令不完整：{' '.join(path)} 之后还需要子命令。",
               f"the command to schedule is incomplete: {' '.join(path)} needs a subcommand."), EXIT_USAGE)


def _windows_spec(
    spec: sched.ScheduleSpec, fleetcheck_args: tuple[str, ...], windows_executable: str | None
) -> sched.ScheduleSpec:
    """On Windows the spec is used as is; elsewhere Windows paths are placeholders to adjust.

    Decision: a definition for Windows shown on Linux cannot know the Windows
    machine's paths, so it uses ``C:\\fleetcheck`` as working directory and
    ``--windows-executable`` (default ``C:\\fleetcheck\\venv\\Scripts\\fleetcheck.exe``),
    and says so above the XML.
    """
    if os.name == "nt" and not windows_executable:
        return spec
    program = windows_executable or r"C:\fleetcheck\venv\Scripts\fleetcheck.exe"
    if os.name == "nt":
        return dataclasses.replace(spec, command=[program, *fleetcheck_args])
    home = PureWindowsPath(r"C:\fleetcheck")
    return dataclasses.replace(
        spec,
        workdir=home,
        log=home / f"{spec.name}.log",
        lock=home / f".{spec.name}.lock",
        command=[program, *fleetcheck_args],
    )


@click.group("schedule")
def schedule_group() -> None:
    """定时扫描（cron / systemd / Windows 任务计划）/ scheduled sweeps on the OS scheduler."""

@schedule_group.command(
    "show", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@_common_options
@click.option(
    "--target",
    type=click.Choice(["all", "cron", "systemd", "windows"]),
    default="all",
    show_default=True,
    help="显示哪种调度器 / which scheduler",
)
@click.option(
    "--windows-executable",
    default=None,
    help="Windows 上 fleetcheck.exe 的路径 / fleetcheck.exe path on the Windows machine",
)
@click.option(
    "--xml-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="把任务计划 XML 写入此文件（UTF-16）/ write the task XML here (UTF-16)",
)
@format_option(["text", "json"], "text")
def show(*, target: str, windows_executable: str | None, xml_out: str | None, fmt: str, **common: Any) -> None:
    """打印可直接安装的定时任务定义 / print ready-to-install schedule definitions.

    ``--format json`` (before ``--``): each definition (kind, file, text), the
    office zone and the next three runs (schema ``reports_templates/schedule-show.schema.json``).
    """
    options = SpecOptions(**common)
    spec = _build_spec(options)
    machine = _machine(options)
    fleetcheck_args = options.fleetcheck_args
    flock = sched.find_flock()
    if fmt == "json":
        echo_json(show_json(spec, machine, target, (windows_executable, xml_out), flock=flock,
                            fleetcheck_args=fleetcheck_args))
        return
    _show_next_runs(spec, machine)
    if target in ("all", "cron"):
        _show_cron(sched.render_cron(spec, machine, flock=flock))
    if target in ("all", "systemd"):
        units = sched.render_systemd(spec, flock=flock)
        unit_dir = sched.systemd_user_dir()
        for filename, content in ((units.service_file, units.service), (units.timer_file, units.timer)):
            say(T(f"# systemd：{unit_dir / filename}", f"# systemd: {unit_dir / filename}"))
            click.echo(content)
        say(
            T(
                f"# 然后运行：systemctl --user daemon-reload && systemctl --user enable --now {units.timer_file}",
                f"# then run: systemctl --user daemon-reload && systemctl --user enable --now {units.timer_file}",
            )
        )
        click.echo()
    if target in ("all", "windows"):
        _show_windows(spec, machine.now, fleetcheck_args, (windows_executable, xml_out), target == "windows")


def show_json(spec: sched.ScheduleSpec, machine: sched.Machine, target: str,
              windows_files: tuple[str | None, str | None], *, flock: str,
              fleetcheck_args: tuple[str, ...]) -> dict[str, Any]:
    """``schedule show --format json``: what the text shows, keys English, notes in both languages."""
    runs = [{"at": iso_utc(run), "office": run.isoformat(), "machine": run.astimezone(machine.zone).isoformat()}
            for run in sched.next_runs(spec, machine.now, 3)]
    definitions: list[dict[str, Any]] = []
    not_generated: list[dict[str, Any]] = []
    if target in ("all", "cron"):
        cron = sched.render_cron(spec, machine, flock=flock)
        note = text_json(cron.warning) if cron.warning is not None else None
        definitions.append(_definition("cron", None, cron.line, note))
        if cron.converted:
            definitions.append(_definition("cron_tz", None, "\n".join(cron.cron_tz_lines), None))
    if target in ("all", "systemd"):
        units = sched.render_systemd(spec, flock=flock)
        unit_dir = sched.systemd_user_dir()
        definitions.append(_definition("systemd_service", str(unit_dir / units.service_file), units.service, None))
        definitions.append(_definition("systemd_timer", str(unit_dir / units.timer_file), units.timer, None))
    if target in ("all", "windows"):
        windows_executable, xml_out = windows_files
        wspec = _windows_spec(spec, fleetcheck_args, windows_executable)
        try:
            task = sched.render_windows(wspec, now=machine.now, xml_file=xml_out or f"{spec.name}.xml")
        except sched.ScheduleError as exc:
            if target == "windows":
                fail(exc.text, EXIT_USAGE)
            not_generated.append({"kind": "windows_task", "reason": text_json(exc.text)})
        else:
            note = text_json(task.warning) if task.warning is not None else None
            definitions.append({**_definition("windows_task", xml_out or f"{spec.name}.xml", task.xml, note),
                                "placeholder_paths": wspec is not spec})
            definitions.append({**_definition("windows_create_command", None, task.create_command, None),
                                "placeholder_paths": wspec is not spec})
            if xml_out:
                Path(xml_out).write_text(task.xml, encoding="utf-16")
    return {
        "name": spec.name,
        "at": f"{spec.at:%H:%M}",
        "days": [sched.DAY_NAMES[d] for d in spec.days],
        "zone": spec.zone.key,
        "machine_zone": sched.zone_label(machine.zone, machine.now),
        "command": list(spec.command),
        "workdir": str(spec.workdir),
        "log": str(spec.log),
        "lock": str(spec.lock),
        "next_runs": runs,
        "definitions": definitions,
        "not_generated": not_generated,
    }


def _definition(kind: str, file: str | None, text: str, note: dict[str, str] | None) -> dict[str, Any]:
    return {"kind": kind, "file": file, "text": text, "note": note}


_WEEKDAYS_ZH = ("一", "二", "三", "四", "五", "六", "日")


def _when(moment: datetime, zone_name: str) -> tuple[str, str]:
    """``2026-12-02 周三 07:30 Asia/Shanghai`` and ``2026-12-02 Wed 07:30 Asia/Shanghai``."""
    day, clock = moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M")
    return (f"{day} 周{_WEEKDAYS_ZH[moment.weekday()]} {clock} {zone_name}",
            f"{day} {moment.strftime('%a')} {clock} {zone_name}")


def _show_next_runs(spec: sched.ScheduleSpec, machine: sched.Machine) -> None:
    """The zones and the next three runs: office time, and this machine's clock when it differs."""
    office = sched.zone_label(spec.zone, machine.now)
    here = sched.zone_label(machine.zone, machine.now)
    say(T(f"# --at {spec.at:%H:%M} 是办公室时间（{office}）；本机调度器的时区：{here}",
          f"# --at {spec.at:%H:%M} is office time ({office}); this machine's scheduler zone: {here}"))
    say(T("# 接下来三次运行：", "# next three runs:"))
    for run in sched.next_runs(spec, machine.now, 3):
        zh, en = _when(run, office)
        local = run.astimezone(machine.zone)
        if local.utcoffset() != run.utcoffset():
            local_zh, local_en = _when(local, sched.zone_label(machine.zone, local))
            zh, en = f"{zh}（本机 {local_zh}）", f"{en} (this machine: {local_en})"
        say(T(f"#   {zh}", f"#   {en}"))
    click.echo()


def _show_cron(definition: sched.CronDefinition) -> None:
    say(T("# cron：用 crontab -e 加入这一行", "# cron: add this line with crontab -e"))
    if definition.warning is not None:
        say(T(f"# 注意：{definition.warning.zh}", f"# Note: {definition.warning.en}"))
    click.echo(definition.line)
    if definition.converted:
        say(T("# 若本机的 cron 支持 CRON_TZ（cronie：RHEL、Fedora、Arch），可改用下面两行"
              "（CRON_TZ 会作用于 crontab 中其后的所有行）：",
              "# if this machine's cron honours CRON_TZ (cronie: RHEL, Fedora, Arch), these two lines"
              " can be used instead (CRON_TZ applies to every later line of the crontab):"))
        for line in definition.cron_tz_lines:
            click.echo(f"# {line}")
    click.echo()

def _show_windows(
    spec: sched.ScheduleSpec,
    now: datetime,
    fleetcheck_args: tuple[str, ...],
    windows_files: tuple[str | None, str | None],
    only_windows: bool,
) -> None:
    windows_executable, xml_out = windows_files
    wspec = _windows_spec(spec, fleetcheck_args, windows_executable)
    try:
        task = sched.render_windows(wspec, now=now, xml_file=xml_out or f"{spec.name}.xml")
    except sched.ScheduleError as exc:
        if only_windows:
            fail(exc.text, EXIT_USAGE)
        # cron and systemd were printed fine; say why Windows is missing and keep exit 0.
        say(T("# Windows 任务计划：未生成。", "# Windows Task Scheduler: not generated."))
        say(exc.text)
        return
    if wspec is not spec:
        say(
            T(
                "# Windows 任务计划：以下路径是示例（本机不是 Windows），请按目标电脑修改，"
                "或用 --windows-executable 并在 Windows 上运行本命令。",
                "# Windows Task Scheduler: paths below are placeholders (this is not Windows);"
                " adjust them for the target PC, or run this command on Windows.",
            )
        )
    if task.warning is not None:
        say(T(f"# 注意：{task.warning.zh}", f"# Note: {task.warning.en}"))
    say(T(f"# 保存为 {spec.name}.xml（UTF-16），然后在命令提示符中运行：",
          f"# save as {spec.name}.xml (UTF-16), then run in a command prompt:"))
    click.echo(task.create_command)
    click.echo()
    click.echo(task.xml)
    if xml_out:
        Path(xml_out).write_text(task.xml, encoding="utf-16")
        say(T(f"# 已写入 {xml_out}", f"# written to {xml_out}"))

@schedule_group.command(
    "install", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@_common_options
@click.option("--systemd", "kind", flag_value="systemd", help="安装 systemd 用户定时器 / user timer")
@click.option("--cron", "kind", flag_value="cron", help="加入用户 crontab / user crontab")
@click.option("--yes", "-y", is_flag=True, help="不再确认 / do not ask")
@click.option(
    "--enable",
    is_flag=True,
    help="写入后运行 systemctl --user enable --now / also enable the timer",
)
@click.option(
    "--unit-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="systemd 单元目录（默认 ~/.config/systemd/user）/ unit directory",
)
@click.option(
    "--crontab",
    "crontab_cmd",
    default="crontab",
    show_default=True,
    help="crontab 程序 / crontab program",
)
def install(*, kind: str | None, yes: bool, enable: bool, unit_dir: str | None, crontab_cmd: str,
            **common: Any) -> None:
    """为当前用户安装定时扫描 / install the schedule for the current user."""
    if kind is None:
        fail(T("请选择 --systemd 或 --cron。", "Choose --systemd or --cron."))
    options = SpecOptions(**common)
    spec = _build_spec(options)
    flock = sched.find_flock()
    try:
        if kind == "systemd":
            _install_systemd(spec, flock, yes, enable, unit_dir)
        else:
            _install_cron(spec, sched.render_cron(spec, _machine(options), flock=flock), yes, crontab_cmd)
    except OSError as exc:
        fail(T(f"安装失败：{exc}", f"Installation failed: {exc}"), EXIT_USAGE)

def _install_systemd(
    spec: sched.ScheduleSpec, flock: str, yes: bool, enable: bool, unit_dir: str | None
) -> None:
    units = sched.render_systemd(spec, flock=flock)
    target_dir = Path(unit_dir).expanduser() if unit_dir else sched.systemd_user_dir()
    for filename, content in ((units.service_file, units.service), (units.timer_file, units.timer)):
        say(T(f"# 将写入 {target_dir / filename}", f"# will write {target_dir / filename}"))
        click.echo(content)
    if not yes:
        click.confirm(T("写入这两个文件？", "Write these two files?").get(lang_of()), abort=True)
    systemctl = shutil.which("systemctl") if enable else None
    if enable and systemctl is None:
        say(T("未找到 systemctl，不自动启用。", "systemctl not found; not enabling."), err=True)
    outcome = sched.install_systemd(units, target_dir, enable=enable, systemctl=systemctl)
    for path in outcome.written:
        say(T(f"已写入 {path}", f"Written {path}"))
    for cmd in outcome.ran:
        say(T(f"已运行 {cmd}", f"Ran {cmd}"))
    for step in outcome.next_steps:
        say(T(f"下一步请运行：{step}", f"Next, run: {step}"))

def _install_cron(spec: sched.ScheduleSpec, definition: sched.CronDefinition, yes: bool, crontab_cmd: str) -> None:
    line = definition.line
    if definition.warning is not None:
        say(definition.warning, err=True)
    say(T("# 将在 crontab 中加入（或替换同名的）这一行：",
          "# will add (or replace the same-named) crontab line:"))
    click.echo(line)
    if not yes:
        click.confirm(T("修改 crontab？", "Change the crontab?").get(lang_of()), abort=True)
    sched.install_cron(line, spec.name, crontab=crontab_cmd)
    say(T(f"crontab 已更新（标记 {sched.CRON_MARKER_PREFIX}{spec.name}）。",
          f"crontab updated (marker {sched.CRON_MARKER_PREFIX}{spec.name})."))

