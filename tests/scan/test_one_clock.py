"""One clock (issue 14, acceptance 2): a certificate's expiry is the OFFICE date everywhere.

A simulated PC's gateway certificate expires at 20:00 UTC, which is 04:00 the
next day in Shanghai. The scan summary, ``certs``, the HTML report, the
dashboard's certificates page, a rendered notification and the ``renew`` dry
run must all print the same office date, never the UTC date; and every time
they print (``YYYY-MM-DD HH:MM``) names its zone right after it
(``2026-12-12 04:00 Asia/Shanghai``, README "Time / 时间").

The clock: the office's certificates are made relative to a ``now`` at 20:00
UTC a day before the real time (scan has no ``--now``: it runs on the real
clock), so the expiry is ``NOW + 10 days`` at 20:00 UTC — e.g. 2026-12-11T20:00Z,
office date 2026-12-12 — whatever day the test runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.notify.digest import build_digest, render_html, render_markdown, render_text
from fleetcheck.sim import certgen
from fleetcheck.sim.office import OfficeSpec, start_office
from fleetcheck.store import Store

pytestmark = pytest.mark.sim

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = (datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=20, minute=0, second=0, microsecond=0)
DAYS_LEFT = 10
NOT_AFTER = NOW + timedelta(days=DAYS_LEFT)  # 20:00 UTC: the next calendar day in Shanghai
OFFICE_DAY = NOT_AFTER.astimezone(SHANGHAI).date().isoformat()
UTC_DAY = NOT_AFTER.date().isoformat()
HOST = "CLK-PC-1"
PASSWORD = "Clock-WinRM-4711"
CN = "F00504Y0001#0"
PFX_PASSWORD = "Clock-Pfx-9q#z"
IMAGE = """\
description: Windows 10 compliant, operator logged on, no trading client running (one-clock test)
extends: win10-compliant
processes:
  - {name: msedge.exe, user: '${operator}'}
"""
# A date and a time of day as outputs print them; what must follow: the zone.
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?")
ZONE_AFTER = (" Asia/Shanghai", "+08:00", "+00:00")


@dataclass
class Office:
    root: Path
    inventory: Path
    db: Path
    calendar: Path


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    assert OFFICE_DAY != UTC_DAY  # the point of the test
    root = tmp_path_factory.mktemp("oneclock")
    (root / "pc.yaml").write_text(IMAGE, encoding="utf-8")
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 0, "agent_ms": 1}},
        "groups": [{"name": "clk", "image": str(root / "pc.yaml"), "count": 1, "vars": {
            "hostname": "CLK-PC-${n}", "branch": "深圳", "operator": "TRADE\\交易员01", "operator_name": "交易员01",
            "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1001", "gateway_cert": CN,
            "cert_kind": "file", "cert_days_left": DAYS_LEFT}}],
    })
    calendar = root / "calendar.yaml"
    calendar.write_text("sessions: []\n", encoding="utf-8")  # the guard never blocks the dry run
    with start_office(spec, root / "sim", first_address=worker_address("127.0.137.1"), now=NOW) as running:
        yield Office(root, running.write_inventory(root / "inventory.yaml"), root / "history.db", calendar)


@pytest.fixture(scope="module")
def scan_output(office: Office) -> str:
    result = _cli("scan", "-i", str(office.inventory), "--db", str(office.db), "--out", str(office.root / "out"),
                  "--timeout", "30")
    assert result.exit_code == 1, result.output  # the certificate is inside the renewal window
    return result.stdout


def _cli(*args: str, lang: str = "zh") -> Result:
    result = CliRunner().invoke(main, ["--lang", lang, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_office_day_and_zoned(text: str, where: str) -> None:
    """The office date is there, the UTC date is not, every time names its zone, the zone is named."""
    assert OFFICE_DAY in text, f"{where}: no {OFFICE_DAY}\n{text}"
    assert UTC_DAY not in text, f"{where}: the UTC date {UTC_DAY} is shown\n{text}"
    for found in TIME_RE.finditer(text):
        after = text[found.end():found.end() + 14]
        assert after.startswith(ZONE_AFTER), f"{where}: {found.group()!r} names no zone (followed by {after!r})"
    assert "Asia/Shanghai" in text, f"{where}: the zone is not named\n{text}"


def test_scan_summary(scan_output: str) -> None:
    assert_office_day_and_zoned(scan_output, "scan summary")


def test_certs(office: Office, scan_output: str) -> None:
    for lang in ("zh", "en"):
        result = _cli("certs", "--db", str(office.db), lang=lang)
        assert result.exit_code == 0, result.output
        assert HOST in result.stdout
        assert_office_day_and_zoned(result.stdout, f"certs ({lang})")


def test_html_report(office: Office, scan_output: str) -> None:
    out = office.root / "report.html"
    result = _cli("report", "--db", str(office.db), "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert_office_day_and_zoned(html, "HTML report")
    # the certificate row itself carries the office date
    row = next(line for line in html.splitlines() if CN in line and "<td" in line)
    assert f"<td>{OFFICE_DAY}</td>" in row, row


def test_dashboard_certificates_page(office: Office, scan_output: str) -> None:
    from starlette.testclient import TestClient

    from fleetcheck.web.app import create_app
    from fleetcheck.web.auth import Credentials, hash_password
    from fleetcheck.web.fleet import Fleet, FleetSettings

    fleet = Fleet(FleetSettings(db_url=f"sqlite:///{office.db}"))
    try:
        app = create_app(fleet, Credentials(users={"admin": hash_password("one clock")}))
        with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
            page = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf
            done = client.post("/login", data={"csrf": csrf.group(1), "username": "admin", "password": "one clock",
                                               "next": "/"})
            assert done.status_code == 303
            certificates = client.get("/certificates").text
            assert CN in certificates
            assert_office_day_and_zoned(certificates, "dashboard certificates page")
            for path in ("/", "/history", "/audit", f"/hosts/{HOST}"):  # every other page: times name the zone
                page = client.get(path).text
                assert UTC_DAY not in page, path
                assert path == "/audit" or TIME_RE.search(page), f"{path}: no time shown at all"
                for found in TIME_RE.finditer(page):
                    assert page[found.end():].startswith(ZONE_AFTER), f"{path}: {found.group()} names no zone"
    finally:
        fleet.close()


def test_notification(office: Office, scan_output: str) -> None:
    with Store.open(f"sqlite:///{office.db}") as store:
        run = store.load_run("latest")
    digest = build_digest(run, None)
    assert [c.host for c in digest.expiring] == [HOST]
    for lang in ("zh", "en"):
        for render in (render_text, render_markdown, render_html):
            assert_office_day_and_zoned(render(digest, lang), f"notification {render.__name__} ({lang})")


def test_renew_dry_run(office: Office, scan_output: str) -> None:
    drop = office.root / "drop"
    drop.mkdir()
    data, _cert = certgen.make_pfx(certgen.LeafSpec(cn=CN, days_left=385), NOW, PFX_PASSWORD)
    (drop / f"{CN}.pfx").write_bytes(data)
    secrets = office.root / "passwords.yaml"
    secrets.write_text(f'"{CN}": "{PFX_PASSWORD}"\n', encoding="utf-8")
    secrets.chmod(0o600)
    for lang in ("zh", "en"):
        result = _cli("renew", "-i", str(office.inventory), "--db", str(office.db), "--calendar", str(office.calendar),
                      "--drop", str(drop), "--passwords", str(secrets), "--timeout", "30", lang=lang)
        assert result.exit_code == 0, result.output
        assert HOST in result.stdout
        assert_office_day_and_zoned(result.stdout, f"renew dry run ({lang})")


def test_fix_dry_run_times_name_their_zone(office: Office, scan_output: str) -> None:
    for lang in ("zh", "en"):
        result = _cli("fix", "--limit", "all", "-i", str(office.inventory), "--db", str(office.db),
                      "--calendar", str(office.calendar), "--timeout", "30", lang=lang)
        assert result.exit_code in (0, 1), result.output
        assert HOST in result.output and UTC_DAY not in result.output
        for found in TIME_RE.finditer(result.output):
            assert result.output[found.end():].startswith(ZONE_AFTER), f"fix: {found.group()} names no zone"
