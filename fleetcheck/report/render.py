"""Renderers: HTML (jinja2, autoescape on), JSON (json), CSV (csv), JUnit XML (ElementTree).

All four read a :class:`~fleetcheck.report.model.ReportModel`. Each ``render_*``
returns the document (``str`` or ``bytes``) and does no I/O except reading the
shipped templates; :func:`write_report` writes one to a file.

* HTML: one self-contained file (inline CSS, inline script, inline SVG; no
  external URL at all), with a Content-Security-Policy that allows only that
  exact script (by hash), so even a mistake in escaping could not run injected
  script. Passing and not-applicable findings are rendered as one compact line
  each per host; only the other findings get the full expected / observed / source / remedy block,
  which keeps 5,000 hosts × 15 checks to a few MB.
* JSON: the model itself, ``schema`` = ``fleetcheck-report/1`` (JSON Schema:
  :func:`fleetcheck.report.model.report_json_schema`).
* CSV: UTF-8 with BOM (Excel opens Chinese correctly), one row per host ×
  finding (one row for a host that was not probed); the header row is fixed
  English whatever the language (programs read it), the cells that are user
  text are in the report's language; any cell starting with
  ``= + - @``, tab or CR is prefixed with ``'`` so spreadsheets never run it
  as a formula. Host status is compliant / non-compliant / not probed (with
  why: timed out…); the last column, ``Observed at``, is ISO 8601 in office
  time with its offset (``2026-12-12T04:00:00+08:00``).
* JUnit: host = ``<testsuite>``, check = ``<testcase>``; fail ⇒ ``<failure>``,
  error ⇒ ``<error>``, not_applicable / not_evaluated / waived ⇒ ``<skipped>``;
  a host that was not probed is one ``<testcase name="probe">`` with ``<error>``.
  Suite, case and property names are fixed (host, check id, English keys) whatever
  the language; the check's title is the case's ``title`` property, messages and
  texts are in the report's language.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from fleetcheck.i18n import Lang, T, Text
from fleetcheck.officetime import TEMPLATE_FILTERS, office_iso, zoned_label
from fleetcheck.report.model import FindingView, HostView, ReportModel, TrendPoint
from fleetcheck.resources import templates_dir

ReportFormat = Literal["html", "json", "csv", "junit"]
FORMATS: tuple[ReportFormat, ...] = ("html", "json", "csv", "junit")

#: Every fixed string the HTML and CSV show, in both languages.
LABELS: dict[str, Text] = {
    "title": T("深证通证书更新环境合规报告", "SCCC certificate-renewal compliance report"),
    "run": T("扫描", "Run"),
    "started": T("开始时间", "Started"),
    "finished": T("结束时间", "Finished"),
    "policies": T("策略", "Policies"),
    "inventory": T("清单", "Inventory"),
    "overview": T("概览", "Overview"),
    "compliance": T("合规率", "Compliance"),
    "compliance_note": T("合规主机 / 已检查主机", "compliant hosts / probed hosts"),
    "hosts": T("主机", "Hosts"),
    "probed": T("已检查", "Probed"),
    "compliant": T("合规", "Compliant"),
    "non_compliant": T("不合规", "Non-compliant"),
    "not_probed": T("未能检查", "Not probed"),
    "trend": T("合规率趋势", "Compliance trend"),
    "by_branch": T("按分支机构", "By branch"),
    "by_group": T("按分组", "By group"),
    "by_check": T("按检查项", "By check"),
    "branch": T("分支机构", "Branch"),
    "group": T("分组", "Group"),
    "check": T("检查项", "Check"),
    "severity": T("严重性", "Severity"),
    "ok": T("正常", "OK"),
    "failed": T("不通过", "Failed"),
    "errors": T("出错", "Errors"),
    "not_evaluated": T("未检查", "Not evaluated"),
    "readiness": T("在线更新就绪情况", "Online-renewal readiness"),
    "ready": T("可在线更新", "Ready"),
    "blocked": T("受阻", "Blocked"),
    "not_due": T("未到更新期", "Not due"),
    "unknown": T("未知", "Unknown"),
    "blockers": T("主要阻碍", "Top blockers"),
    "certificates": T("网关证书到期情况", "Gateway certificate expiry"),
    "user": T("用户", "User"),
    "subject": T("证书名称 (CN)", "Subject CN"),
    "issuer": T("颁发者", "Issuer"),
    "not_after": T("到期日", "Expires"),
    "days_left": T("剩余天数", "Days left"),
    "kind": T("类型", "Kind"),
    "failed_hosts": T("未能检查的主机", "Hosts that could not be probed"),
    "address": T("地址", "Address"),
    "status": T("状态", "Status"),
    "error_class": T("错误类型", "Error class"),
    "message": T("说明", "Message"),
    "attempts": T("尝试次数", "Attempts"),
    "host_details": T("各主机详情", "Hosts"),
    "filter_status": T("状态", "Status"),
    "filter_all": T("全部", "All"),
    "filter_failing": T("不合规", "Failing"),
    "filter_unreachable": T("未能检查", "Unreachable"),
    "filter_compliant": T("合规", "Compliant"),
    "filter_branch": T("分支机构", "Branch"),
    "filter_any_branch": T("全部分支机构", "All branches"),
    "search": T("搜索", "Search"),
    "search_placeholder": T("主机、地址、操作员、检查项…", "host, address, operator, check…"),
    "shown": T("显示主机数", "Hosts shown"),
    "operator": T("操作员", "Operator"),
    "expected": T("期望值", "Expected"),
    "observed": T("实际值", "Observed"),
    "source": T("来源", "Source"),
    "remedy": T("处理办法", "Remedy"),
    "guide": T("指南章节", "Guide section"),
    "fix_command": T("修复命令", "Fix command"),
    "waiver": T("豁免", "Waiver"),
    "passed_checks": T("通过的检查项", "Passed checks"),
    "not_applicable": T("不适用的检查项", "Not applicable"),
    "none": T("无", "none"),
    "no_data": T("无数据", "no data"),
    "generated_by": T("由 fleetcheck 生成", "Generated by fleetcheck"),
    "requirement": T("要求", "Requirement"),
    "finding_status": T("检查结果", "Result"),
    "title_col": T("检查项名称", "Check title"),
    "host_status": T("主机状态", "Host status"),
    "policy": T("策略", "Policy"),
    "fix": T("修复方式", "Fix"),
    "groups": T("分组", "Groups"),
    "run_id": T("扫描编号", "Run ID"),
    "office_state": T("办公室现状：每台电脑最近一次检查的结果", "The office state: each PC's latest observation"),
    "office_sources": T("来自扫描次数", "from runs"),
    "observed_at": T("检查于", "Observed"),
    "stale": T("结果已过时", "stale"),
    "stale_hosts": T("结果过时的电脑", "PCs with stale results"),
    "failed_since": T("此后无法连接，自", "not reachable since"),
    "host": T("主机", "Host"),
    "observed_time": T("检查时间", "Observed at"),  # CSV: ISO 8601 in office time with its offset
}


def labels(lang: Lang) -> dict[str, str]:
    merged = {k: v.get(lang) for k, v in LABELS.items()}
    # the office's date, zone named: read per call (the office zone is the process's, officetime.set_office_zone)
    merged["not_after_office"] = zoned_label(T("到期日", "Expires")).get(lang)
    return merged


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    run_id: str
    started: str
    pct: float | None


@dataclass(frozen=True)
class TrendChart:
    """Server-side SVG geometry of the trend line (numbers only; labels escaped by jinja2)."""

    width: int
    height: int
    polyline: str
    points: list[ChartPoint]
    gridlines: list[tuple[float, int]]  # (y, percent)


def trend_chart(points: list[TrendPoint], width: int = 640, height: int = 180) -> TrendChart:
    """Place trend points on a 0–100 % axis; runs without a percentage are left out of the line."""
    left, right, top, bottom = 40.0, 12.0, 12.0, 24.0
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(points)
    placed: list[ChartPoint] = []
    for i, p in enumerate(points):
        x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        y = top + plot_h * (1 - (p.pct or 0.0) / 100.0)
        placed.append(ChartPoint(round(x, 1), round(y, 1), p.run_id, p.started, p.pct))
    line = " ".join(f"{c.x},{c.y}" for c in placed if c.pct is not None)
    grid = [(round(top + plot_h * (1 - v / 100), 1), v) for v in (0, 25, 50, 75, 100)]
    return TrendChart(width, height, line, placed, grid)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Autoescape is on for every template, whatever its extension, and for strings.
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(TEMPLATE_FILTERS)  # office_stamp, office_day…: times in office time, zone named
    return env


@lru_cache(maxsize=1)
def _script() -> tuple[Markup, str]:
    """The report's inline script (static package data) and its CSP hash."""
    text = (templates_dir() / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"'sha256-{digest}'"


def render_html(model: ReportModel) -> str:
    """The self-contained HTML report, in ``model.lang``."""
    lang: Lang = "en" if model.lang == "en" else "zh"
    script, script_hash = _script()
    template = _environment().get_template("report.html.j2")
    return template.render(
        m=model,
        L=labels(lang),
        html_lang="en" if lang == "en" else "zh-CN",
        chart=trend_chart(model.trend),
        script=script,
        script_hash=script_hash,
    )


def render_json(model: ReportModel) -> str:
    """The JSON report (schema ``fleetcheck-report/1``)."""
    return json.dumps(dataclasses.asdict(model), ensure_ascii=False, indent=1) + "\n"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> str:
    """A CSV cell that no spreadsheet evaluates: ``'=HYPERLINK(...)`` stays text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


CSV_COLUMNS = (
    "run_id", "host", "address", "branch", "groups", "host_status", "operator", "readiness",
    "policy", "check", "title_col", "finding_status", "severity", "expected", "observed",
    "source", "message", "remedy", "guide", "requirement", "fix_command", "observed_time",
)


#: The CSV header row: English, the same whatever the report's language.
CSV_HEADER: tuple[str, ...] = tuple(LABELS[c].en if c in LABELS else c for c in CSV_COLUMNS)


def csv_host_status(h: HostView, lang: str) -> str:
    """The CSV's host status: compliant / non-compliant / not probed (with why), in the report's language."""
    if h.state != "unreachable":
        return h.state_label
    return f"{h.state_label}（{h.status_label}）" if lang == "zh" else f"{h.state_label} ({h.status_label})"


def render_csv(model: ReportModel) -> str:
    """CSV text starting with a BOM; the fixed English header row, then host × finding rows."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for h in model.hosts:
        head = [model.run_id, h.host, h.address, h.branch, ";".join(h.groups), csv_host_status(h, model.lang),
                h.operator, h.readiness_label]
        when = office_iso(h.observed or model.started)  # the office state's observation, else the run's start
        if not h.findings:
            tail: list[object] = ["", "", "", "", "", "", "", "", h.error or "", "", "", "", "", when]
            writer.writerow([neutralise_cell(v) for v in head + tail])
            continue
        for f in h.findings:
            tail = [f.policy_id, f.check_id, f.title, f.status_label, f.severity, f.expected,
                    f.observed, f.source, f.message, f.remedy, f.guide, f.requirement, f.fix_command, when]
            writer.writerow([neutralise_cell(v) for v in head + tail])
    return buf.getvalue()


# XML 1.0 cannot carry most control characters at all; ElementTree escapes markup
# but does not drop these, so strip them (host output is untrusted).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(value: object) -> str:
    return _XML_INVALID.sub("\ufffd", "" if value is None else str(value))


def _finding_text(f: FindingView, lab: dict[str, str]) -> str:
    parts = [
        (lab["expected"], f.expected), (lab["observed"], f.observed), (lab["source"], f.source),
        (lab["message"], f.message), (lab["remedy"], f.remedy), (lab["guide"], f.guide),
        (lab["fix_command"], f.fix_command),
    ]
    return "\n".join(f"{k}: {v}" for k, v in parts if v)


def render_junit(model: ReportModel) -> bytes:
    """JUnit XML (UTF-8 bytes) for CI dashboards; escaping is ElementTree's."""
    lang: Lang = "en" if model.lang == "en" else "zh"
    lab = labels(lang)
    root = ET.Element("testsuites", name=_x(f"fleetcheck {model.run_id}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for h in sorted(model.hosts, key=lambda h: h.host):
        suite = ET.SubElement(root, "testsuite", name=_x(h.host), timestamp=_x(model.started))
        props = ET.SubElement(suite, "properties")
        for key, value in (("address", h.address), ("branch", h.branch), ("operator", h.operator),
                           ("readiness", h.readiness)):
            if value:
                ET.SubElement(props, "property", name=key, value=_x(value))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if h.state == "unreachable":
            case = ET.SubElement(suite, "testcase", classname=_x(h.host), name="probe")
            err = ET.SubElement(case, "error", type=_x(h.error_class or h.status),
                                message=_x(h.status_label))
            err.text = _x(h.error)
            counts["tests"] += 1
            counts["errors"] += 1
        for f in h.findings:
            case = ET.SubElement(suite, "testcase", classname=_x(f"{h.host}.{f.policy_id}"),
                                 name=_x(f.check_id))
            ET.SubElement(ET.SubElement(case, "properties"), "property", name="title", value=_x(f.title))
            counts["tests"] += 1
            if f.status == "fail":
                el = ET.SubElement(case, "failure", type=_x(f.severity), message=_x(f.message or f.title))
                el.text = _x(_finding_text(f, lab))
                counts["failures"] += 1
            elif f.status == "error":
                el = ET.SubElement(case, "error", type="error", message=_x(f.message or f.status_label))
                el.text = _x(_finding_text(f, lab))
                counts["errors"] += 1
            elif f.status in ("not_applicable", "not_evaluated", "waived"):
                ET.SubElement(case, "skipped", message=_x(f.message or f.status_label))
                counts["skipped"] += 1
        for key, count in counts.items():
            suite.set(key, str(count))
            totals[key] += count
    for key, count in totals.items():
        root.set(key, str(count))
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def render(model: ReportModel, fmt: ReportFormat) -> bytes:
    """The report in ``fmt`` as bytes ready to write."""
    if fmt == "html":
        return render_html(model).encode("utf-8")
    if fmt == "json":
        return render_json(model).encode("utf-8")
    if fmt == "csv":
        return render_csv(model).encode("utf-8")
    if fmt == "junit":
        return render_junit(model)
    raise ValueError(f"unknown report format {fmt!r}")


def write_report(model: ReportModel, fmt: ReportFormat, path: Path) -> Path:
    """Render and write atomically (a half-written report is never left behind)."""
    data = render(model, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path

