"""``fleetcheck inventory list``: one office as YAML (with a range), INI and ``ansible-inventory --list`` JSON.

Acceptance 1 of issue 15: with the same group_vars/ and host_vars/ beside each,
the three give the same ``inventory list --format json`` output, and that
output is what Ansible's documented rules give (EXPECTED, worked out by hand:
inventory group vars by depth < group_vars/all < group_vars/<group> <
inventory host vars < host_vars/<host>).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main

PASSWORD = "List-Secret-2718"

YAML_OFFICE = """all:
  vars:
    ansible_user: 'OFFICE\\fcadmin'
  children:
    south:
      vars: {region: south, branch: 南方}
      children:
        sz:
          vars: {branch: 深圳营业部}
          hosts:
            PC-SZ-[001:002]: {ansible_port: 5985}
            PC-SZ-003: {ansible_host: 10.1.2.13}
    sh:
      hosts:
        PC-SH-01: {ansible_host: 10.2.0.1}
"""

INI_OFFICE = """[all:vars]
ansible_user=OFFICE\\fcadmin

[sz]
PC-SZ-[001:002] ansible_port=5985
PC-SZ-003 ansible_host=10.1.2.13

[sh]
PC-SH-01 ansible_host=10.2.0.1

[south:children]
sz

[south:vars]
region=south
branch=南方

[sz:vars]
branch=深圳营业部
"""

JSON_OFFICE = {  # ansible-inventory -i office.yaml --list --export (group vars kept in their groups)
    "_meta": {"hostvars": {
        "PC-SZ-001": {"ansible_port": 5985}, "PC-SZ-002": {"ansible_port": 5985},
        "PC-SZ-003": {"ansible_host": "10.1.2.13"}, "PC-SH-01": {"ansible_host": "10.2.0.1"},
    }},
    "all": {"children": ["sh", "south"], "vars": {"ansible_user": "OFFICE\\fcadmin"}},
    "south": {"children": ["sz"], "vars": {"region": "south", "branch": "南方"}},
    "sz": {"hosts": ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"], "vars": {"branch": "深圳营业部"}},
    "sh": {"hosts": ["PC-SH-01"]},
}

VARS_FILES = {
    "group_vars/all.yml": "ansible_password: {env: FC_TEST_LIST_PW}\n",
    "group_vars/south.yaml": "region: south-gv\n",  # beats the inventory's south var
    "group_vars/sz/transport.json": '{"ansible_winrm_transport": "ntlm"}\n',
    "host_vars/PC-SZ-003.yml": "operator: 'OFFICE\\交易员03'\n",
    "host_vars/PC-SH-01": "ansible_host: 10.2.0.2\n",  # beats the inventory's host var
}

_SZ = {"ansible_password": "********", "ansible_port": 5985, "ansible_user": "OFFICE\\fcadmin",
       "ansible_winrm_transport": "ntlm", "branch": "深圳营业部", "region": "south-gv"}
EXPECTED = {
    "_meta": {"hostvars": {
        "PC-SZ-001": _SZ,
        "PC-SZ-002": _SZ,
        "PC-SZ-003": {"ansible_host": "10.1.2.13", "ansible_password": "********", "ansible_user": "OFFICE\\fcadmin",
                      "ansible_winrm_transport": "ntlm", "branch": "深圳营业部", "operator": "OFFICE\\交易员03",
                      "region": "south-gv"},
        "PC-SH-01": {"ansible_host": "10.2.0.2", "ansible_password": "********", "ansible_user": "OFFICE\\fcadmin"},
    }},
    "all": {"children": ["sh", "south"]},
    "sh": {"hosts": ["PC-SH-01"]},
    "south": {"children": ["sz"]},
    "sz": {"hosts": ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"]},
}


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FC_TEST_LIST_PW", PASSWORD)


def _office(folder: Path, name: str, text: str) -> Path:
    for rel, content in VARS_FILES.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    inv = folder / name
    inv.write_text(text, encoding="utf-8")
    return inv


def _list(inv: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--lang", "en", "inventory", "list", str(inv), *args])
    return result.exit_code, result.stdout, result.stderr


def test_yaml_ini_and_list_json_give_the_same_listing(tmp_path: Path) -> None:
    outputs = []
    for folder, name, text in [("yaml", "office.yaml", YAML_OFFICE), ("ini", "hosts", INI_OFFICE),
                               ("json", "office.json", json.dumps(JSON_OFFICE, ensure_ascii=False, indent=2))]:
        code, out, err = _list(_office(tmp_path / folder, name, text), "--format", "json")
        assert code == 0, err
        assert json.loads(out) == EXPECTED, folder
        assert PASSWORD not in out and PASSWORD not in err
        outputs.append(out)
    assert outputs[0] == outputs[1] == outputs[2]  # byte for byte, key order included


def test_host_option_and_yaml_format(tmp_path: Path) -> None:
    inv = _office(tmp_path, "office.yaml", YAML_OFFICE)
    code, out, _ = _list(inv, "--host", "PC-SZ-003")
    assert code == 0 and json.loads(out) == EXPECTED["_meta"]["hostvars"]["PC-SZ-003"]  # type: ignore[index]
    code, out, _ = _list(inv, "--host", "PC-SH-01", "--format", "yaml")
    assert code == 0 and "ansible_host: 10.2.0.2\n" in out and "ansible_password: '********'" in out
    code, _, err = _list(inv, "--host", "PC-NOPE")
    assert code == 2 and "no host PC-NOPE in the inventory" in err


def test_listing_needs_no_password_and_says_which_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FC_TEST_LIST_PW")
    code, out, err = _list(_office(tmp_path, "office.yaml", YAML_OFFICE))
    assert code == 0, err
    assert "ansible_password" not in json.loads(out)["_meta"]["hostvars"]["PC-SH-01"]
    assert err.count("environment variable FC_TEST_LIST_PW is not set") == 1 and "group_vars/all.yml:1:19:" in err


def test_a_bad_inventory_exits_2_with_positions(tmp_path: Path) -> None:
    inv = tmp_path / "hosts"
    inv.write_text("[sz]\nPC-[5:1]\n", encoding="utf-8")
    code, out, err = _list(inv)
    assert code == 2 and out == "" and f"{inv}:2:1: host range [5:1] in PC-[5:1]: begin is greater than end" in err


def test_hosts_in_no_group_are_listed_as_ungrouped_in_every_format(tmp_path: Path) -> None:
    formats = {
        "office.yaml": "all:\n  hosts:\n    PC-1: {ansible_port: 5985}\n  children:\n    sz:\n      hosts: {PC-2: {}}\n",
        "hosts": "PC-1 ansible_port=5985\n[sz]\nPC-2\n",
        "office.json": json.dumps({"_meta": {"hostvars": {"PC-1": {"ansible_port": 5985}}},
                                   "all": {"children": ["sz", "ungrouped"]},
                                   "ungrouped": {"hosts": ["PC-1"]}, "sz": {"hosts": ["PC-2"]}}),
    }
    expected = {"_meta": {"hostvars": {"PC-1": {"ansible_port": 5985}, "PC-2": {}}},
                "all": {"children": ["sz", "ungrouped"]}, "sz": {"hosts": ["PC-2"]}, "ungrouped": {"hosts": ["PC-1"]}}
    outputs = set()
    for name, text in formats.items():
        inv = tmp_path / name.replace(".", "_") / name
        inv.parent.mkdir()
        inv.write_text(text, encoding="utf-8")
        code, out, err = _list(inv)
        assert code == 0, err
        assert json.loads(out) == expected, name
        outputs.add(out)
    assert len(outputs) == 1
