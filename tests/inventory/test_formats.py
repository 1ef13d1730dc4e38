"""INI inventories and ``ansible-inventory --list`` JSON, detected by content, read as Ansible reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetcheck.inventory import InventoryError, load_inventory
from fleetcheck.inventory.ansible_ini import parse_value

INI = """# office (INI)
PC-LOOSE ansible_host=10.0.0.9

[sz]
PC-SZ-[001:002] ansible_port=5985
PC-SZ-003 ansible_host=10.1.2.13 operator='OFFICE\\交易员03'

[sz:vars]
branch=深圳营业部
ansible_user=OFFICE\\fcadmin

[south:children]
sz

[south:vars]
region=south
branch=南方
"""

LIST_JSON = {
    "_meta": {"hostvars": {
        "PC-LOOSE": {"ansible_host": "10.0.0.9"},
        "PC-SZ-001": {"ansible_port": 5985}, "PC-SZ-002": {"ansible_port": 5985},
        "PC-SZ-003": {"ansible_host": "10.1.2.13", "operator": "OFFICE\\交易员03"},
    }},
    "all": {"children": ["ungrouped", "south"]},
    "ungrouped": {"hosts": ["PC-LOOSE"]},
    "south": {"children": ["sz"], "vars": {"region": "south", "branch": "南方"}},
    "sz": {"hosts": ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"],
           "vars": {"branch": "深圳营业部", "ansible_user": "OFFICE\\fcadmin"}},
}


def _load(tmp_path: Path, name: str, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_inventory(path)


def _check_office(inv) -> None:  # type: ignore[no-untyped-def]
    assert list(inv.hosts) == ["PC-LOOSE", "PC-SZ-001", "PC-SZ-002", "PC-SZ-003"]
    # in no group but all, as a YAML inventory's all.hosts (inventory list shows it in ungrouped)
    assert inv.hosts["PC-LOOSE"].groups == () and inv.hosts["PC-LOOSE"].address == "10.0.0.9"
    sz1, sz3 = inv.hosts["PC-SZ-001"], inv.hosts["PC-SZ-003"]
    assert sz1.groups == ("south", "sz") and sz1.endpoint == "http://PC-SZ-001:5985/wsman"
    assert sz1.branch == "深圳营业部"  # the child group sz (depth 2) beats its parent south (depth 1)
    assert sz1.host_vars["region"] == "south" and sz1.user == "OFFICE\\fcadmin"
    assert sz3.operator == "OFFICE\\交易员03" and sz3.address == "10.1.2.13" and sz3.port is None


def test_ini_inventory(tmp_path: Path) -> None:
    _check_office(_load(tmp_path, "hosts", INI))


def test_ansible_inventory_list_json(tmp_path: Path) -> None:
    _check_office(_load(tmp_path, "office.json", json.dumps(LIST_JSON, ensure_ascii=False, indent=2)))


def test_old_script_shape_group_as_a_list(tmp_path: Path) -> None:
    inv = _load(tmp_path, "inv.json", '{"sz": ["PC-1", "PC-2"], "_meta": {"hostvars": {"PC-1": {"ansible_port": 5985}}}}')
    assert inv.groups["sz"] == ("PC-1", "PC-2") and inv.hosts["PC-1"].effective_port == 5985


@pytest.mark.parametrize(("text", "expected"), [("5985", 5985), ("True", True), ("'a b'", "a b"),
                                               ("OFFICE\\fcadmin", "OFFICE\\fcadmin"), ("[1, 2]", [1, 2]),
                                               ("x" * 2000, "x" * 2000)])
def test_ini_values_are_python_literals_when_they_read_as_one(text: str, expected: object) -> None:
    assert parse_value(text) == expected


def test_ini_problems_are_positioned(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[sz]\nPC-1 ansible_port=5985 oops\nPC-2 ansible_password='{{ pw }}'\n[sz:wat]\n"
                    "[ghost:vars]\na=1\n[sz:vars]\nnovalue\nPC-[3:1]\n", encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    text = exc.value.format("en")
    assert f"{path}:2:24: expected a key=value host variable, got 'oops'" in text
    assert f"{path}:3:23: ansible_password is a Jinja template" in text and "{{ pw }}" not in text
    assert f"{path}:4:1: invalid section [sz:wat]" in text
    assert f"{path}:5:2: [ghost:vars] is for group ghost, which is not defined" in text
    assert f"{path}:8:1: expected key=value in [sz:vars]" in text


def test_list_json_problems_are_positioned(tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text('{\n  "sz": {"hosts": "PC-1"},\n  "_meta": {"hostvars": {}}\n}\n', encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    assert f"{path}:2:19: hosts must be a list of names" in exc.value.format("en")


def test_a_yaml_inventory_in_json_syntax_is_still_yaml(tmp_path: Path) -> None:
    inv = _load(tmp_path, "inv.json", '{"all": {"hosts": {"PC-1": {"ansible_port": 5985}}}}')
    assert inv.hosts["PC-1"].effective_port == 5985


def test_an_ini_file_of_host_lines_only_is_ungrouped(tmp_path: Path) -> None:
    inv = _load(tmp_path, "hosts", "PC-1\nPC-2 ansible_port=5985\n")
    assert list(inv.hosts) == ["PC-1", "PC-2"] and inv.groups["all"] == ("PC-1", "PC-2")
    assert all(spec.groups == () for spec in inv.hosts.values())
    assert inv.hosts["PC-2"].effective_port == 5985


def test_ini_never_quotes_part_of_a_password(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("[sz]\nPC-1 ansible_password=Tiger Lily-42\n", encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    for lang in ("en", "zh"):
        text = exc.value.format(lang)
        assert "Lily-42" not in text and "Tiger" not in text
    assert f"{path}:2:29: expected a key=value host variable (quote a value that has spaces)" in exc.value.format("en")


@pytest.mark.parametrize("key", ["~", "12", "2026-01-01"])
def test_a_list_json_group_key_that_is_not_text_is_positioned(tmp_path: Path, key: str) -> None:
    """Found by the fuzz suite: a null (or number, date) group key in the --list shape was a KeyError."""
    path = tmp_path / "inventory.yaml"
    path.write_text(f"all:\n  children: [web]\n{key}:\n  hosts: [pc-1]\nweb:\n  hosts: [pc-2]\n", encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    assert f"{path}:3:1:" in str(exc.value) and "a group name must be text" in str(exc.value)
