"""The four report formats, parsed back the way their consumers read them."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import timezone
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
from report_factory import XSS, finding, golden_run, host  # type: ignore[import-not-found]

from fleetcheck.findings import FindingStatus
from fleetcheck.report.model import build_report, report_json_schema
from fleetcheck.report.render import (
    neutralise_cell,
    render_csv,
    render_html,
    render_json,
    render_junit,
)

HYPERLINK = '=HYPERLINK("http://x")'


def hostile_run():  # type: ignore[no-untyped-def]
    run = golden_run()
    run.hosts.append(host("pc-sh-010", branch="上海分公司", overrides={
        "portal-ie-mode": finding("portal-ie-mode", FindingStatus.fail, observed=HYPERLINK),
        "zone2-file-download": finding("zone2-file-download", FindingStatus.fail, observed="-3+1",
                                       message=__import__("fleetcheck.i18n").i18n.T("@SUM(A1)", "\tx")),
    }))
    return run


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escaped() -> None:
    html = render_html(build_report(hostile_run()))
    parser = _Collector()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag != "img", "injected markup became an element"
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, attrs)
        if tag == "script":
            assert "src" not in attrs
        if tag == "link":
            assert attrs.get("rel") != "stylesheet"
    assert "<script src" not in html and "@import" not in html and "url(" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    text = "".join(parser.text)
    assert XSS in text  # shown literally to the reader
    csp = [a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src 'sha256-" in csp[0]
    assert '<html lang="zh-CN">' in html and "合规率" in html


def test_html_english_and_host_sections() -> None:
    html = render_html(build_report(golden_run(), lang="en"))
    assert '<html lang="en">' in html and "Compliance trend" in html
    assert html.count('<details class="host"') == 9
    assert "fleetcheck fix pc-sz-003" in html
    assert "<polyline" in html  # server-side trend chart


def test_json_validates_against_its_schema() -> None:
    doc = json.loads(render_json(build_report(hostile_run(), lang="en")))
    jsonschema.validate(doc, report_json_schema())
    assert doc["schema"] == "fleetcheck-report/1"
    doc["overview"]["pct"] = "high"
    try:
        jsonschema.validate(doc, report_json_schema())
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("schema accepted a string percentage")


def test_csv_has_bom_rows_and_neutralised_formulas() -> None:
    text = render_csv(build_report(hostile_run(), lang="en"))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["Run ID", "Host"]
    # 8 probed hosts × 15 findings + 2 unreachable hosts as one row each
    assert len(body) == 8 * 15 + 2
    col = {name: i for i, name in enumerate(header)}
    cells = [c for r in body for c in r]
    assert "'" + HYPERLINK in cells and HYPERLINK not in cells
    assert "'-3+1" in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    unreachable = [r for r in body if r[col["Host"]] == "pc-sz-004"]
    assert len(unreachable) == 1 and "did not answer" in unreachable[0][col["Message"]]
    assert neutralise_cell("\r=1") == "'\r=1" and neutralise_cell(None) == ""


def test_csv_chinese_default() -> None:
    data = render_csv(build_report(golden_run())).encode("utf-8")
    assert data[:3] == b"\xef\xbb\xbf"
    header, first = data.decode("utf-8-sig").splitlines()[:2]
    assert header.startswith("Run ID,Host,") and "检查结果" not in header  # fixed English header (issue 15)
    assert ",不合规," in first and "没有操作员登录" in first  # the cells stay Chinese


def test_junit_structure() -> None:
    xml = render_junit(build_report(hostile_run(), lang="en"))
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert len(suites) == 10
    s003 = suites["pc-sz-003"]
    failures = s003.findall("testcase/failure")
    assert len(failures) == 2  # zone2-unsigned-activex and the certificate due check
    assert any("1004" in (f.text or "") for f in failures)
    assert len(s003.findall("testcase/skipped")) == 1  # Win7-only check not applicable
    probe = suites["pc-sz-004"].findall("testcase")
    assert [c.get("name") for c in probe] == ["probe"] and probe[0].find("error") is not None
    assert suites["pc-sh-009"].find("testcase/error") is not None
    assert suites["pc-sh-008"].findall("testcase/skipped")  # waived
    assert int(root.get("failures", "0")) == sum(int(s.get("failures", "0")) for s in suites.values())
    hostile = suites["pc-sh-008"]
    assert any(XSS in (f.text or "") for f in hostile.iter("failure"))


def test_write_report_atomic(tmp_path: Path) -> None:
    from fleetcheck.report.render import write_report

    out = write_report(build_report(golden_run()), "json", tmp_path / "sub" / "r.json")
    assert json.loads(out.read_text(encoding="utf-8"))["run_id"] == "run-20250303-0930"
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]


def test_csv_host_status_tells_compliant_non_compliant_and_not_probed_apart() -> None:
    """Not "probed" for every reachable host: the verdict, and for a host not probed, why (issue 14)."""
    for lang, words in (("en", ("compliant", "non-compliant", "not probed (timed out)")),
                        ("zh", ("合规", "不合规", "未能检查（超时）"))):
        model = build_report(golden_run(), lang=lang)  # type: ignore[arg-type]
        rows = list(csv.DictReader(io.StringIO(render_csv(model)[1:])))
        status = {r["Host"]: r["Host status"] for r in rows}
        states = {h.host: h.state for h in model.hosts}
        expected = dict(zip(("compliant", "failing", "unreachable"), words, strict=True))
        for name, state in states.items():
            if state != "unreachable":
                assert status[name] == expected[state], (lang, name)
        assert status["pc-sz-004"] == expected["unreachable"], lang  # the golden office's timed-out PC
        assert set(status.values()) >= set(words[:2])


def test_csv_observed_at_is_iso_8601_office_time_with_offset() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(build_report(golden_run(), lang="en"))[1:])))
    when = {r["Observed at"] for r in rows}
    started = golden_run().started.replace(tzinfo=golden_run().started.tzinfo or timezone.utc)
    assert when == {started.astimezone(ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds")}
    assert all(w.endswith("+08:00") for w in when)
