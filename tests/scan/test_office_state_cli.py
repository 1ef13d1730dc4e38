"""The office as it stands (issue 14, acceptance 1): after a full scan and a one-host ``--limit``
scan, ``certs``, the report, the dashboard overview and the scan's notification still cover every
PC, each with the time it was observed; the limited PC shows its newer observation."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.sim.office import OfficeSpec, start_office
from fleetcheck.store import Store

pytestmark = pytest.mark.sim

PASSWORD = "Office-State-WinRM-31"
HOSTS = ["PC-OS-1", "PC-OS-2", "PC-OS-3"]
DAYS_LEFT = 20  # every certificate expires within 30 days: `certs --expiring 30` lists all three


@dataclass
class Office:
    root: Path
    inventory: Path
    db: Path
    notify: Path
    received: list[dict[str, Any]]


def _hook(received: list[dict[str, Any]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _cli(*args: str, lang: str = "zh") -> Result:
    result = CliRunner().invoke(main, ["--lang", lang, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    root = tmp_path_factory.mktemp("officestate")
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 0, "agent_ms": 1}},
        "groups": [{"name": "os", "image": "win10-compliant", "count": 3, "vars": {
            "hostname": "PC-OS-${n}", "branch": "深圳", "operator": "TRADE\\交易员0${n}",
            "operator_name": "交易员0${n}", "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-100${n}",
            "gateway_cert": "F00504Y000${n}#0", "cert_kind": "file", "cert_days_left": DAYS_LEFT}}],
    })
    received: list[dict[str, Any]] = []
    server = _hook(received)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    notify = root / "notify.yaml"
    notify.write_text("notify_on: always\nchannels:\n  - type: webhook\n"
                      f"    url: http://127.0.0.1:{server.server_address[1]}/hook\n", encoding="utf-8")
    try:
        with start_office(spec, root / "sim", first_address=worker_address("127.0.139.1"), now=datetime.now(timezone.utc)) as running:
            inventory = running.write_inventory(root / "inventory.yaml")
            office = Office(root, inventory, root / "history.db", notify, received)
            common = ("-i", str(inventory), "--db", str(office.db), "--timeout", "30", "--notify", str(notify))
            full = _cli("scan", *common, "--out", str(root / "full"))
            assert full.exit_code in (0, 1), full.output
            limited = _cli("scan", *common, "--limit", "PC-OS-2", "--out", str(root / "limited"))
            assert limited.exit_code in (0, 1), limited.output
            yield office
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_limit_run_is_recorded_as_partial(office: Office) -> None:
    with Store.open(f"sqlite:///{office.db}") as store:
        newest, first = store.list_runs()
        assert (newest.scope, newest.hosts_planned, newest.partial) == ("limit", 1, True)
        assert (first.scope, first.hosts_planned, first.partial) == ("office", 3, False)
        state = store.office_state()
    assert state is not None and sorted(state.observations) == HOSTS
    assert state.observations["PC-OS-2"].run_id == newest.run_id
    assert state.observations["PC-OS-1"].run_id == first.run_id


def test_certs_cover_every_pc_with_its_observation_time(office: Office) -> None:
    result = _cli("certs", "--db", str(office.db), "--expiring", "30", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["office"] is True
    seen = {c["host"]: c["observed"] for c in data["certificates"]}
    assert sorted(seen) == HOSTS
    assert all(seen.values())
    assert seen["PC-OS-2"] > seen["PC-OS-1"]  # ISO 8601 UTC: the one-host scan came later
    table = _cli("certs", "--db", str(office.db), "--expiring", "30")
    assert all(h in table.stdout for h in HOSTS), table.stdout
    one_run = _cli("certs", "--db", str(office.db), "--run", "latest", "--format", "json")
    assert [c["host"] for c in json.loads(one_run.stdout)["certificates"]] == ["PC-OS-2"]


def test_the_report_is_the_office_state(office: Office) -> None:
    out = office.root / "report.json"
    result = _cli("report", "--db", str(office.db), "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "办公室现状" in result.stdout
    model = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(h["host"] for h in model["hosts"]) == HOSTS
    assert model["office"]["sources"] == 2 and model["office"]["stale_hosts"] == []
    assert all(h["observed"] and h["observed_run"] for h in model["hosts"])
    # the HTML the --limit scan itself wrote is of the whole office too
    html = (office.root / "limited" / "report.html").read_text(encoding="utf-8")
    assert all(f'data-host="{h}"' in html for h in HOSTS) and 'id="office-state"' in html


def test_the_notification_after_a_limit_scan_covers_every_pc(office: Office) -> None:
    assert len(office.received) == 2
    after_limit = office.received[1]["digest"]
    assert after_limit["total_hosts"] == 3
    certs = {c["host"]: c for c in after_limit["expiring_certificates"]}
    assert sorted(certs) == HOSTS and all(c["observed"] for c in certs.values())
    assert certs["PC-OS-1"]["observed"] < certs["PC-OS-2"]["observed"]  # read by the full scan, before


def test_the_dashboard_overview_shows_every_pc(office: Office) -> None:
    from starlette.testclient import TestClient

    from fleetcheck.web.app import create_app
    from fleetcheck.web.auth import Credentials, hash_password
    from fleetcheck.web.fleet import Fleet, FleetSettings

    fleet = Fleet(FleetSettings(db_url=f"sqlite:///{office.db}"))
    try:
        app = create_app(fleet, Credentials(users={"admin": hash_password("office state")}))
        with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert csrf
            client.post("/login", data={"csrf": csrf.group(1), "username": "admin", "password": "office state",
                                        "next": "/"})
            overview = client.get("/").text
            assert all(h in overview for h in HOSTS), overview
            certificates = client.get("/certificates").text
            assert all(h in certificates for h in HOSTS)
            history = client.get("/history").text
            assert 'data-scope="limit">部分（--limit）' in history and 'data-scope="office">全部电脑' in history
            page = client.get("/hosts/PC-OS-1").text  # observed by the full scan, not the --limit one
            observed = re.search(r'<span id="host-observed" data-stale="no">(.*?)</span>', page)
            assert observed is not None, page
            with Store.open(f"sqlite:///{office.db}") as store:
                first = store.list_runs()[-1].run_id
            assert first in observed.group(1) and "Asia/Shanghai" in observed.group(1)
    finally:
        fleet.close()


def test_history_names_each_runs_scope(office: Office) -> None:
    result = _cli("history", "--db", str(office.db), "--format", "json")
    runs = json.loads(result.stdout)["runs"]
    assert [(r["scope"], r["partial"], r["hosts_planned"]) for r in runs] == [("limit", True, 1), ("office", False, 3)]
    assert runs[0]["scope_label"] == {"zh": "部分（--limit）", "en": "subset (--limit)"}
    table = _cli("history", "--db", str(office.db), lang="en")
    assert "subset (--limit)" in table.stdout and "whole office" in table.stdout
