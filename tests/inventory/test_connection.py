"""``ansible_connection`` must be WinRM, and addresses must be addresses (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.inventory import InventoryError, load_inventory, parse_inventory
from fleetcheck.inventory.address import address_problem
from fleetcheck.inventory.csvimport import parse_spreadsheet


def _errors(text: str) -> str:
    with pytest.raises(InventoryError) as exc:
        parse_inventory(text, "office.yaml")
    return exc.value.format("en")


def test_winrm_or_no_connection_is_accepted() -> None:
    inv = parse_inventory("all:\n  hosts:\n    PC-1: {ansible_connection: winrm}\n    PC-2: {}\n", "office.yaml")
    assert set(inv.hosts) == {"PC-1", "PC-2"}


def test_psrp_is_refused_at_its_position() -> None:
    text = _errors("all:\n  vars: {ansible_connection: psrp}\n  hosts:\n    PC-1: {}\n")
    assert "office.yaml:2:30: ansible_connection: psrp is not supported; fleetcheck connects over WinRM: use winrm" in text


@pytest.mark.parametrize("connection", ["ssh", "local", "network_cli"])
def test_any_other_connection_is_refused_at_its_position(connection: str) -> None:
    text = _errors(f"all:\n  hosts:\n    PC-1:\n      ansible_connection: {connection}\n")
    assert f"office.yaml:4:27: ansible_connection: {connection!r} is not supported" in text


def test_psrp_in_ini_is_refused_at_its_position(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("[win]\nPC-1 ansible_connection=psrp\n", encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    assert f"{path}:2:25: ansible_connection: psrp is not supported" in exc.value.format("en")


@pytest.mark.parametrize("address", ["10.0.0.300", "999.1.1.1", "10.0.0", "1.2.3.4.5", "fe80::zz", "bad_host!", "-x"])
def test_bad_addresses(address: str) -> None:
    assert address_problem(address) is not None


@pytest.mark.parametrize("address", ["10.0.0.255", "127.0.0.1", "::1", "[fe80::1]", "PC-SZ-001", "pc_01.office.lan", "a." ])
def test_good_addresses(address: str) -> None:
    assert address_problem(address) is None


def test_bad_ansible_host_is_refused_at_its_position() -> None:
    text = _errors("all:\n  hosts:\n    PC-1: {ansible_host: 10.0.0.300}\n    10.0.0.301: {}\n")
    assert "office.yaml:3:26: ansible_host: '10.0.0.300' is not a valid IPv4 address" in text
    assert "office.yaml:4:5: ansible_host: '10.0.0.301' is not a valid IPv4 address" in text  # the name as address


def test_inventory_import_refuses_impossible_addresses(tmp_path: Path) -> None:
    parsed = parse_spreadsheet(b"hostname,ip\nPC-1,10.0.0.300\nPC-2,999.1.1.1\nPC-3,10.0.0.3\n", "pcs.csv")
    assert [r.en for r in parsed.bad_rows] == [
        "pcs.csv:2: address '10.0.0.300' is not an IP address or host name",
        "pcs.csv:3: address '999.1.1.1' is not an IP address or host name",
    ]
    csv = tmp_path / "pcs.csv"
    csv.write_bytes(b"hostname,ip\nPC-1,10.0.0.300\n")
    result = CliRunner().invoke(main, ["--lang", "en", "inventory", "import", str(csv)])
    assert result.exit_code == 2 and "'10.0.0.300' is not an IP address" in result.stderr
