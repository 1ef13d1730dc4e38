"""fleetcheck report | history | diff | certs, and record_and_report, as a user runs them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_factory import T0, Cert, finding, golden_run, host  # type: ignore[import-not-found]

from fleetcheck.cli import main
from fleetcheck.findings import FindingStatus
from fleetcheck.report.publish import record_and_report


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    monkeypatch.setenv("FLEETCHECK_DB", url)
    older = golden_run("run-a", T0 - timedelta(days=7))
    older.hosts[1] = host("pc-sz-002", days_left=19, overrides={
        "zone2-file-download": finding("zone2-file-download", FindingStatus.fail, observed="3")})
    paths = record_and_report(older, tmp_path / "out-a")
    assert paths.html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert paths.store_error is None and paths.db_url == url
    record_and_report(golden_run("run-b"), tmp_path / "out-b")
    return url


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_history_lists_runs_with_compliance(db: str) -> None:
    code, out = run_cli("history")
    assert code == 0
    assert out.index("run-b") < out.index("run-a") and "14.3%" in out and "合规率" in out


def test_history_retention(db: str) -> None:
    code, out = run_cli("--lang", "en", "history", "--keep-runs", "1")
    assert code == 0 and "removed 1 old run(s)" in out and "run-a" not in out.split("removed")[1]


@pytest.mark.parametrize("fmt,marker", [("html", "<!DOCTYPE html>"), ("json", '"schema": "fleetcheck-report/1"'),
                                        ("csv", "\ufeff"), ("junit", "<testsuites")])
def test_report_every_format(db: str, tmp_path: Path, fmt: str, marker: str) -> None:
    out = tmp_path / f"r.{fmt}"
    code, text = run_cli("report", "--run", "run-a", "--format", fmt, "--out", str(out), "--lang", "en")
    assert code == 0 and str(out) in text
    assert marker in out.read_text(encoding="utf-8")


def test_report_from_results_file_with_trend(db: str, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    later = golden_run("run-c", T0 + timedelta(days=1))
    results.write_text(later.model_dump_json(), encoding="utf-8")
    out = tmp_path / "c.json"
    code, _ = run_cli("report", "--results", str(results), "--format", "json", "--out", str(out))
    assert code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [p["run_id"] for p in doc["trend"]] == ["run-a", "run-b", "run-c"]


def test_bad_results_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text('{"run_id": "x",\n  "started": }', encoding="utf-8")
    code, out = run_cli("--lang", "en", "report", "--results", str(bad))
    assert code == 2 and f"{bad}:2:14: not valid JSON" in out and "Traceback" not in out
    bad.write_text('{"run_id": "x"}', encoding="utf-8")
    code, out = run_cli("report", "--results", str(bad))
    assert code == 2 and "started" in out and "fleetcheck" in out


def test_unknown_run(db: str) -> None:
    code, out = run_cli("--lang", "en", "report", "--run", "nope")
    assert code == 2 and "run nope not found" in out


def test_diff_bilingual(db: str) -> None:
    code, out = run_cli("diff", "run-a", "run-b")
    assert code == 0 and "已修复" in out and "pc-sz-002" in out and "不通过" in out
    code, out = run_cli("--lang", "en", "diff", "run-a", "run-b")
    assert "fixed" in out and "new failures 0, fixed 1" in out


def test_certs_expiring(db: str) -> None:
    code, out = run_cli("--lang", "en", "certs", "--expiring", "7")
    assert code == 0
    assert "pc-sh-006" in out and "pc-sz-003" in out and "pc-sz-002" not in out
    assert "blocked" in out
    code, out = run_cli("certs", "--run", "run-a")
    assert "pc-sz-002" in out and "19" in out


def test_hostile_names_are_not_rich_markup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCHECK_DB", f"sqlite:///{tmp_path / 'h.db'}")
    run = golden_run()
    run.hosts[0] = host("pc-sz-001", cert=Cert(user="[bold red]TRADE\\x[/bold red]"))
    record_and_report(run, tmp_path)
    _, out = run_cli("certs")
    assert "[bold red]TRADE\\x[/bold red]" in out


def test_history_keep_days_zero_keeps_the_latest_run(db: str) -> None:
    code, out = run_cli("--lang", "en", "history", "--keep-days", "0")
    assert code == 0 and "removed 1 old run(s)" in out
    listed = out.split("removed")[1]
    assert "run-b" in listed and "run-a" not in listed
    code, out = run_cli("--lang", "en", "history", "--keep-runs", "0")
    assert code == 0 and "removed 0 old run(s)" in out and "run-b" in out


def test_history_shows_office_time_with_its_zone(db: str) -> None:
    """run-b started 01:30 UTC: the office read it as 09:30 in Shanghai, and the table says so."""
    code, out = run_cli("--lang", "en", "history")
    assert code == 0 and "2025-03-03 09:30 Asia/Shanghai" in out, out
    assert "01:30" not in out
