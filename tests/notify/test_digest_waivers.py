"""Notifications list the waivers expired, expiring within 14 days and unused, when waivers are known."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.findings import FindingStatus
from fleetcheck.notify.digest import (
    build_digest,
    render_html,
    render_markdown,
    render_subject,
    render_text,
    should_send,
)
from fleetcheck.officetime import office_date
from fleetcheck.policy.waivers import Waiver
from fleetcheck.sim.office import OfficeSpec, start_office

from .fleet import finding, office, ok_host
from .test_scan_notify import hook  # noqa: F401  (the fixture)

# office() ends 2026-11-25 07:32 Shanghai: the office date is 2026-11-25.
HOSTILE = "<script>alert(1)</script> *bold* [x](y)"


def _waivers() -> list[Waiver]:
    return [
        Waiver(check="portal-trusted-site", hosts=["PC-SZ-007"], reason="待换机", approver="张三",
               expires=date(2026, 12, 1)),                      # 6 days left, PC-SZ-007 fails it: expiring
        Waiver(check="certenroll-control", hosts=["PC-SZ-007"], reason="旧豁免", approver="李四",
               expires=date(2026, 11, 20)),                     # expired
        Waiver(check="portal-trusted-site", hosts=["PC-SZ-001"], reason=HOSTILE, approver="王五",
               expires=date(2027, 6, 30)),                      # PC-SZ-001 passes: unused
        Waiver(check="certenroll-control", hosts=["PC-SZ-007"], reason="长期", approver="张三",
               expires=date(2027, 6, 30)),                      # active: not listed
    ]


def test_digest_lists_waivers_to_review_in_every_rendering() -> None:
    digest = build_digest(office(), None, waivers=_waivers())
    assert digest.waivers is not None
    assert [(w.number, w.state, w.days_left) for w in digest.waivers] == [(2, "expired", -5), (1, "expiring", 6),
                                                                         (3, "unused", 217)]
    text = render_text(digest, "en")
    assert "Waivers to review (3: 1 expired, 1 expiring within 14 days, 1 unused):" in text
    assert ("  - waiver #1 (portal-trusted-site, PC-SZ-007) expires on 2026-12-01 Asia/Shanghai (6 days left): "
            "待换机 (approver 张三)") in text
    assert "waiver #2 (certenroll-control, PC-SZ-007) expired on 2026-11-20 Asia/Shanghai" in text
    zh = render_text(digest, "zh")
    assert "需要处理的豁免（3 项：已过期 1，14 天内到期 1，未使用 1）" in zh
    assert "豁免 #3（portal-trusted-site，PC-SZ-001）未使用" in zh
    assert "豁免已过期/即将到期 2 项" in render_subject(digest, "zh")
    assert "2 waivers expired/expiring" in render_subject(digest, "en")
    # Escaped as every other value: the reason is the admin's free text.
    html = render_html(digest, "en")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    markdown = render_markdown(digest, "en")
    assert "<script>" not in markdown and "\\*bold\\*" in markdown and "\\[x\\](y)" in markdown


def test_digest_json_carries_the_waivers_or_null() -> None:
    rows = build_digest(office(), None, waivers=_waivers()).to_json()["waivers"]
    assert rows[1] == {"number": 1, "state": "expiring", "check": "portal-trusted-site", "hosts": ["PC-SZ-007"],
                       "groups": [], "expires": "2026-12-01", "days_left": 6, "reason": "待换机",
                       "approver": "张三", "matched_hosts": ["PC-SZ-007"]}
    plain = build_digest(office(), None)
    assert plain.waivers is None and plain.to_json()["waivers"] is None
    assert "Waivers" not in render_text(plain, "en")
    assert render_subject(plain, "en") == render_subject(build_digest(office(), None, waivers=[]), "en")


def test_lapsing_waiver_is_a_problem_and_a_change() -> None:
    clean = office(PC_SZ_004=ok_host("PC-SZ-004"), PC_SZ_007=ok_host("PC-SZ-007", finding(
        "portal-trusted-site", FindingStatus.waived, "受信任站点", "Trusted site")), PC_SZ_008=ok_host("PC-SZ-008"))
    clean = clean.model_copy(update={"hosts": [h for h in clean.hosts if h.host != "PC-SZ-002"]})
    soon = [_waivers()[0]]
    assert not should_send(build_digest(clean, None), "problems")
    assert should_send(build_digest(clean, None, waivers=soon), "problems")  # expires in 6 days
    far = [soon[0].model_copy(update={"expires": date(2027, 6, 30)})]
    assert not should_send(build_digest(clean, None, waivers=far), "problems")  # active: nothing to do
    # The same office ten days earlier: the waiver was active then (16 days left), expiring now: a change.
    earlier = clean.model_copy(update={"run_id": "run-1", "started": clean.started - timedelta(days=10),
                                       "finished": clean.finished - timedelta(days=10)})  # type: ignore[operator]
    again = build_digest(clean, earlier, waivers=soon)
    assert again.change_reasons == ("waivers",) and should_send(again, "change")
    assert not build_digest(clean, clean, waivers=soon).changed


@pytest.fixture(scope="module")
def small_office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Waiver-Notify-Secret-5"},
                     "scheme": "http", "faults": {"latency_ms": 1, "agent_ms": 5}},
        "groups": [
            {"name": "ok", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-WV-${n}"}},
            {"name": "down", "image": "win10-compliant", "count": 1, "faults": {"refuse": True},
             "vars": {"hostname": "PC-WV-DOWN-${n}"}},
        ],
    })
    state = tmp_path_factory.mktemp("waiver-office")
    with start_office(spec, state, first_address=worker_address("127.0.97.1"), now=datetime.now(timezone.utc)) as running:
        yield running.write_inventory(state / "inventory.yaml")


@pytest.mark.sim
def test_scan_passes_its_waivers_to_the_notification_and_the_report(
    small_office: Path, hook: tuple[str, list[dict[str, Any]]], tmp_path: Path,  # noqa: F811
) -> None:
    url, received = hook
    inventory = small_office.read_text(encoding="utf-8")
    up = next(n for n in ("PC-WV-1", "PC-WV-01", "PC-WV-001") if f"{n}:" in inventory)
    down = next(n for n in ("PC-WV-DOWN-1", "PC-WV-DOWN-01", "PC-WV-DOWN-001") if f"{n}:" in inventory)
    today = office_date(datetime.now(timezone.utc))
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n"
        f"  - {{check: portal-trusted-site, hosts: [{up}], reason: 已合规, approver: 张三, expires: {today + timedelta(days=90)}}}\n"
        f"  - {{check: portal-trusted-site, hosts: [{down}], reason: 待修, approver: 李四, expires: {today + timedelta(days=3)}}}\n"
        f"  - {{check: portal-trusted-site, hosts: [{up}], reason: 过期, approver: 王五, expires: {today - timedelta(days=1)}}}\n",
        encoding="utf-8")
    config = tmp_path / "notify.yaml"
    config.write_text(f"notify_on: always\nchannels:\n  - type: webhook\n    url: {url}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", "-i", str(small_office), "--timeout", "6", "--out", str(out),
                                       "--notify", str(config), "--waivers", str(waivers)])
    assert result.exit_code == 3, result.output  # the refused PC
    assert len(received) == 1
    states = [(w["number"], w["state"]) for w in received[0]["digest"]["waivers"]]
    # the unreachable PC's waiver is not called unused: it expires in 3 days
    assert states == [(3, "expired"), (2, "expiring"), (1, "unused")]
    assert "waiver #2" in received[0]["text"] or "豁免 #2" in received[0]["text"]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="waivers">' in report and f"{today + timedelta(days=3)} Asia/Shanghai" in report
    plain = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert plain["hosts"]
