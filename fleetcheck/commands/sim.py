"""``fleetcheck sim serve``: run a simulated office on loopback until Ctrl-C / SIGTERM.

The office runs on the real clock (certificates' days left count from the
moment it starts); the hidden ``--now ISO-8601`` fixes that instant for tests.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from types import FrameType

import click

from fleetcheck.commands.common import EXIT_USAGE, clock_of, fail, say
from fleetcheck.commands.options import now_option
from fleetcheck.i18n import T
from fleetcheck.officetime import office_zone
from fleetcheck.sim.office import OfficeError, RunningOffice, start_office

__all__ = ["sim"]

MAX_NOTES_SHOWN = 10

DEMO_OFFICE = Path(__file__).resolve().parent.parent / "sim" / "offices" / "demo.yaml"


def _summary(office: RunningOffice, inventory: Path) -> None:
    listening = sum(1 for h in office.hosts.values() if h.listening)
    say(T(
        f"模拟办公室「{office.spec.name}」已启动：{len(office.hosts)} 台终端（{listening} 台在监听），"
        f"用时 {office.started_in_s:.2f} 秒",
        f"Simulated office '{office.spec.name}' started: {len(office.hosts)} PCs ({listening} listening) "
        f"in {office.started_in_s:.2f} s",
    ))
    groups: dict[str, list[str]] = {}
    for host in office.hosts.values():
        groups.setdefault(host.plan.group, []).append(host.address)
    for group, addresses in groups.items():
        first = office.hosts[next(n for n, h in office.hosts.items() if h.plan.group == group)]
        faults = ", ".join(first.plan.faults.active()) or "-"
        say(T(
            f"  {group}: {len(addresses)} 台，{addresses[0]} … {addresses[-1]}，端口 {first.port} "
            f"({first.plan.scheme}/{first.plan.transport})，故障注入: {faults}",
            f"  {group}: {len(addresses)} PCs, {addresses[0]} … {addresses[-1]}, port {first.port} "
            f"({first.plan.scheme}/{first.plan.transport}), faults: {faults}",
        ))
    say(T(f"清单（inventory）: {inventory}", f"Inventory: {inventory}"))
    say(T(f"CA 证书（用于 HTTPS 校验）: {office.ca_pem_path}", f"CA certificate (for HTTPS validation): {office.ca_pem_path}"))
    say(T("按 Ctrl-C 停止。", "Press Ctrl-C to stop."))


@click.group("sim")
def sim() -> None:
    """模拟 Windows 终端 / simulated Windows PCs."""

@sim.command("serve")
@click.option("--office", "office_path", type=click.Path(path_type=Path, dir_okay=False),
              default=DEMO_OFFICE, show_default="内置 demo.yaml / shipped demo.yaml",
              help="办公室文件 / office file (YAML)")
@click.option("--inventory-out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="写出的 Ansible 清单 / where to write the Ansible inventory")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".fleetcheck-sim"), show_default=True,
              help="CA、证书与终端状态目录 / folder for the CA, certificates and PC state")
@click.option("--first-address", default=None, help="第一个回环地址 / first loopback address (e.g. 127.0.1.1)")
@click.option("--prewarm", is_flag=True,
              help="启动前先构建全部终端（基准测试用）/ build every PC before serving (for benchmarks)")
@click.option("--duration", type=float, default=0.0, hidden=True,
              help="serve this many seconds then stop (0 = until Ctrl-C); for tests")
@now_option.variant(help="ISO 8601 instant the simulated PCs take as now (tests); default: the real clock")
def serve(*, office_path: Path, inventory_out: Path, state_dir: Path, first_address: str | None,
          prewarm: bool, duration: float, now_text: str | None) -> None:
    """启动模拟办公室并写出清单 / start a simulated office and write its inventory."""
    now = clock_of(now_text)()
    office = _start(office_path, state_dir, first_address, prewarm, now)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        office.write_inventory(inventory_out)
        _summary(office, inventory_out)
        shown = f"{now.astimezone(office_zone()):%Y-%m-%d %H:%M:%S} {office_zone().key}"
        say(T(f"模拟终端的时钟：{shown}（证书剩余天数由此计算）",
              f"Simulated PCs' clock: {shown} (certificates' days left count from it)"))
        _wait(stop, duration)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        office.stop(timeout=10)
        say(T("模拟办公室已停止。", "Simulated office stopped."))


def _start(
    office_path: Path, state_dir: Path, first_address: str | None, prewarm: bool, now: datetime
) -> RunningOffice:
    try:
        return start_office(office_path, state_dir, now=now, first_address=first_address, prewarm=prewarm)
    except OfficeError as exc:
        fail(T(f"办公室文件有误：{exc.text.zh}", f"Bad office file: {exc.text.en}"), EXIT_USAGE)
    except OSError as exc:
        fail(T(
            f"无法监听模拟地址（{exc.strerror or exc}）；是否已有模拟器在运行？可用 --first-address 换一段地址。",
            f"Cannot listen on the simulated addresses ({exc.strerror or exc}); is another simulator "
            "running? Use --first-address to pick another range.",
        ), EXIT_USAGE)


def _wait(stop: threading.Event, duration: float) -> None:
    """Until ``stop`` is set (SIGTERM), or ``duration`` seconds when positive (tests)."""
    deadline = time.monotonic() + duration if duration > 0 else None
    while not stop.wait(0.5):
        if deadline is not None and time.monotonic() >= deadline:
            return


@sim.group("image")
def image() -> None:
    """模拟终端镜像 / simulated PC images."""

@image.command("from-reg")
@click.argument("reg_files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="写出的镜像 YAML / image YAML to write")
@click.option("--os", "os_name", type=click.Choice(["win10", "win11", "win7"]), default="win10",
              show_default=True, help="导出中没有的系统信息取自该内置镜像 / os facts not in the export come from this shipped image")
@click.option("--arch", type=click.Choice(["x64", "x86"]), default=None,
              help="系统架构（默认：导出中有 WOW6432Node 即 x64）/ architecture (default: x64 when the export has WOW6432Node)")
@click.option("--hostname", default=None, help="计算机名（默认取自导出）/ computer name (default: from the export)")
@click.option("--user-sid", default=None,
              help="HKEY_CURRENT_USER 所属用户的 SID / SID of the HKEY_CURRENT_USER user")
@click.option("--user", "user_name", default=None,
              help="该用户的 域\\用户名 / that user's DOMAIN\\name")
@click.option("--force", is_flag=True, help="覆盖已有文件 / overwrite an existing file")
def from_reg(reg_files: tuple[Path, ...], out: Path, *, os_name: str, arch: str | None,
             hostname: str | None, user_sid: str | None, user_name: str | None,
             force: bool) -> None:
    """由真实电脑导出的 .reg 文件生成镜像 / build an image from a real PC's .reg exports.

    在真实电脑上用 reg export 导出键（UTF-16），再在模拟器上演练扫描、修复与回滚。
    Export keys on the real PC with `reg export`, then rehearse scan, fix and rollback
    on the simulated copy.
    """
    from fleetcheck.sim import regimport
    from fleetcheck.sim.image import ImageError, image_yaml_from_reg, load_spec

    if out.exists() and not force:
        fail(T(f"{out} 已存在；用 --force 覆盖。", f"{out} exists; use --force to overwrite it."),
             EXIT_USAGE)
    try:
        regs = [regimport.read_reg_file(path) for path in reg_files]
        text, trees = image_yaml_from_reg(
            regs, os_name=os_name, hostname=hostname, arch=arch, user_sid=user_sid,
            user=user_name)
    except regimport.RegImportError as exc:
        fail(T(f"无法导入：{exc.text.zh}", f"Cannot import: {exc.text.en}"), EXIT_USAGE)
    for reg in regs:
        keys, values = reg.counts()
        say(T(f"{reg.name}：{keys} 个键，{values} 个值",
              f"{reg.name}: {keys} keys, {values} values"))
    notes = trees.notes.lines()
    for line in notes[:MAX_NOTES_SHOWN]:
        say(T(f"  注意：{line}", f"  note: {line}"), err=True)
    if len(notes) > MAX_NOTES_SHOWN:
        say(T(f"  …另有 {len(notes) - MAX_NOTES_SHOWN} 类", f"  … and {len(notes) - MAX_NOTES_SHOWN} more kinds"),
            err=True)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(T(f"无法写入 {out}（{exc.strerror}）", f"Cannot write {out} ({exc.strerror})"),
             EXIT_USAGE)
    try:
        spec = load_spec(out)
    except ImageError as exc:  # a defect of from-reg itself: say so plainly
        fail(T(f"生成的镜像无法加载（请报告此问题）：{exc.format('zh')}",
               f"The written image does not load (please report this): {exc.format('en')}"), EXIT_USAGE)
    say(T(
        f"已写出镜像 {out}：{len(spec.registry)} 个机器键，{len(spec.profiles)} 个用户配置文件"
        f"（系统 {spec.os.caption}，{spec.os.arch}）",
        f"Wrote image {out}: {len(spec.registry)} machine keys, {len(spec.profiles)} user "
        f"profile(s) ({spec.os.caption}, {spec.os.arch})",
    ))

@image.command("to-reg")
@click.argument("image_ref")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="写出的 .reg 文件（UTF-16，与 reg export 相同）/ .reg file to write (UTF-16, as reg export)")
@click.option("--force", is_flag=True, help="覆盖已有文件 / overwrite an existing file")
def to_reg(image_ref: str, out: Path, force: bool) -> None:
    """把镜像的注册表导出为 .reg / export an image's registry as a .reg file.

    IMAGE_REF 为内置镜像名或 YAML 路径 / a shipped image name or a YAML path.
    """
    from fleetcheck.sim import regimport
    from fleetcheck.sim.image import ImageError, image_to_reg, instantiate

    if out.exists() and not force:
        fail(T(f"{out} 已存在；用 --force 覆盖。", f"{out} exists; use --force to overwrite it."),
             EXIT_USAGE)
    try:
        live = instantiate(Path(image_ref) if image_ref.endswith((".yaml", ".yml")) else image_ref)
    except ImageError as exc:
        fail(T(f"镜像有误：{exc.format('zh')}", f"Bad image: {exc.format('en')}"), EXIT_USAGE)
    text = image_to_reg(live)
    try:
        out.write_bytes(regimport.encode_reg_text(text))
    except OSError as exc:
        fail(T(f"无法写入 {out}（{exc.strerror}）", f"Cannot write {out} ({exc.strerror})"),
             EXIT_USAGE)
    reg = regimport.parse_reg(text, str(out))
    keys, values = reg.counts()
    say(T(f"已写出 {out}：{keys} 个键，{values} 个值", f"Wrote {out}: {keys} keys, {values} values"))
