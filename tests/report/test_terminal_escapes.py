"""Host-supplied strings reach the terminal with control characters escaped (issue 13 finding 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from report_factory import Cert, golden_run, host  # type: ignore[import-not-found]

from fleetcheck.cli import main
from fleetcheck.report.publish import record_and_report
from fleetcheck.termsafe import safe_terminal


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("PC\x1b[2J", "PC\\x1b[2J"),  # CSI: clear screen
        ("a\x1b]0;title\x07b", "a\\x1b]0;title\\x07b"),  # OSC: window title
        ("x\x9b31m", "x\\x9b31m"),  # C1 CSI, one character
        ("del\x7f", "del\\x7f"),
        ("nul\x00", "nul\\x00"),
        ("two\nlines\r", "two\\nlines\\r"),
        ("tab\tkept", "tab\tkept"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # right-to-left override
        ("交易员01", "交易员01"),
        ("lone\ud800", "lone\\ud800"),
    ],
)
def test_safe_terminal(raw: str, shown: str) -> None:
    assert safe_terminal(raw) == shown


def test_safe_terminal_keeps_newlines_when_asked_and_escapes_markup() -> None:
    assert safe_terminal("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"
    assert safe_terminal("[bold]x[/bold]", markup=True) == "\\[bold]x\\[/bold]"


def test_certs_escapes_hostile_cn_and_operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCHECK_DB", f"sqlite:///{tmp_path / 'h.db'}")
    run = golden_run()
    run.hosts[0] = host("pc-sz-001", cert=Cert(cn="F0050\x1b]0;PWNED\x07#0", user="TRADE\\op\x9b2J"))
    record_and_report(run, tmp_path)
    result = CliRunner().invoke(main, ["--lang", "en", "certs"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "\x1b]" not in result.output and "\x9b" not in result.output and "\x07" not in result.output
    assert "F0050\\x1b]0;PWNED\\x07#0" in result.output
    assert "TRADE\\op\\x9b2J" in result.output
