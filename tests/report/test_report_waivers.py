"""The report's waivers section: expired / expiring / unused waivers, dates in office time with the zone named."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from report_factory import XSS, golden_run  # type: ignore[import-not-found]

from fleetcheck.cli import main
from fleetcheck.policy.waivers import Waiver
from fleetcheck.report.model import build_report
from fleetcheck.report.publish import record_and_report
from fleetcheck.report.render import render_html, render_json

# golden_run() ends 2025-03-03 01:32 UTC = 09:32 Shanghai: office date 2025-03-03.
WAIVERS_YAML = f"""\
waivers:
  - check: feitian-driver
    hosts: [pc-sh-008]
    reason: 该机用文件证书
    approver: 张三
    expires: 2025-03-10
  - check: zone2-unsigned-activex
    hosts: [pc-sz-003]
    reason: 旧豁免
    approver: 李四
    expires: 2025-02-28
  - check: certenroll-control
    groups: [floor-2]
    reason: 二楼机器暂缓
    approver: 王五
    expires: 2025-12-31
  - check: gateway-cert-due
    groups: [traders]
    reason: 统一更新
    approver: 张三
    expires: 2025-12-31
  - check: portal-ie-mode
    hosts: [pc-sz-001]
    reason: "{XSS}"
    approver: 赵六
    expires: 2026-01-31
"""


def _waivers() -> list[Waiver]:
    d = date
    return [
        Waiver(check="feitian-driver", hosts=["pc-sh-008"], reason="该机用文件证书", approver="张三", expires=d(2025, 3, 10)),
        Waiver(check="zone2-unsigned-activex", hosts=["pc-sz-003"], reason="旧豁免", approver="李四", expires=d(2025, 2, 28)),
        Waiver(check="certenroll-control", groups=["floor-2"], reason="二楼机器暂缓", approver="王五", expires=d(2025, 12, 31)),
        Waiver(check="gateway-cert-due", groups=["traders"], reason="统一更新", approver="张三", expires=d(2025, 12, 31)),
        Waiver(check="portal-ie-mode", hosts=["pc-sz-001"], reason=XSS, approver="赵六", expires=d(2026, 1, 31)),
    ]


def test_section_classifies_against_the_run_at_its_end() -> None:
    section = build_report(golden_run(), lang="en", waivers=_waivers()).waivers
    assert section is not None
    assert (section.as_of, section.zone, section.expiring_days) == ("2025-03-03", "Asia/Shanghai", 14)
    assert (section.total, section.expired, section.expiring, section.unused, section.active) == (5, 1, 1, 2, 1)
    assert [(r.number, r.state, r.days_left) for r in section.rows] == [
        (2, "expired", -3), (1, "expiring", 7), (3, "unused", 303), (5, "unused", 334)]
    assert section.rows[1].expires_label == "2025-03-10 Asia/Shanghai"
    assert section.rows[1].matched_hosts == ["pc-sh-008"] and section.rows[1].state_label == "expiring"
    assert build_report(golden_run(), lang="zh", waivers=_waivers()).waivers.rows[0].state_label == "已过期"  # type: ignore[union-attr]


def test_now_decides_the_states() -> None:
    later = datetime(2025, 3, 10, 16, 30, tzinfo=timezone.utc)  # 2025-03-11 00:30 in Shanghai
    section = build_report(golden_run(), waivers=_waivers(), now=later).waivers
    assert section is not None and section.as_of == "2025-03-11"
    assert [(r.number, r.state) for r in section.rows][:2] == [(1, "expired"), (2, "expired")]


def test_html_lists_them_escaped_and_only_when_waivers_were_given() -> None:
    html = render_html(build_report(golden_run(), lang="zh", waivers=_waivers()))
    section = html[html.index('<section id="waivers">'):]
    section = section[:section.index("</section>")]
    assert "<h2>豁免</h2>" in section
    assert section.index('data-state="expired"') < section.index('data-state="expiring"') < section.index('data-state="unused"')
    assert "2025-03-10 Asia/Shanghai" in section and "2025-02-28 Asia/Shanghai" in section
    assert "已过期 1" in section and "未使用 2" in section and "有效 1" in section
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in section
    assert 'id="waivers"' not in render_html(build_report(golden_run(), lang="zh"))


def test_json_report_with_waivers_validates_against_the_shipped_schema(repo_root: Path) -> None:
    schema = json.loads((repo_root / "reports_templates" / "report.schema.json").read_text(encoding="utf-8"))
    doc = json.loads(render_json(build_report(golden_run(), lang="en", waivers=_waivers())))
    jsonschema.validate(doc, schema)
    assert doc["waivers"]["rows"][0]["state"] == "expired"
    doc["waivers"]["rows"][0]["state"] = "forgotten"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    jsonschema.validate(json.loads(render_json(build_report(golden_run()))), schema)  # null without waivers


def test_record_and_report_writes_the_section(tmp_path: Path) -> None:
    paths = record_and_report(golden_run(), tmp_path / "out", db_url=f"sqlite:///{tmp_path / 'h.db'}",
                              waivers=_waivers())
    assert '<section id="waivers">' in paths.html.read_text(encoding="utf-8")


def test_report_command_takes_waivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    record_and_report(golden_run(), tmp_path / "out", db_url=url)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS_YAML, encoding="utf-8")
    # The report is written on 2025-03-08 (office date): the first waiver has 2 days left.
    monkeypatch.setattr("fleetcheck.commands.report.utc_now", lambda: datetime(2025, 3, 8, 2, 0, tzinfo=timezone.utc))
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["report", "--db", url, "--format", "json", "--out", str(out),
                                       "--waivers", str(waivers)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text(encoding="utf-8"))["waivers"]["rows"]
    assert [(r["number"], r["state"], r["days_left"]) for r in rows][:2] == [(2, "expired", -8), (1, "expiring", 2)]


def test_report_command_bad_waiver_date_is_positioned(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    record_and_report(golden_run(), tmp_path / "out", db_url=url)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS_YAML.replace("2025-03-10", "2025-02-30"), encoding="utf-8")
    result = CliRunner().invoke(main, ["report", "--db", url, "--out", str(tmp_path / "r.html"),
                                       "--waivers", str(waivers)])
    assert result.exit_code == 2, result.output
    assert f"{waivers}:6:14" in result.output
    assert not (tmp_path / "r.html").exists()
