"""``fleetcheck scan --notify`` against a small simulated office: notifications follow the sweep,
``notify_on: change`` stays quiet on an identical second sweep, and a dead channel changes
neither the results nor the exit code."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.notify import dispatch
from fleetcheck.sim.office import OfficeSpec, start_office

from .conftest import FakeSleep, free_port

pytestmark = pytest.mark.sim
PASSWORD = "Notify-Sweep-Secret-77"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 1, "agent_ms": 5}},
        "groups": [
            {"name": "ok", "image": "win10-compliant", "count": 2, "vars": {"hostname": "PC-NT-${n}"}},
            {"name": "down", "image": "win10-compliant", "count": 1, "faults": {"refuse": True},
             "vars": {"hostname": "PC-NT-DOWN-${n}"}},
        ],
    })
    state = tmp_path_factory.mktemp("office")
    with start_office(spec, state, first_address=worker_address("127.0.98.1"), now=datetime.now(timezone.utc)) as running:
        yield running.write_inventory(state / "inventory.yaml")


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_scan_notifies_once_per_change_and_a_dead_channel_changes_nothing(
    office: Path, hook: tuple[str, list[dict[str, Any]]], tmp_path: Path, fake_sleep: FakeSleep,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A down SMTP server (nothing listens on the port): retried with backoff (no real waiting
    # here), reported once, and the sweep's results and exit code are untouched.
    monkeypatch.setattr(dispatch, "RetryPolicy", fake_sleep.policy)
    url, received = hook
    config = tmp_path / "notify.yaml"
    config.write_text(
        "notify_on: change\n"
        "channels:\n"
        f"  - type: webhook\n    url: {url}\n"
        f"  - type: email\n    name: 死信箱\n    host: 127.0.0.1\n    port: {free_port()}\n    security: none\n"
        "    from: fc@example.com\n    to: [ops@example.com]\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["scan", "-i", str(office), "--timeout", "6", "--out", str(out), "--notify", str(config)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 3, first.output  # one host refused: exit 3, whatever the notifications did
    assert len(received) == 1 and received[0]["digest"]["total_hosts"] == 3
    assert received[0]["digest"]["unreachable_hosts"][0]["host"].startswith("PC-NT-DOWN")
    assert first.output.count("死信箱") == 1 and "扫描结果不受影响" in first.output
    assert "ConnectionRefusedError" in first.output and len(fake_sleep.delays) == 2  # 3 tries, 2 waits
    assert PASSWORD not in first.output
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["hosts"]

    second = CliRunner().invoke(main, args)
    assert second.exit_code == 3
    assert len(received) == 1  # identical sweep: nothing sent
    assert "无变化，未发送" in second.output


def test_bad_notify_config_stops_before_the_sweep(office: Path, tmp_path: Path) -> None:
    config = tmp_path / "notify.yaml"
    config.write_text("channels:\n  - type: email\n    host: h\n    password: plain\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", "-i", str(office), "--out", str(tmp_path / "o"), "--notify", str(config)])
    assert result.exit_code == 2 and "notify.yaml:4" in result.output and "不接受明文密码" in result.output
    assert not (tmp_path / "o" / "results.json").exists()
