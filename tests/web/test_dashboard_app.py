"""The dashboard app with Starlette's TestClient against a simulated office.

What a user would notice: login is required, every state-changing POST needs
the session and its CSRF token (else 403 and nothing changes), the overview
filters, the fix runs in the background, is audited under the logged-in user,
and a rescan afterwards shows the host compliant; during trading hours or with
a trading client running the fix is refused with the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from dashboard_support import (  # type: ignore[import-not-found]
    ADMIN_PASSWORD,
    AFTER_HOURS,
    COMPLIANT,
    FIXABLE,
    OFFLINE,
    TRADER,
    TRADING,
    Office,
    csrf_of,
    fixed_clock,
    login,
)
from starlette.testclient import TestClient

from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog
from fleetcheck.web.app import create_app
from fleetcheck.web.auth import Credentials, hash_password
from fleetcheck.web.fleet import Fleet, FleetSettings
from fleetcheck.web.jobs import JobBoard

pytestmark = pytest.mark.sim

ADMIN_HASH = hash_password(ADMIN_PASSWORD)
JOB_TIMEOUT_S = 30


@pytest.fixture()
def make_client(office: Office) -> Iterator[Callable[..., tuple[TestClient, Fleet, JobBoard]]]:
    opened: list[tuple[TestClient, Fleet]] = []

    def make(start: datetime = AFTER_HOURS, *, inventory: bool = True,
             credentials: Credentials | None = None) -> tuple[TestClient, Fleet, JobBoard]:
        fleet = Fleet(FleetSettings(db_url=office.db_url, inventory=office.inventory if inventory else None,
                                    clock=fixed_clock(start), timeout_s=20, literal_passwords_ok=True))
        board = JobBoard(workers=2)
        app = create_app(fleet, credentials or Credentials(users={"admin": ADMIN_HASH}), board=board)
        client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        client.__enter__()
        opened.append((client, fleet))
        return client, fleet, board

    yield make
    for client, fleet in opened:
        client.__exit__(None, None, None)
        fleet.close()


def _counts(office: Office) -> tuple[int, int]:
    with Store.open(office.db_url) as store:
        return len(store.list_runs()), len(AuditLog(store).entries())


def test_pages_need_login_and_login_sets_a_strict_httponly_cookie(make_client: Any) -> None:
    client, _, _ = make_client()
    for path in ("/", f"/hosts/{FIXABLE}", "/certificates", "/history", "/audit", f"/hosts/{FIXABLE}/preview"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    page = client.get("/login")
    bad = client.post("/login", data={"csrf": csrf_of(page.text), "username": "admin", "password": "wrong"})
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text
    good = client.post("/login", data={"csrf": csrf_of(bad.text), "username": "admin", "password": ADMIN_PASSWORD,
                                       "next": "/history"})
    assert good.status_code == 303 and good.headers["location"] == "/history"
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/history").status_code == 200


def test_login_refuses_an_open_redirect(make_client: Any) -> None:
    client, _, _ = make_client()
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "username": "admin",
                                           "password": ADMIN_PASSWORD, "next": "//evil.example/x"})
    assert response.headers["location"] == "/"


def test_security_headers_forbid_inline_script_and_framing(make_client: Any) -> None:
    client, _, _ = make_client()
    login(client)
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in response.text and "onclick" not in response.text


@pytest.mark.parametrize("path", [f"/hosts/{FIXABLE}/fix", f"/hosts/{FIXABLE}/rescan", "/groups/sz_fix/rescan",
                                  "/logout"])
def test_post_without_csrf_token_or_session_is_refused_and_changes_nothing(
        make_client: Any, office: Office, path: str) -> None:
    client, _, board = make_client()
    token = login(client)
    before = _counts(office)
    # logged in, but no token / a wrong token
    assert client.post(path).status_code == 403
    assert client.post(path, data={"csrf": "forged"}).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": token[:-1] + "x"}).status_code == 403
    # a valid token but no session (another browser, e.g. a cross-site form)
    stranger = TestClient(client.app, base_url="http://127.0.0.1", follow_redirects=False)
    assert stranger.post(path, headers={"X-CSRF-Token": token}).status_code == 403
    assert stranger.post(path, data={"csrf": token}).status_code == 403
    assert board.recent() == []
    assert _counts(office) == before
    assert client.get("/").status_code == 200  # still logged in: /logout was refused too


def test_login_post_needs_the_login_page_token(make_client: Any) -> None:
    client, _, _ = make_client()
    response = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 403
    assert client.get("/").status_code == 303


def test_overview_shows_the_office_and_filters(make_client: Any) -> None:
    client, _, _ = make_client()
    login(client)
    page = client.get("/").text
    assert 'id="compliance-pct">33.3%' in page  # 1 of 3 probed hosts compliant
    for name in (FIXABLE, TRADER, COMPLIANT, OFFLINE):
        assert f'data-host="{name}"' in page
    failing = client.get("/", params={"status": "failing"}).text
    assert f'data-host="{FIXABLE}"' in failing and f'data-host="{TRADER}"' in failing
    assert f'data-host="{COMPLIANT}"' not in failing and f'data-host="{OFFLINE}"' not in failing
    shanghai = client.get("/", params={"branch": "上海"}).text
    assert f'data-host="{TRADER}"' in shanghai and f'data-host="{FIXABLE}"' not in shanghai
    group = client.get("/", params={"group": "sz_ok"}).text
    assert f'data-host="{COMPLIANT}"' in group and f'data-host="{FIXABLE}"' not in group
    english = client.get("/", params={"lang": "en"})
    assert "Compliance" in english.text and "lang=en" in english.headers["set-cookie"]
    certs = client.get("/certificates").text  # the cookie keeps English
    assert '<html lang="en">' in certs and "Gateway certificate expiry" in certs


def test_fix_runs_in_background_is_audited_and_rescan_shows_compliant(make_client: Any, office: Office) -> None:
    client, _, board = make_client()
    token = login(client)
    preview = client.get(f"/hosts/{FIXABLE}/preview").text
    assert 'id="guard-ok"' in preview and 'id="fix-btn"' in preview and "disabled" not in preview
    assert "ZoneMap\\Domains\\sccc.com\\biz [https]" in preview  # the dry-run diff
    runs_before, _ = _counts(office)
    started = client.post(f"/hosts/{FIXABLE}/fix", headers={"X-CSRF-Token": token, "Accept": "application/json"})
    assert started.status_code == 202
    job = board.wait(started.json()["job"], JOB_TIMEOUT_S)
    assert job is not None and job.state == "done", job.view("en") if job else None
    view = client.get(f"/jobs/{job.id}.json").json()
    assert view["result"]["compliant"] is True and "now compliant" not in view["outcome"]  # zh by default
    assert "主机现已合规" in view["outcome"]
    host_page = client.get(f"/hosts/{FIXABLE}").text
    assert 'id="host-state" data-state="compliant"' in host_page
    with Store.open(office.db_url) as store:
        assert len(store.list_runs()) == runs_before + 1  # the automatic rescan was recorded
        entries = AuditLog(store).entries(host=FIXABLE)
        assert entries and all(e.who == "web:admin" for e in entries)
        assert [e.event for e in entries] == ["sent", "applied"]  # write-ahead, then the agent's answer
        assert AuditLog(store).verify() == []
    assert "web:admin" in client.get("/audit").text


def test_a_second_job_for_a_busy_host_answers_already_running(make_client: Any) -> None:
    client, _, board = make_client()
    token = login(client)
    release = threading.Event()
    blocker = board.submit("rescan", [FIXABLE], "web:other", lambda job: release.wait(JOB_TIMEOUT_S))
    try:
        second = client.post(f"/hosts/{FIXABLE}/fix", headers={"X-CSRF-Token": token, "Accept": "application/json"})
        assert second.status_code == 409
        assert second.json()["job"] == blocker.id and "已有任务在运行" in second.json()["error"]
        assert 'id="fix-busy"' in client.get(f"/hosts/{FIXABLE}/preview").text
    finally:
        release.set()
    board.wait(blocker.id, JOB_TIMEOUT_S)


def test_during_trading_hours_the_fix_is_refused_with_the_reason(make_client: Any, office: Office) -> None:
    client, _, board = make_client(TRADING)
    token = login(client)
    preview = client.get(f"/hosts/{FIXABLE}/preview").text
    assert 'id="fix-btn"' in preview and "disabled" in preview
    assert "交易时段内" in preview and "09:15–11:30" in preview
    english = client.get(f"/hosts/{FIXABLE}/preview", params={"lang": "en"}).text
    assert "inside a trading session" in english
    # Pressing it anyway (a crafted POST) is refused by the same guard, audited, nothing changed.
    started = client.post(f"/hosts/{FIXABLE}/fix", headers={"X-CSRF-Token": token, "Accept": "application/json"})
    job = board.wait(started.json()["job"], JOB_TIMEOUT_S)
    assert job is not None and job.state == "refused"
    with Store.open(office.db_url) as store:
        assert [e.event for e in AuditLog(store).entries(host=FIXABLE)] == ["refused"]
        assert AuditLog(store).entries(host=FIXABLE)[0].who == "web:admin"
    assert 'data-state="failing"' in client.get(f"/hosts/{FIXABLE}").text


def test_a_running_trading_client_refuses_the_fix_after_hours(make_client: Any) -> None:
    client, _, _ = make_client()
    login(client)
    preview = client.get(f"/hosts/{TRADER}/preview").text
    assert "disabled" in preview and "交易软件正在运行：TdxW.exe" in preview


def test_rescan_of_a_group_records_a_new_run(make_client: Any, office: Office) -> None:
    client, _, board = make_client()
    token = login(client)
    runs_before, _ = _counts(office)
    started = client.post("/groups/sh_tdx/rescan", data={"csrf": token})
    assert started.status_code == 303
    job = board.wait(started.headers["location"].rsplit("/", 1)[1], JOB_TIMEOUT_S)
    assert job is not None and job.state == "done" and job.hosts == [TRADER]
    assert _counts(office)[0] == runs_before + 1
    history = client.get("/history").text
    assert history.count('<td class="mono">') == runs_before + 1
    assert client.get(f"/jobs/{job.id}").status_code == 200


def test_token_login_when_no_password_is_configured(make_client: Any) -> None:
    client, _, _ = make_client(credentials=Credentials(token="tok-123"))
    page = client.get("/login")
    assert "令牌" in page.text
    assert client.post("/login", data={"csrf": csrf_of(page.text), "username": "li", "password": "nope"}).status_code == 401
    ok = client.post("/login", data={"csrf": csrf_of(page.text), "username": "li", "password": "tok-123"})
    assert ok.status_code == 303
    assert "li (token)" in client.get("/").text


def test_read_only_without_inventory_and_unknown_hosts(make_client: Any) -> None:
    client, _, board = make_client(inventory=False)
    token = login(client)
    page = client.get(f"/hosts/{FIXABLE}").text
    assert "只读模式" in page and 'id="fix-btn"' not in page and 'id="rescan-btn"' not in page
    refused = client.post(f"/hosts/{FIXABLE}/fix", headers={"X-CSRF-Token": token, "Accept": "application/json"})
    assert refused.status_code == 409 and board.recent() == []
    assert client.get("/hosts/NO-SUCH-PC").status_code == 404


def test_hostile_values_from_hosts_stay_text(tmp_path: Any) -> None:
    """Certificate names, users and observed values from PCs are escaped on every page."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))
    from report_factory import XSS, golden_run  # type: ignore[import-not-found]

    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    with Store.open(db_url) as store:
        store.record_run(golden_run(), certificates=())
    fleet = Fleet(FleetSettings(db_url=db_url))
    try:
        with TestClient(create_app(fleet, Credentials(users={"admin": ADMIN_HASH})), base_url="http://127.0.0.1",
                        follow_redirects=False) as client:
            login(client)
            for path in ("/", "/hosts/pc-sh-008", "/certificates"):
                page = client.get(path).text
                assert XSS not in page, path
            assert "&lt;img src=x onerror=alert(1)&gt;" in client.get("/hosts/pc-sh-008").text
            assert "&lt;img src=x onerror=alert(1)&gt;" in client.get("/certificates").text
    finally:
        fleet.close()
