"""``fleetcheck sim serve``: run a simulated office on loopback until Ctrl-C / SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click

from fleetcheck.commands.common import EXIT_USAGE, fail, say
from fleetcheck.i18n import T
from fleetcheck.sim.office import OfficeError, RunningOffice, start_office

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


def register(main: click.Group) -> None:
    @main.group("sim")
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
    def serve(office_path: Path, inventory_out: Path, state_dir: Path, first_address: str | None,
              prewarm: bool, duration: float) -> None:
        """启动模拟办公室并写出清单 / start a simulated office and write its inventory."""
        try:
            office = start_office(office_path, state_dir, first_address=first_address, prewarm=prewarm)
        except OfficeError as exc:
            fail(T(f"办公室文件有误：{exc.text.zh}", f"Bad office file: {exc.text.en}"), EXIT_USAGE)
        except OSError as exc:
            fail(T(
                f"无法监听模拟地址（{exc.strerror or exc}）；是否已有模拟器在运行？可用 --first-address 换一段地址。",
                f"Cannot listen on the simulated addresses ({exc.strerror or exc}); is another simulator "
                "running? Use --first-address to pick another range.",
            ), EXIT_USAGE)
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_signal)
        try:
            office.write_inventory(inventory_out)
            _summary(office, inventory_out)
            deadline = time.monotonic() + duration if duration > 0 else None
            while not stop.wait(0.5):
                if deadline is not None and time.monotonic() >= deadline:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            office.stop(timeout=10)
            say(T("模拟办公室已停止。", "Simulated office stopped."))
