"""Credentials are resolved for the hosts a command selects: an unset {env: …} elsewhere is no error."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.inventory import InventoryError, PasswordSources, load_inventory

INVENTORY = """all:
  children:
    sz:
      vars: {ansible_password: {env: FC_TEST_UNSET_SZ}}
      hosts:
        PC-SZ-1: {ansible_host: 127.0.9.9, ansible_port: 1}
        PC-SZ-2: {ansible_host: 127.0.9.9, ansible_port: 1}
    sh:
      hosts:
        PC-SH-1: {ansible_host: 127.0.9.9, ansible_port: 1, ansible_password: {env: FC_TEST_SET_SH}}
"""


@pytest.fixture
def inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("FC_TEST_UNSET_SZ", raising=False)
    monkeypatch.setenv("FC_TEST_SET_SH", "example")
    path = tmp_path / "office.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    return path


def _scan(inv: Path, tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(inv), "--out", str(tmp_path / "out"),
                                       "--timeout", "5", *args])
    return result.exit_code, result.stderr


def test_unset_env_outside_the_limit_does_not_stop_the_scan(inv: Path, tmp_path: Path) -> None:
    code, err = _scan(inv, tmp_path, "--limit", "sh")
    assert code == 3, err  # swept: the one host is simply unreachable (port 1)
    assert "FC_TEST_UNSET_SZ" not in err


def test_unset_env_on_a_selected_host_is_a_usage_error_once(inv: Path, tmp_path: Path) -> None:
    code, err = _scan(inv, tmp_path, "--limit", "PC-SZ-*")
    assert code == 2
    assert err.count("environment variable FC_TEST_UNSET_SZ is not set") == 1 and "office.yaml:4:" in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_whole_inventory_load_still_reports_the_unset_variable_once(inv: Path) -> None:
    with pytest.raises(InventoryError) as exc:
        load_inventory(inv, PasswordSources(environ={"FC_TEST_SET_SH": "x"}))
    assert exc.value.format("en").count("FC_TEST_UNSET_SZ is not set") == 1
