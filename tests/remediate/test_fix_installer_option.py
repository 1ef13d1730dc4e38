"""``fix --installer``: an unknown check is a usage error, one the plan would ignore is said so."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fleetcheck.cli import main


def _inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inv.yaml"
    # Port 1 on loopback: refused at once, the host is simply not probed.
    inv.write_text("all:\n  hosts:\n    PC-1: {ansible_host: 127.0.9.9, ansible_port: 1}\n", encoding="utf-8")
    return inv


def test_installer_for_a_manual_check_is_a_warning(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    args = ["fix", "-i", str(inv), "--installer", r"feitian-driver=C:\setup.exe", "--timeout", "5"]
    result = CliRunner().invoke(main, ["--lang", "en", *args])
    assert result.exit_code == 3, result.output  # the host is not probed; the option is not an error
    assert "warning: --installer feitian-driver ignored" in result.stderr
    assert "check feitian-driver fix: manual (done by hand)" in result.stderr
    zh = CliRunner().invoke(main, args)
    assert "警告：--installer feitian-driver 被忽略" in zh.stderr and "fix: manual（人工修复）" in zh.stderr


def test_installer_for_an_unknown_check_is_a_usage_error(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    args = ["fix", "-i", str(inv), "--installer", r"feitan-driver=C:\setup.exe"]
    result = CliRunner().invoke(main, ["--lang", "en", *args])
    assert result.exit_code == 2, result.output
    assert "no check 'feitan-driver' in the policies" in result.stderr
    assert "feitian-driver" in result.stderr  # the installed_program checks are listed
    zh = CliRunner().invoke(main, args)
    assert zh.exit_code == 2 and "策略中没有检查 'feitan-driver'" in zh.stderr


def test_installer_for_a_check_of_another_type_is_a_warning(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    result = CliRunner().invoke(main, ["--lang", "en", "fix", "-i", str(inv), "--timeout", "5",
                                       "--installer", r"certenroll-control=C:\setup.exe"])
    assert result.exit_code == 3, result.output
    assert "--installer certenroll-control ignored: the check's type is" in result.stderr
