"""The report shows the checks' bilingual observed markers ("不存在 absent") in the report's language."""

from __future__ import annotations

from report_factory import golden_run  # type: ignore[import-not-found]

from fleetcheck.findings import FindingStatus
from fleetcheck.report.model import build_report


def _with_absent_observed() -> object:
    run = golden_run()
    host = run.hosts[0]
    finding = host.findings[0].model_copy(update={"observed": "Zones\\2\\1201 不存在 absent",
                                                  "status": FindingStatus.fail})
    first = host.model_copy(update={"findings": [finding, *host.findings[1:]]})
    return run.model_copy(update={"hosts": [first, *run.hosts[1:]]})


def _observed(lang: str) -> set[str]:
    report = build_report(_with_absent_observed(), lang=lang)  # type: ignore[arg-type]
    return {f.observed for h in report.hosts for f in h.findings if f.observed and "1201" in f.observed}


def test_english_report_says_absent_only() -> None:
    assert _observed("en") == {"Zones\\2\\1201 absent"}


def test_chinese_report_says_bu_cun_zai_only() -> None:
    assert _observed("zh") == {"Zones\\2\\1201 不存在"}
