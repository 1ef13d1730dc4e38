"""The HTML report in real Chromium: filtering, reading a host, and no script injection."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_factory import XSS, golden_run  # type: ignore[import-not-found]
from xdist_support import worker_address

from fleetcheck.report.model import build_report
from fleetcheck.report.render import write_report

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture()
def page(chromium: str):  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS, timeout=30_000)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            pg = context.new_page()
            pg.set_default_timeout(10_000)
            pg.dialogs: list[str] = []  # type: ignore[attr-defined,misc]
            pg.console_errors: list[str] = []  # type: ignore[attr-defined,misc]
            pg.requests: list[str] = []  # type: ignore[attr-defined,misc]
            pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
            pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
            pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))  # type: ignore[attr-defined]
            pg.on("request", lambda r: pg.requests.append(r.url))  # type: ignore[attr-defined]
            yield pg
        finally:
            browser.close()


def _open(page, tmp_path: Path, lang: str = "zh") -> Path:  # type: ignore[no-untyped-def]
    out = write_report(build_report(golden_run(), lang=lang), "html", tmp_path / "report.html")  # type: ignore[arg-type]
    page.goto(out.as_uri())
    return out


def test_filter_failing_and_read_a_host(page, tmp_path: Path, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    out = _open(page, tmp_path)
    assert page.locator("#compliance-pct").text_content() == "14.3%"
    assert page.locator("#f-shown").text_content() == "9"
    page.select_option("#f-status", "failing")
    visible = page.locator("details.host:not([hidden])")
    assert visible.count() == 6
    assert page.locator("#f-shown").text_content() == "6"
    assert page.locator('details.host[data-host="pc-sz-004"]').is_hidden()

    host = page.locator('details.host[data-host="pc-sz-003"]')
    host.locator("summary").click()
    assert host.get_attribute("open") is not None
    finding = host.locator(".finding").filter(has_text="下载未签名的 ActiveX 控件")
    assert finding.locator(".observed").text_content() == "3 (Disable)"
    assert finding.locator(".remedy").text_content() == "将受信任站点 1004 设为 0（启用），否则导致错误 1：控件缺失。"
    assert finding.locator("code.cmd").text_content() == "fleetcheck fix pc-sz-003 -i inventory.yaml"
    host.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "report-failing-host.png"), full_page=False)

    page.select_option("#f-status", "unreachable")
    assert page.locator("#f-shown").text_content() == "2"
    page.select_option("#f-status", "all")
    page.select_option("#f-branch", "深圳总部")
    assert page.locator("#f-shown").text_content() == "4"
    page.select_option("#f-branch", "")
    page.fill("#f-search", "certenroll")
    assert page.locator("#f-shown").text_content() == "2"  # hosts failing CertEnroll
    assert page.dialogs == [] and page.console_errors == []  # type: ignore[attr-defined]
    assert all(u.startswith("file://") for u in page.requests)  # type: ignore[attr-defined]
    assert out.stat().st_size < 200_000


def test_hostile_certificate_and_user_names_stay_text(page, tmp_path: Path, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    _open(page, tmp_path, lang="en")
    host = page.locator('details.host[data-host="pc-sh-008"]')
    host.locator("summary").click()
    observed = host.locator(".finding").filter(has_text="CertEnroll").locator(".observed")
    assert observed.text_content() == XSS
    row = page.locator("#certificates tr").filter(has_text="pc-sh-008")
    assert row.locator("td").nth(2).text_content() == XSS  # user
    assert row.locator("td").nth(3).text_content() == XSS  # subject CN
    assert page.locator("img").count() == 0
    host.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "report-hostile-names.png"), full_page=False)
    page.wait_for_timeout(200)  # give a would-be onerror handler the chance to fire
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_demo_report_opens_offline_and_reads_right(page, tmp_path: Path, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """What `fleetcheck demo` writes, opened as a user would: offline, filtered, one host read."""
    from click.testing import CliRunner

    from fleetcheck.cli import main

    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--first-address", worker_address("127.0.151.1")])
    assert result.exit_code == 3, result.output  # two demo PCs are unreachable by design
    report = out / "report.html"
    assert str(report) in result.output  # the demo prints where the report is
    page.goto(report.as_uri())
    assert page.locator("h1").text_content() == "深证通证书更新环境合规报告"
    page.select_option("#f-status", "failing")
    shown = int(page.locator("#f-shown").text_content())
    assert 0 < shown < 40
    host = page.locator('details.host[data-host="SZ-NTS-01"]')
    assert host.is_visible()
    host.locator("summary").click()
    finding = host.locator(".finding").filter(has_text="https://biz.sccc.com 已加入受信任站点")
    assert "受信任的站点" in finding.locator(".remedy").text_content()
    assert finding.locator("code.cmd").text_content().startswith("fleetcheck fix SZ-NTS-01 -i ")
    assert page.locator('details.host[data-host="SZ-W10-01"]').is_hidden()  # compliant: filtered out
    host.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "demo-report-failing-host.png"), full_page=False)
    assert page.dialogs == [] and page.console_errors == []  # type: ignore[attr-defined]
    assert all(u.startswith("file://") for u in page.requests)  # type: ignore[attr-defined]
