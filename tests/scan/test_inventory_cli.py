"""``fleetcheck inventory check|import`` through the CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fleetcheck.cli import main

CSV = "主机名,IP,分组,营业部,操作员\nPC-SZ-001,127.0.1.2,shenzhen,深圳营业部,交易员01\nPC-SZ-002,127.0.1.3,shenzhen,深圳营业部,交易员02\n"


def test_import_gbk_then_check(tmp_path: Path) -> None:
    source = tmp_path / "pcs.csv"
    source.write_bytes(CSV.encode("gbk"))
    out = tmp_path / "inv.yaml"
    result = CliRunner().invoke(main, ["--lang", "en", "inventory", "import", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 hosts (encoding gb18030)" in result.stderr
    assert "交易员01" in out.read_text(encoding="utf-8")
    check = CliRunner().invoke(main, ["--lang", "en", "inventory", "check", str(out)])
    assert check.exit_code == 0 and "2 hosts, 1 groups (shenzhen)" in check.stdout


def test_import_reports_bad_rows_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "pcs.csv"
    source.write_text(CSV + ",127.0.1.9,shenzhen,,\n", encoding="utf-8-sig")
    out = tmp_path / "inv.yaml"
    result = CliRunner().invoke(main, ["--lang", "en", "inventory", "import", str(source), "-o", str(out)])
    assert result.exit_code == 2 and f"{source}:4: no host name" in result.stderr and not out.exists()
    skipped = CliRunner().invoke(main, ["inventory", "import", str(source), "-o", str(out), "--skip-bad"])
    assert skipped.exit_code == 0 and out.exists()


def test_check_reports_problems_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("all:\n  hosts:\n    PC-1: {ansible_winrm_scheme: ftp}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "inventory", "check", str(bad)])
    assert result.exit_code == 2 and f"{bad}:3:" in result.stderr and "ftp" in result.stderr
