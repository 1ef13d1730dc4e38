"""Ansible's ``host:port`` host keys (YAML and INI) and its implicit groups ``all`` / ``ungrouped`` in ``--limit``.

Expected values follow Ansible's documented rules (docs.ansible.com, *How to
build your inventory*: "badwolf.example.com:5309" sets the port; "Default
groups": ``all`` contains every host, ``ungrouped`` every host with no group
but ``all``) and its code (``InventoryData.add_host``: a port is given when the
host is first created, the host's variables are set after it;
``reconcile_inventory``: a host in another group is taken out of ``ungrouped``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.inventory import Inventory, PatternError, load_inventory, select_hosts
from fleetcheck.inventory.hostport import split_host_port
from fleetcheck.inventory.listing import inventory_list

YAML_OFFICE = """\
all:
  hosts:
    host.example:5986:
    10.0.0.1:5985:
      ansible_user: admin
  children:
    sz:
      vars:
        ansible_port: 6000
      hosts:
        PC-SZ-[01:02]:5985:
        PC-SZ-03:5986:
          ansible_port: 5987
    sh:
      hosts:
        PC-SZ-01:7000:
        PC-SH-01:
"""

INI_OFFICE = """\
host.example:5986
10.0.0.1:5985 ansible_user=admin

[sz]
PC-SZ-[01:02]:5985
PC-SZ-03:5986 ansible_port=5987

[sz:vars]
ansible_port=6000

[sh]
PC-SZ-01:7000
PC-SH-01
"""

# What Ansible gives for both files: the name without the port; the key's port as ansible_port (a host
# variable: it beats the group's 6000); an explicit ansible_port beats the key's; a second listing's
# port (PC-SZ-01:7000) is ignored; a host with no port in its key takes the group's.
EXPECTED_PORTS = {"host.example": 5986, "10.0.0.1": 5985, "PC-SZ-01": 5985, "PC-SZ-02": 5985, "PC-SZ-03": 5987,
                  "PC-SH-01": None}
EXPECTED_ENDPOINTS = {
    "host.example": "https://host.example:5986/wsman",
    "10.0.0.1": "http://10.0.0.1:5985/wsman",  # port 5985: http, as Ansible's winrm plugin decides
    "PC-SZ-01": "http://PC-SZ-01:5985/wsman",
    "PC-SZ-02": "http://PC-SZ-02:5985/wsman",
    "PC-SZ-03": "https://PC-SZ-03:5987/wsman",
    "PC-SH-01": "https://PC-SH-01:5986/wsman",
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "text"), [("office.yaml", YAML_OFFICE), ("hosts", INI_OFFICE)])
def test_host_port_keys_set_ansible_port_as_ansible_does(tmp_path: Path, name: str, text: str) -> None:
    inv = load_inventory(_write(tmp_path, name, text))
    assert list(inv.hosts) == list(EXPECTED_PORTS)
    assert {n: h.host_vars.get("ansible_port") for n, h in inv.hosts.items()} == EXPECTED_PORTS
    assert {n: h.endpoint for n, h in inv.hosts.items()} == EXPECTED_ENDPOINTS
    assert inv.hosts["10.0.0.1"].address == "10.0.0.1" and inv.hosts["10.0.0.1"].user == "admin"
    assert inv.hosts["PC-SZ-01"].groups == ("sh", "sz")


def test_yaml_and_ini_with_ports_list_the_same(tmp_path: Path) -> None:
    yaml = inventory_list(load_inventory(_write(tmp_path, "office.yaml", YAML_OFFICE)))
    ini = inventory_list(load_inventory(_write(tmp_path, "hosts", INI_OFFICE)))
    assert yaml == ini
    assert yaml["_meta"]["hostvars"]["PC-SZ-03"] == {"ansible_port": 5987}
    assert yaml["ungrouped"] == {"hosts": ["host.example", "10.0.0.1"]}
    assert "host.example:5986" not in json.dumps(yaml)


def test_host_vars_file_beats_the_key_s_port(tmp_path: Path) -> None:
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "host.example.yml").write_text("ansible_port: 5999\n", encoding="utf-8")
    inv = load_inventory(_write(tmp_path, "office.yaml", YAML_OFFICE))
    assert inv.hosts["host.example"].effective_port == 5999  # host_vars/ is above inventory host vars


def test_a_port_out_of_range_is_refused_at_the_key(tmp_path: Path) -> None:
    from fleetcheck.inventory import InventoryError

    with pytest.raises(InventoryError) as info:
        load_inventory(_write(tmp_path, "office.yaml", "all:\n  hosts:\n    PC-1:99999:\n"))
    assert "office.yaml:3:5" in info.value.format("en") and "ansible_port must be an integer 1-65535" in \
        info.value.format("en")


@pytest.mark.parametrize(("key", "expected"), [
    ("host.example:5986", ("host.example", 5986)),
    ("10.0.0.1:5985", ("10.0.0.1", 5985)),
    ("PC-SZ-[001:003]:5985", ("PC-SZ-[001:003]", 5985)),
    ("[fe80::1]:5986", ("fe80::1", 5986)),  # IPv6 takes a port only in brackets
    ("fe80::1", ("fe80::1", None)),
    ("PC-SZ-[001:003]", ("PC-SZ-[001:003]", None)),  # the colon of a range is no port
    ("PC-1:", ("PC-1:", None)),
    ("bad@name:5986", ("bad@name:5986", None)),  # not a host name: the key is taken whole, as Ansible does
    ("pc-:5986", ("pc-:5986", None)),  # a label may not end in '-'
    ("深圳-01:5985", ("深圳-01", 5985)),  # \\w is Unicode in Ansible's pattern
])
def test_split_host_port(key: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(key) == expected


# --------------------------------------------------------------------------- --limit all / ungrouped

YAML_GROUPS = """\
all:
  hosts:
    PC-LOOSE-1:
    PC-LOOSE-2:
  children:
    ungrouped:
      hosts:
        PC-BOTH:
    sz:
      hosts:
        PC-SZ-1:
        PC-BOTH:
"""

INI_GROUPS = """\
PC-LOOSE-1
PC-LOOSE-2

[ungrouped]
PC-BOTH

[sz]
PC-SZ-1
PC-BOTH
"""


def _names(inv: Inventory, pattern: str) -> list[str]:
    return select_hosts(inv, pattern)[0]


@pytest.mark.parametrize(("name", "text"), [("office.yaml", YAML_GROUPS), ("hosts", INI_GROUPS)])
def test_limit_ungrouped_and_all_are_ansible_s_implicit_groups(tmp_path: Path, name: str, text: str) -> None:
    inv = load_inventory(_write(tmp_path, name, text))
    # PC-BOTH is listed under ungrouped but is also in sz: not ungrouped (reconcile_inventory)
    assert _names(inv, "ungrouped") == ["PC-LOOSE-1", "PC-LOOSE-2"]
    assert _names(inv, "all") == _names(inv, "*") == list(inv.hosts)
    assert _names(inv, "all:!ungrouped") == ["PC-BOTH", "PC-SZ-1"]
    assert _names(inv, "ungrouped:sz") == list(inv.hosts)
    assert _names(inv, "all:&sz") == ["PC-BOTH", "PC-SZ-1"]
    assert inventory_list(inv)["ungrouped"] == {"hosts": ["PC-LOOSE-1", "PC-LOOSE-2"]}


def test_limit_ungrouped_with_every_host_grouped_selects_nothing(tmp_path: Path) -> None:
    inv = load_inventory(_write(tmp_path, "hosts", "[sz]\nPC-SZ-1\n"))
    with pytest.raises(PatternError):
        select_hosts(inv, "ungrouped")
    names, warnings = select_hosts(inv, "sz:ungrouped")
    assert names == ["PC-SZ-1"] and [w.en for w in warnings] == ["--limit: 'ungrouped' matches no host or group"]


def test_inventory_check_limit_ungrouped_on_the_command_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "hosts", INI_GROUPS)
    result = CliRunner().invoke(main, ["--lang", "en", "inventory", "check", str(path), "--limit", "ungrouped",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hosts"] == ["PC-LOOSE-1", "PC-LOOSE-2"]
