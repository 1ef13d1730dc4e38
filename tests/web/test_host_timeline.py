"""The dashboard host page's timeline (issue 14, "A host's timeline"): the same entries as ``fleetcheck host NAME``.

After a CLI ``fix`` and a rescan the page shows the fix and the check that
went from fail to pass; times are office time with the zone named; a PC gone
from the inventory and the newest run keeps its page; values from PCs stay text.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dashboard_support import ADMIN_PASSWORD, AFTER_HOURS, FIXABLE, Office, login  # type: ignore[import-not-found]
from starlette.testclient import TestClient

from fleetcheck.cli import main
from fleetcheck.findings import FindingStatus
from fleetcheck.store import Store
from fleetcheck.store.audit import ChangeLog, ChangeRecord
from fleetcheck.web.app import create_app
from fleetcheck.web.auth import Credentials, hash_password
from fleetcheck.web.fleet import Fleet, FleetSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))
from report_factory import T0, XSS, golden_run  # type: ignore[import-not-found]

ADMIN_HASH = hash_password(ADMIN_PASSWORD)


def _page(db_url: str, path: str, inventory: Path | None = None) -> tuple[int, str]:
    fleet = Fleet(FleetSettings(db_url=db_url, inventory=inventory, literal_passwords_ok=True))
    try:
        with TestClient(create_app(fleet, Credentials(users={"admin": ADMIN_HASH})), base_url="http://127.0.0.1",
                        follow_redirects=False) as client:
            login(client)
            response = client.get(path)
            return response.status_code, response.text
    finally:
        fleet.close()


def _timeline(html: str) -> str:
    found = re.search(r'<section id="host-timeline">(.*?)</section>', html, re.S)
    assert found, "no timeline section"
    return found.group(1)


@pytest.mark.sim
def test_after_a_cli_fix_and_a_rescan_the_host_page_shows_the_fix_and_the_state_change(office: Office) -> None:
    now = (AFTER_HOURS + timedelta(minutes=5)).isoformat()
    fixed = CliRunner().invoke(main, ["--lang", "en", "fix", "-i", str(office.inventory), "--limit", FIXABLE,
                                      "--apply", "--db", office.db_url, "--now", now], catch_exceptions=False)
    assert fixed.exit_code == 0, fixed.output
    fix_run = fixed.output.strip().rsplit("--run ", 1)[1].split(")")[0]
    CliRunner().invoke(main, ["scan", "-i", str(office.inventory), "--limit", FIXABLE, "--db", office.db_url],
                       catch_exceptions=False)
    status, html = _page(office.db_url, f"/hosts/{FIXABLE}?lang=en", office.inventory)
    assert status == 200
    section = _timeline(html)
    kinds = re.findall(r'data-kind="(\w+)" data-run="(\w*)"', section)
    assert kinds[0][0] == "observation" and ("fix", fix_run) in kinds and kinds[-1][0] == "observation"
    assert kinds.index(("fix", fix_run)) < len(kinds) - 1  # the fix is newer than the first scan
    assert 'data-check="portal-trusted-site" data-before="fail" data-after="pass"' in section
    assert "Asia/Shanghai" in section
    zh = _timeline(_page(office.db_url, f"/hosts/{FIXABLE}", office.inventory)[1])
    assert "时间线" in zh and "修复" in zh
    assert '<span class="s-fail">不通过</span> → <span class="s-pass">通过</span>' in zh


def test_a_pc_only_in_the_store_keeps_its_page_and_its_values_stay_text(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    first = golden_run("run-1", T0)
    second = golden_run("run-2", T0 + timedelta(hours=1))
    second = second.model_copy(update={"hosts": [
        h.model_copy(update={"started": T0 + timedelta(hours=1), "finished": T0 + timedelta(hours=1, seconds=2),
                             "findings": [f.model_copy(update={"status": FindingStatus.fail}) for f in h.findings]})
        for h in second.hosts if h.host != "pc-sh-008"]})  # pc-sh-008 is gone from the newest run
    with Store.open(db_url) as store:
        store.record_run(first, certificates=())
        store.record_run(second, certificates=())
        ChangeLog(store).record(ChangeRecord(
            action_id="a-1", run_id="fix-1", position=0, host="pc-sh-008", check_id=XSS, kind="set_value",
            action={}, before=None, after=None, status="applied", who=XSS,
            applied_at=(T0 + timedelta(minutes=30)).isoformat()))
    status, html = _page(db_url, "/hosts/pc-sh-008?lang=en")
    assert status == 200
    section = _timeline(html)
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in section
    assert re.findall(r'data-kind="(\w+)"', section) == ["fix", "observation"]
    assert "2025-03-03 09:30 Asia/Shanghai" in section  # T0 = 01:30 UTC
    assert _page(db_url, "/hosts/NO-SUCH-PC")[0] == 404


def test_a_host_without_records_says_so(tmp_path: Any, office: Office) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with Store.open(empty):
        pass
    status, html = _page(empty, f"/hosts/{FIXABLE}?lang=en", office.inventory)  # in the inventory, never scanned
    assert status == 200 and "Nothing is recorded about this host yet." in _timeline(html)
