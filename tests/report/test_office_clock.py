"""One clock, unit by unit: office dates and zone-named times in the report, dashboard rows, digest, summary.

The convention (README "Time / 时间"): a time a person reads is office time
with the IANA zone after it (``2026-12-02 07:30 Asia/Shanghai``); a date is
the office date; CSV carries ISO 8601 with the office offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from report_factory import golden_run  # type: ignore[import-not-found]

from fleetcheck.i18n import T
from fleetcheck.notify.digest import build_digest, render_lines
from fleetcheck.officetime import (
    TEMPLATE_FILTERS,
    office_date,
    office_day,
    office_iso,
    office_minute,
    office_stamp,
    office_time,
    zoned_label,
)
from fleetcheck.report.model import TrendPoint, build_report
from fleetcheck.report.render import render_html
from fleetcheck.report.summary import ExpiringCertificate, ScanSummary, render_summary
from fleetcheck.web.views import audit_rows

SWEEP_0730 = "2026-12-01T23:30:00+00:00"  # a 07:30 Shanghai sweep: the UTC date is the day before


@pytest.mark.parametrize(("value", "day", "stamp", "iso"), [
    ("2026-12-11T20:00:00+00:00", "2026-12-12", "2026-12-12 04:00 Asia/Shanghai", "2026-12-12T04:00:00+08:00"),
    ("2026-12-11T20:00:00Z", "2026-12-12", "2026-12-12 04:00 Asia/Shanghai", "2026-12-12T04:00:00+08:00"),
    ("2026-12-11T20:00:00", "2026-12-12", "2026-12-12 04:00 Asia/Shanghai", "2026-12-12T04:00:00+08:00"),  # naive: UTC
    ("2026-12-12T04:00:00.123456+08:00", "2026-12-12", "2026-12-12 04:00 Asia/Shanghai", "2026-12-12T04:00:00+08:00"),
    (datetime(2026, 12, 11, 15, 59, tzinfo=timezone.utc), "2026-12-11", "2026-12-11 23:59 Asia/Shanghai",
     "2026-12-11T23:59:00+08:00"),
    (None, "", "", ""),
    ("", "", "", ""),
    ("not a time", "not a time", "not a time", "not a time"),  # other text is left as it is
])
def test_office_formatters(value: datetime | str | None, day: str, stamp: str, iso: str) -> None:
    assert office_day(value) == day
    assert office_stamp(value) == stamp
    assert office_iso(value) == iso


def test_another_zone_is_one_argument_away() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert office_stamp("2026-12-11T20:00:00Z", berlin) == "2026-12-11 21:00 Europe/Berlin"
    assert office_day("2026-12-11T23:30:00Z", berlin) == "2026-12-12"
    assert office_minute(datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc), berlin) == "2026-07-01 14:00 Europe/Berlin"
    assert office_date(datetime(2026, 12, 11, 23, 30, tzinfo=timezone.utc), berlin).isoformat() == "2026-12-12"
    assert office_time("2026-12-11T20:00:00+00:00") == "2026-12-12 04:00:00"
    label = zoned_label(T("到期日", "Expires"))
    assert (label.zh, label.en) == ("到期日（Asia/Shanghai）", "Expires (Asia/Shanghai)")
    assert set(TEMPLATE_FILTERS) >= {"office_stamp", "office_day", "office_iso", "office_time"}


def test_trend_labels_are_office_dates_and_each_point_names_its_zone() -> None:
    run = golden_run()
    points = [TrendPoint("early", SWEEP_0730, 80.0), TrendPoint(run.run_id, run.started.isoformat(), 50.0)]
    html = render_html(build_report(run, lang="en", trend=points))
    labels = re.findall(r'<text class="lbl"[^>]*>([^<]*)</text>', html)
    assert labels[0] == "2026-12-02"  # drawn on its own (office) day, not the UTC 2026-12-01
    assert labels[1] == office_day(run.started)
    assert "early (2026-12-02 07:30 Asia/Shanghai): 80.0%" in html


def test_report_header_times_name_the_zone() -> None:
    run = golden_run()
    html = render_html(build_report(run, lang="zh"))
    meta = re.search(r'<div class="meta">(.*?)</div>', html, re.S)
    assert meta is not None
    assert f"开始时间: {office_minute(run.started)}" in meta.group(1)
    assert office_minute(run.started).endswith(" Asia/Shanghai")


@dataclass
class _Entry:
    seq: int
    at: str
    who: str
    host: str
    event: str
    details: dict[str, str]
    result: str
    forced: bool
    hash: str


def test_dashboard_audit_rows_are_office_time_with_the_zone() -> None:
    rows = audit_rows([_Entry(1, SWEEP_0730, "admin", "PC1", "fix", {"check": "R2"}, "ok", False, "ab" * 32)])
    assert rows[0].at == "2026-12-02 07:30 Asia/Shanghai"


def test_notification_headline_is_office_time_with_the_zone() -> None:
    run = golden_run(started=datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc))
    digest = build_digest(run, None)
    for lang in ("zh", "en"):
        headline, _sections = render_lines(digest, lang)  # type: ignore[arg-type]
        assert "2026-12-02 07:30 Asia/Shanghai" in headline, headline


def test_scan_summary_certificate_date_is_the_office_date() -> None:
    summary = ScanSummary(total=1, swept=1, noncompliant=1, expiring=[
        ExpiringCertificate("PC1", "F00504Y0007#0", 10, "2026-12-11T20:00:00+00:00", "file")])
    for lang, heading in (("zh", "到期日：Asia/Shanghai"), ("en", "expiry date in Asia/Shanghai")):
        text = render_summary(summary, lang, 1.0)  # type: ignore[arg-type]
        assert "2026-12-12" in text and "2026-12-11" not in text and heading in text
