"""The dashboard honours waivers (``waivers:`` in the serve config): Fix never changes a waived check,
the preview says which checks are waived, an expired waiver is not honoured and said to be."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import AFTER_HOURS, FIXABLE, Office, fixed_clock, login  # type: ignore[import-not-found]
from starlette.testclient import TestClient

from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog
from fleetcheck.web.app import create_app
from fleetcheck.web.auth import Credentials, hash_password
from fleetcheck.web.config import ServeConfigError, load_serve_config
from fleetcheck.web.fleet import DashboardError, Fleet, FleetSettings
from fleetcheck.web.jobs import JobBoard

ADMIN = "correct horse battery"
JOB_TIMEOUT_S = 30


def _waivers(tmp_path: Path, expires: str, check: str = "portal-trusted-site") -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n"
                    f"  - check: {check}\n    hosts: [{FIXABLE}]\n    reason: 该机只做查询\n"
                    f"    approver: 张三\n    expires: {expires}\n", encoding="utf-8")
    return path


@pytest.fixture()
def make_client(office: Office) -> Iterator[Callable[[Path], tuple[TestClient, JobBoard]]]:
    opened: list[tuple[TestClient, Fleet]] = []

    def make(waivers: Path) -> tuple[TestClient, JobBoard]:
        fleet = Fleet(FleetSettings(db_url=office.db_url, inventory=office.inventory, clock=fixed_clock(AFTER_HOURS),
                                    timeout_s=20, literal_passwords_ok=True, waivers=waivers))
        board = JobBoard(workers=1)
        client = TestClient(create_app(fleet, Credentials(users={"admin": hash_password(ADMIN)}), board=board),
                            base_url="http://127.0.0.1", follow_redirects=False)
        client.__enter__()
        opened.append((client, fleet))
        return client, board

    yield make
    for client, fleet in opened:
        client.__exit__(None, None, None)
        fleet.close()


@pytest.mark.sim
def test_fix_from_the_dashboard_leaves_a_waived_check_alone(
        make_client: Any, office: Office, tmp_path: Path) -> None:
    client, board = make_client(_waivers(tmp_path, "2026-12-31"))
    token = login(client, password=ADMIN)
    preview = client.get(f"/hosts/{FIXABLE}/preview").text
    assert 'id="waived"' in preview and 'data-check="portal-trusted-site"' in preview
    assert "已豁免至 2026-12-31：该机只做查询（批准：张三），不做修改" in preview
    assert "ZoneMap\\Domains\\sccc.com\\biz" not in preview and 'id="fix-btn"' not in preview  # nothing planned
    english = client.get(f"/hosts/{FIXABLE}/preview", params={"lang": "en"}).text
    assert "waived until 2026-12-31: 该机只做查询 (approver 张三); not changed" in english
    # A crafted POST changes nothing either: no command is sent to the PC.
    started = client.post(f"/hosts/{FIXABLE}/fix", headers={"X-CSRF-Token": token, "Accept": "application/json"})
    job = board.wait(started.json()["job"], JOB_TIMEOUT_S)
    assert job is not None and job.state == "done", job.view("en") if job else None
    assert "waived, left alone: portal-trusted-site" in client.get(f"/jobs/{job.id}.json").json()["outcome"]
    with Store.open(office.db_url) as store:
        assert AuditLog(store).entries(host=FIXABLE) == []
        latest = store.load_run("latest")
    host = next(h for h in latest.hosts if h.host == FIXABLE)
    waived = next(f for f in host.findings if f.check_id == "portal-trusted-site")
    assert waived.status.value == "waived" and waived.waiver and waived.waiver["expires"] == "2026-12-31"


@pytest.mark.sim
def test_an_expired_waiver_is_not_honoured_and_the_preview_says_so(
        make_client: Any, tmp_path: Path) -> None:
    client, _ = make_client(_waivers(tmp_path, "2026-03-01"))  # the clock is 2026-03-04
    login(client, password=ADMIN)
    preview = client.get(f"/hosts/{FIXABLE}/preview").text
    assert "豁免已于 2026-03-01 过期，不再生效，照常修复" in preview
    assert "ZoneMap\\Domains\\sccc.com\\biz [https]" in preview and 'id="fix-btn"' in preview


def test_a_bad_waivers_file_stops_the_dashboard_at_its_position(office: Office, tmp_path: Path) -> None:
    bad = _waivers(tmp_path, "2026-02-30")
    with pytest.raises(DashboardError) as caught:
        Fleet(FleetSettings(db_url=office.db_url, inventory=office.inventory, waivers=bad, literal_passwords_ok=True))
    assert f"{bad}:6:14" in caught.value.text.en
    unknown = _waivers(tmp_path, "2026-12-31", check="no-such-check")
    with pytest.raises(DashboardError) as caught:
        Fleet(FleetSettings(db_url=office.db_url, inventory=office.inventory, waivers=unknown, literal_passwords_ok=True))
    assert f"{unknown}:2:12" in caught.value.text.en and "no-such-check" in caught.value.text.en


def test_serve_config_waivers_key_is_resolved_beside_the_config(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "waivers.yaml").write_text("waivers: []\n", encoding="utf-8")
    config = folder / "serve.yaml"
    config.write_text("waivers: waivers.yaml\n", encoding="utf-8")
    assert load_serve_config(config)["waivers"] == str((folder / "waivers.yaml").resolve())
    config.write_text("trading_processes: [TdxW.exe]\nwaivers: missing.yaml\n", encoding="utf-8")
    with pytest.raises(ServeConfigError) as caught:
        load_serve_config(config)
    assert f"{config}:2:10" in caught.value.format("en") and "missing.yaml" in caught.value.format("en")
    config.write_text("waivers: [a, b]\n", encoding="utf-8")
    with pytest.raises(ServeConfigError) as caught:
        load_serve_config(config)
    assert f"{config}:1:10" in caught.value.format("en") and "waivers must be the path" in caught.value.format("en")


def test_serve_reads_the_waivers_of_its_config(tmp_path: Path) -> None:
    # fleetcheck serve --config passes the waivers file to the dashboard: a bad date stops it at its position.
    from click.testing import CliRunner

    from fleetcheck.cli import main

    bad = _waivers(tmp_path, "2026-02-30")
    config = tmp_path / "serve.yaml"
    config.write_text(f"waivers: {bad.name}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "serve", "--db", str(tmp_path / "h.db"), "--config", str(config)])
    assert result.exit_code == 2 and f"{bad.resolve()}:6:14" in result.output, result.output
    assert "Traceback" not in result.output


def test_every_documented_config_key_is_accepted(tmp_path: Path) -> None:
    # README's dashboard.yaml lists session_hours and waivers: the loader must take them.
    (tmp_path / "waivers.yaml").write_text("waivers: []\n", encoding="utf-8")
    config = tmp_path / "dashboard.yaml"
    config.write_text("session_hours: 4\ntrading_processes: [TdxW.exe]\nwaivers: waivers.yaml\n", encoding="utf-8")
    loaded = load_serve_config(config)
    assert loaded["session_hours"] == 4 and loaded["trading_processes"] == ["TdxW.exe"]
