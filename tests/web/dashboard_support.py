"""Helpers of the dashboard tests: a small simulated office, a recorded scan, a logged-in client.

Clocks: ``AFTER_HOURS`` is a Wednesday 20:00 in Shanghai (changes allowed),
``TRADING`` the same Wednesday 10:00 (inside the morning session). The office's
certificates are made relative to the same day, so the evaluation agrees.
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from xdist_support import worker_address

from fleetcheck.inventory import PasswordSources, load_inventory
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.runner import policy_sweep
from fleetcheck.sim.office import OfficeSpec, start_office
from fleetcheck.store import Store

HERE = Path(__file__).resolve().parent
AFTER_HOURS = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)  # Wed 20:00 Asia/Shanghai
TRADING = datetime(2026, 3, 4, 2, 0, tzinfo=timezone.utc)  # Wed 10:00 Asia/Shanghai
PASSWORD = "Web-Test-Secret-31"
ADMIN_PASSWORD = "correct horse battery"
FIXABLE = "PC-FIX-1"  # fails R2, no trading client: fixable after hours
TRADER = "PC-TDX-1"  # fails R2 with TdxW.exe running: always refused
COMPLIANT = "PC-OK-1"
OFFLINE = "PC-OFF-1"
_blocks = itertools.count(1)


def office_spec() -> OfficeSpec:
    return OfficeSpec.model_validate({
        "name": "web test office",
        "defaults": office_defaults(),
        "groups": [
            {"name": "sz_ok", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-OK-${n}", "branch": "深圳"}},
            {"name": "sz_fix", "image": str(HERE / "images" / "after-hours-no-trusted-site.yaml"), "count": 1,
             "vars": {"hostname": "PC-FIX-${n}", "branch": "深圳"}},
            {"name": "sh_tdx", "image": "win10-trading-no-trusted-site", "count": 1, "vars": {"hostname": "PC-TDX-${n}", "branch": "上海"}},
            {"name": "sh_off", "image": "win10-compliant", "count": 1, "faults": {"refuse": True},
             "vars": {"hostname": "PC-OFF-${n}", "branch": "上海"}},
        ],
    })


def office_defaults() -> dict[str, Any]:
    """Credentials, quick faults and the variables every test office's PCs share."""
    vars_ = {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
             "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}",
             "gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"}
    return {"credentials": {"user": "TRADE\\fcadmin", "password": PASSWORD},
            "faults": {"latency_ms": 1, "agent_ms": 10}, "vars": vars_}


def fixed_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``start`` and runs on (so runs recorded later sort later)."""
    import time

    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


@dataclass
class Office:
    inventory: Path
    db_url: str
    state: Path


def _office_fixture(tmp_path: Path, spec: OfficeSpec | None = None,
                    scanned: Callable[[str], bool] = lambda name: True) -> Iterator[Office]:
    """A fresh office (default: the 4 PCs of :func:`office_spec`; fixes change it) with one scan
    of the hosts ``scanned`` accepts recorded in a fresh store."""
    first = worker_address(f"127.0.{90 - next(_blocks) % 20}.1")
    state = tmp_path / "office"
    with start_office(spec or office_spec(), state, now=AFTER_HOURS, first_address=first) as running:
        inv_path = running.write_inventory(tmp_path / "inventory.yaml")
        inventory = load_inventory(inv_path, PasswordSources(literal_ok=True))
        policies = load_policies(shipped_policy_paths())
        hosts = [h for name, h in inventory.hosts.items() if scanned(name)]
        sweep = policy_sweep(policies, hosts, forks=4, timeout_s=20,
                             clock=fixed_clock(AFTER_HOURS - timedelta(hours=1)), inventory=str(inv_path))
        db_url = f"sqlite:///{tmp_path / 'history.db'}"
        with Store.open(db_url) as store:
            store.record_run(sweep.run().run, certificates=())
        yield Office(inv_path, db_url, state)


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(client: Any, user: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    """Log ``client`` in; returns the session's CSRF token."""
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "username": user, "password": password,
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """``app`` under uvicorn in a thread on 127.0.0.1 and a free port; yields its base URL; stops within seconds."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="dashboard-under-test", daemon=True)
    thread.start()
    for _ in range(200):  # at most ~10 s
        if server.started:
            break
        thread.join(0.05)
    assert server.started, "the dashboard did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
