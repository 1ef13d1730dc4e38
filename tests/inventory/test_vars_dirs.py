"""group_vars/ and host_vars/ beside the inventory, with Ansible's precedence ("Variable precedence")."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcheck.inventory import InventoryError, PasswordSources, load_inventory

INVENTORY = """all:
  vars: {branch: inv-all, note: inv-all, ansible_user: inv-user}
  children:
    sz:
      vars: {branch: inv-sz, ansible_port: 5986}
      hosts:
        PC-1: {operator: inv-host}
        PC-2: {}
    sh:
      hosts: {PC-3: {}}
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def office(tmp_path: Path) -> Path:
    inv = tmp_path / "office.yaml"
    _write(inv, INVENTORY)
    return inv


def test_ansible_precedence_of_inventory_and_vars_files(office: Path) -> None:
    base = office.parent
    _write(base / "group_vars" / "all.yml", "branch: gv-all\nansible_user: 'OFFICE\\fcadmin'\n")
    _write(base / "group_vars" / "sz.yml", "ansible_port: 5985\n")
    _write(base / "host_vars" / "PC-1.yaml", "operator: hv-host\n")
    _write(base / "host_vars" / "PC-2.json", '{"operator": "hv-json"}\n')
    inv = load_inventory(office)
    pc1, pc2, pc3 = (inv.hosts[n] for n in ("PC-1", "PC-2", "PC-3"))
    # inventory group vars (even sz's) < group_vars/all < group_vars/sz < inventory host vars < host_vars/
    assert pc1.branch == "gv-all" and pc3.branch == "gv-all"
    assert pc1.user == "OFFICE\\fcadmin" and pc3.user == "OFFICE\\fcadmin"
    assert pc1.effective_port == 5985 and pc1.endpoint.startswith("http://")  # group_vars/sz beat the inventory's 5986
    assert pc3.effective_port == 5986 and pc3.port is None
    assert pc1.operator == "hv-host" and pc2.operator == "hv-json" and pc3.operator is None
    assert pc1.host_vars["note"] == "inv-all"


def test_folders_of_files_in_name_order_and_extensionless_files(office: Path) -> None:
    base = office.parent
    _write(base / "group_vars" / "sz", "note: plain-file\nbranch: plain-file\n")  # no extension: read first
    _write(base / "group_vars" / "sz.yaml" / "10-base.yml", "branch: folder-10\nnote: folder-10\n")
    _write(base / "group_vars" / "sz.yaml" / "20-more.json", '{"branch": "folder-20"}\n')
    _write(base / "group_vars" / "sz.yaml" / ".hidden.yml", "branch: hidden\n")
    _write(base / "group_vars" / "sz.yaml" / "30-backup.yml~", "branch: backup\n")
    _write(base / "group_vars" / "sz.yaml" / "notes.txt", "branch: text\n")
    _write(base / "group_vars" / "sz.yaml" / "sub" / "40-deeper.yml", "note: deeper\n")
    inv = load_inventory(office)
    assert inv.hosts["PC-1"].branch == "folder-20"
    assert inv.hosts["PC-1"].host_vars["note"] == "deeper"
    assert inv.hosts["PC-3"].branch == "inv-all"


def test_problems_in_vars_files_are_positioned_in_those_files(office: Path) -> None:
    base = office.parent
    _write(base / "group_vars" / "sz.yml", "# Shenzhen\nansible_port: many\n")
    _write(base / "host_vars" / "PC-3.yml", "ansible_password: '{{ vault_pw }}'\n")
    _write(base / "host_vars" / "PC-2.yml", "a: [1,\n")
    with pytest.raises(InventoryError) as exc:
        load_inventory(office, PasswordSources(environ={}))
    text = exc.value.format("en")
    assert str(base / "group_vars" / "sz.yml") + ":2:15: ansible_port must be an integer" in text
    assert str(base / "host_vars" / "PC-3.yml") + ":1:19: ansible_password is a Jinja template" in text
    assert str(base / "host_vars" / "PC-2.yml") + ":2:" in text
    assert "vault_pw" not in text


def test_a_vars_file_must_be_a_mapping(office: Path) -> None:
    _write(office.parent / "group_vars" / "all.yml", "- a\n- b\n")
    with pytest.raises(InventoryError) as exc:
        load_inventory(office)
    assert "group_vars/all.yml:1:1: a variables file must be a mapping" in exc.value.format("en")


def test_literal_password_in_host_vars_warns_naming_that_file(office: Path) -> None:
    _write(office.parent / "host_vars" / "PC-2.yml", "ansible_password: Example-1\n")
    inv = load_inventory(office)
    assert inv.hosts["PC-2"].password is not None
    warning = " ".join(w.en for w in inv.warnings)
    assert "host_vars/PC-2.yml:1:19: plain-text password" in warning and "Example-1" not in warning


def test_a_host_name_cannot_read_outside_host_vars(tmp_path: Path) -> None:
    inv = tmp_path / "inv" / "office.yaml"
    _write(inv, "all:\n  hosts:\n    ../secret: {}\n")
    _write(tmp_path / "inv" / "secret.yml", "operator: leaked\n")
    _write(tmp_path / "inv" / "host_vars" / "placeholder.yml", "a: 1\n")
    assert load_inventory(inv).hosts["../secret"].operator is None
