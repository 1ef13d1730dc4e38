"""Acceptance in real Chromium (Debian's): log in, open a failing host, Fix, confirm, watch it finish,
see it compliant after the automatic rescan; during trading hours the button says why it is refused.

The app runs under uvicorn in a thread on 127.0.0.1 and a free port, over a
simulated office with one scan recorded (tests/web/dashboard_support.py).
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import (  # type: ignore[import-not-found]
    ADMIN_PASSWORD,
    AFTER_HOURS,
    FIXABLE,
    TRADING,
    Office,
    fixed_clock,
    serve_app,
)

from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog
from fleetcheck.web.app import create_app
from fleetcheck.web.auth import Credentials, hash_password
from fleetcheck.web.fleet import Fleet, FleetSettings

pytestmark = [pytest.mark.browser, pytest.mark.sim]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def serving(office: Office, start: datetime) -> Iterator[str]:
    """The dashboard of ``office`` under uvicorn in a thread (``serve_app``); yields its base URL."""
    fleet = Fleet(FleetSettings(db_url=office.db_url, inventory=office.inventory, clock=fixed_clock(start),
                                timeout_s=20, literal_passwords_ok=True))
    app = create_app(fleet, Credentials(users={"admin": hash_password(ADMIN_PASSWORD)}), workers=2)
    try:
        with serve_app(app) as url:
            yield url
    finally:
        fleet.close()


@pytest.fixture()
def browser_page(chromium: str) -> Iterator[Callable[[], Any]]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS, timeout=30_000)
        pages: list[Any] = []

        def new_page() -> Any:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.errors = []
            page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            pages.append(page)
            return page

        try:
            yield new_page
        finally:
            browser.close()


def _log_in(page: Any, base: str) -> None:
    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(base + "/")


def test_fix_a_failing_host_from_the_browser(office: Office, browser_page: Any, artifacts_dir: Path) -> None:
    page = browser_page()
    with serving(office, AFTER_HOURS) as base:
        _log_in(page, base)
        assert page.locator("#compliance-pct").text_content() == "33.3%"
        page.screenshot(path=str(artifacts_dir / "dashboard-overview.png"), full_page=True)
        page.select_option("#f-status", "failing")  # the filter applies on change
        page.wait_for_url("**status=failing**")
        assert page.locator("tr.host-row").count() == 2
        page.click(f'tr.host-row[data-host="{FIXABLE}"] a')
        page.wait_for_url(f"**/hosts/{FIXABLE}")
        assert page.locator("#host-state").get_attribute("data-state") == "failing"
        page.wait_for_selector("#guard-ok")
        assert "sccc.com\\biz [https]" in page.locator("#plan").text_content()
        page.screenshot(path=str(artifacts_dir / "dashboard-host-before-fix.png"), full_page=True)
        page.click("#fix-btn")
        assert page.locator("#fix-dialog").is_visible()
        page.screenshot(path=str(artifacts_dir / "dashboard-fix-confirm.png"))
        page.click("#fix-confirm")
        # live progress, then the page reloads showing the automatic rescan's verdict
        page.wait_for_selector("#job-progress li")
        page.locator('#host-state[data-state="compliant"]').wait_for(timeout=30_000)
        assert "主机现已合规" in page.locator("#job-outcome").text_content()
        assert page.locator("#job-state").get_attribute("data-state") == "done"
        assert page.locator("#job-state").text_content() == "已完成"
        page.screenshot(path=str(artifacts_dir / "dashboard-host-after-fix.png"), full_page=True)
        page.click("text=审计")
        assert "web:admin" in page.locator("table.audit").text_content()
        assert page.locator("#audit-intact").is_visible()
        assert page.errors == []
    with Store.open(office.db_url) as store:
        entries = AuditLog(store).entries(host=FIXABLE)
        assert [e.event for e in entries] == ["sent", "applied"] and {e.who for e in entries} == {"web:admin"}


def test_during_trading_hours_the_fix_button_says_why(office: Office, browser_page: Any, artifacts_dir: Path) -> None:
    page = browser_page()
    with serving(office, TRADING) as base:
        _log_in(page, base)
        page.goto(f"{base}/hosts/{FIXABLE}?lang=en")
        page.wait_for_selector("#fix-refused")
        assert page.locator("#fix-btn").is_disabled()
        why = page.locator("#fix-refused").text_content()
        assert "inside a trading session" in why and "09:15–11:30" in why
        page.screenshot(path=str(artifacts_dir / "dashboard-trading-hours.png"), full_page=True)
        page.click("#fix-btn", force=True)  # a disabled button does nothing
        assert not page.locator("#fix-dialog").is_visible()
        assert page.errors == []
    with Store.open(office.db_url) as store:
        assert AuditLog(store).entries(host=FIXABLE) == []


def test_after_a_cli_fix_the_host_page_shows_the_fixed_state(office: Office, browser_page: Any,
                                                              artifacts_dir: Path) -> None:
    """The README's walkthrough: `fix --apply` on the command line, then the dashboard on the same
    database. Fix records what it verified, so the host page shows the PC fixed, not the scan before."""
    from click.testing import CliRunner

    from fleetcheck.cli import main

    db = office.db_url.removeprefix("sqlite:///")
    fixed = CliRunner().invoke(main, ["--lang", "en", "fix", FIXABLE, "-i", str(office.inventory), "--apply",
                                      "--db", db, "--now", AFTER_HOURS.isoformat(), "--timeout", "20"])
    assert fixed.exit_code == 0, fixed.output
    page = browser_page()
    with serving(office, AFTER_HOURS) as base:
        _log_in(page, base)
        page.goto(f"{base}/hosts/{FIXABLE}")
        assert page.locator("#host-state").get_attribute("data-state") == "compliant"
        page.screenshot(path=str(artifacts_dir / "dashboard-host-after-cli-fix.png"), full_page=True)
        page.goto(base + "/")
        assert page.locator("#compliance-pct").text_content() == "66.7%"  # 2 of 3 probed PCs now
        assert page.errors == []
