"""Helpers of the distributed tests: a throwaway redis-server, worker processes, the demo office by branch."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetcheck.sim.office import OfficeSpec

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "fleetcheck" / "sim" / "offices" / "demo.yaml"
START_S = 30.0  # bound on any server or worker start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """A throwaway redis-server with append-only persistence (a broker restart keeps its queues)."""

    binary: str
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "yes",
                "--logfile", str(self.root / "redis.log")]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ends = time.monotonic() + START_S
        while time.monotonic() < ends:
            try:
                if self.client().ping():
                    return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_for_workers(broker: str, count: int, timeout_s: float = START_S) -> None:
    """Until ``count`` workers answer a ping (they consume once they answer)."""
    from fleetcheck.distributed.app import make_app

    app = make_app(broker)
    ends = time.monotonic() + timeout_s
    while time.monotonic() < ends:
        replies = app.control.ping(timeout=0.5) or []
        if len(replies) >= count:
            return
    raise RuntimeError(f"only {len(replies)} of {count} workers answered within {timeout_s} s")


def demo_spec_by_branch(branches: set[str]) -> OfficeSpec:
    """The demo office's groups of ``branches`` only (same images, faults, credentials)."""
    spec = OfficeSpec.load(DEMO)
    groups = [g for g in spec.groups if g.vars.get("branch") in branches]
    return spec.model_copy(update={"groups": groups})


@dataclass
class TwoBranchOffice:
    """The demo office served as two branch networks on two loopback ranges, one inventory."""

    inventory: Path
    hosts: list[str]


