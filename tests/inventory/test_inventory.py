"""Inventory parsing: Ansible layout, var inheritance, passwords, errors, --limit, CSV import."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcheck.inventory import (
    InventoryError,
    PasswordSources,
    PatternError,
    load_inventory,
    parse_inventory,
    select_hosts,
)
from fleetcheck.inventory.csvimport import (
    CsvImportError,
    inventory_document,
    parse_spreadsheet,
    write_inventory_yaml,
)

OFFICE = """\
all:
  vars:
    ansible_user: 'OFFICE\\fcadmin'
    ansible_password: {env: FC_PW}
    branch: 总部
    level: all
  hosts:
    PC-HQ-001: {ansible_host: 127.0.1.1, ansible_port: 5985}
  children:
    shenzhen:
      vars: {branch: 深圳营业部, level: shenzhen}
      hosts:
        PC-SZ-001: {ansible_host: 127.0.1.2, operator: 'OFFICE\\交易员01', gateway_cert: 'F00504Y0007#0'}
        PC-SZ-002:
          ansible_host: 127.0.1.3
          level: host
      children:
        win7:
          vars: {level: win7}
          hosts:
            PC-SZ-002:
            PC-SZ-003: {ansible_host: 127.0.1.4}
    beijing:
      hosts:
        PC-BJ-001: {ansible_host: 127.0.1.5}
"""


def _inv(text: str = OFFICE, env: dict[str, str] | None = None, **kw: object):
    return parse_inventory(text, "office.yaml", PasswordSources(environ=env if env is not None else {"FC_PW": "pw-Secret-1"}, **kw))


def _errors(text: str, **kw: object) -> str:
    with pytest.raises(InventoryError) as info:
        _inv(text, **kw)
    return info.value.format("en")


def test_hosts_groups_and_endpoints() -> None:
    inv = _inv()
    assert list(inv.hosts) == ["PC-HQ-001", "PC-SZ-001", "PC-SZ-002", "PC-SZ-003", "PC-BJ-001"]
    assert set(inv.groups["shenzhen"]) == {"PC-SZ-001", "PC-SZ-002", "PC-SZ-003"}
    assert inv.groups["win7"] == ("PC-SZ-002", "PC-SZ-003")
    assert inv.hosts["PC-HQ-001"].endpoint == "http://127.0.1.1:5985/wsman"
    assert inv.hosts["PC-SZ-001"].endpoint == "https://127.0.1.2:5986/wsman"
    assert inv.hosts["PC-SZ-003"].groups == ("shenzhen", "win7")


def test_variable_precedence_host_child_parent_all() -> None:
    inv = _inv()
    assert inv.hosts["PC-HQ-001"].host_vars["level"] == "all"
    assert inv.hosts["PC-SZ-001"].host_vars["level"] == "shenzhen"
    assert inv.hosts["PC-SZ-003"].host_vars["level"] == "win7"
    assert inv.hosts["PC-SZ-002"].host_vars["level"] == "host"
    assert inv.hosts["PC-SZ-003"].branch == "深圳营业部"
    assert inv.hosts["PC-BJ-001"].branch == "总部"
    assert inv.hosts["PC-SZ-001"].operator == "OFFICE\\交易员01"
    assert inv.hosts["PC-SZ-001"].host_vars["gateway_cert"] == "F00504Y0007#0"


def test_password_from_env_is_masked_and_not_in_host_vars() -> None:
    inv = _inv()
    host = inv.hosts["PC-SZ-001"]
    assert host.password is not None and host.password.get_secret_value() == "pw-Secret-1"
    assert "pw-Secret-1" not in repr(host) and "pw-Secret-1" not in str(host)
    assert "pw-Secret-1" not in host.model_dump_json()
    assert "ansible_password" not in host.host_vars
    assert inv.warnings == ()


def test_missing_env_var_is_reported_with_position() -> None:
    with pytest.raises(InventoryError) as info:
        _inv(env={})
    text = info.value.format("en")
    assert "office.yaml:4:" in text and "FC_PW is not set" in text


def test_keyring_reference_and_prompt() -> None:
    text = OFFICE.replace("{env: FC_PW}", "{keyring: fleetcheck/fcadmin}")
    inv = _inv(text, keyring_lookup=lambda service, user: f"kr-{service}-{user}")
    assert inv.hosts["PC-BJ-001"].password.get_secret_value() == "kr-fleetcheck-fcadmin"  # type: ignore[union-attr]
    assert "no password for fleetcheck/fcadmin" in _errors(text, keyring_lookup=lambda service, user: None)
    prompted = _inv(OFFICE.replace("    ansible_password: {env: FC_PW}\n", ""),
                    prompted=__import__("pydantic").SecretStr("typed"))
    assert prompted.hosts["PC-HQ-001"].password.get_secret_value() == "typed"  # type: ignore[union-attr]


def test_literal_password_warns_once_with_line_and_never_echoes() -> None:
    text = OFFICE.replace("{env: FC_PW}", "Plain-Pass-9").replace(
        "PC-BJ-001: {ansible_host: 127.0.1.5}", "PC-BJ-001: {ansible_host: 127.0.1.5, ansible_password: Other-Pass-8}")
    inv = _inv(text)
    assert len(inv.warnings) == 1
    warning = inv.warnings[0]
    assert "office.yaml:4:" in warning.en and "and 1 more" in warning.en and "明文" in warning.zh
    assert "Plain-Pass-9" not in warning.zh + warning.en
    assert inv.hosts["PC-BJ-001"].password.get_secret_value() == "Other-Pass-8"  # type: ignore[union-attr]


def test_bad_password_shape_does_not_echo_value() -> None:
    with pytest.raises(InventoryError) as info:
        _inv(OFFICE.replace("{env: FC_PW}", "{vault: Hidden-Value-7}"))
    assert "Hidden-Value-7" not in info.value.format("en") + info.value.format("zh")


def test_all_errors_at_once_with_positions() -> None:
    text = OFFICE.replace("ansible_port: 5985", "ansible_port: http").replace(
        "      vars: {level: win7}", "      vars: {level: win7}\n          bogus: 1").replace(
        "PC-BJ-001: {ansible_host: 127.0.1.5}", "PC-BJ-001: {ansible_host: 127.0.1.5, ansible_winrm_transport: smtp}")
    with pytest.raises(InventoryError) as info:
        _inv(text)
    lines = info.value.format("en")
    assert "office.yaml:8:" in lines and "ansible_port must be an integer" in lines
    assert "unknown key 'bogus'" in lines
    assert "'smtp' is not one of ntlm, kerberos, credssp, basic" in lines


def test_basic_over_http_is_refused_for_that_host_only() -> None:
    """The host is kept (its connection fails as a ConfigurationError result); the others still load."""
    text = ("all:\n  hosts:\n    PC-1: {ansible_host: 127.0.0.1, ansible_port: 5985, ansible_winrm_transport: basic}\n"
            "    PC-2: {ansible_host: 127.0.0.2}\n")
    inv = _inv(text)
    assert sorted(inv.hosts) == ["PC-1", "PC-2"]
    (warning,) = [w for w in inv.warnings if "Basic" in w.en]
    assert ":3:" in warning.en and "Basic authentication over plain HTTP" in warning.en and "明文 HTTP" in warning.zh
    ok = _inv(text.replace("5985", "5986"))
    assert ok.hosts["PC-1"].auth == "basic" and ok.hosts["PC-1"].effective_scheme == "https"


def test_yaml_syntax_and_duplicate_keys(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as info:
        _inv("all:\n  hosts:\n    PC-1: {ansible_host: [\n")
    assert "office.yaml:" in info.value.format("en")
    with pytest.raises(InventoryError) as info:
        _inv("all:\n  hosts:\n    PC-1:\n    PC-1:\n")
    assert "office.yaml:4" in info.value.format("en")
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path / "missing.yaml")
    assert "file not found" in info.value.format("en")


def test_ca_trust_path_relative_to_inventory(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    inv_file = tmp_path / "inv.yaml"
    inv_file.write_text("all:\n  hosts:\n    PC-1: {ansible_winrm_ca_trust_path: ca.pem}\n", encoding="utf-8")
    inv = load_inventory(inv_file)
    assert inv.hosts["PC-1"].ca_trust_path == str(tmp_path / "ca.pem")
    inv_file.write_text("all:\n  hosts:\n    PC-1: {ansible_winrm_ca_trust_path: nope.pem}\n", encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(inv_file)
    assert "CA trust file not found" in info.value.format("en")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (None, ["PC-HQ-001", "PC-SZ-001", "PC-SZ-002", "PC-SZ-003", "PC-BJ-001"]),
        ("PC-SZ-001", ["PC-SZ-001"]),
        ("shenzhen", ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"]),
        ("PC-SZ-*", ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"]),
        ("beijing:PC-HQ-001", ["PC-HQ-001", "PC-BJ-001"]),
        ("beijing,PC-HQ-001", ["PC-HQ-001", "PC-BJ-001"]),
        ("shenzhen:!win7", ["PC-SZ-001"]),
        ("!win7:shenzhen", ["PC-SZ-001"]),
        ("PC-*:&win7", ["PC-SZ-002", "PC-SZ-003"]),
        ("all:!shenzhen", ["PC-HQ-001", "PC-BJ-001"]),
        ("~PC-(BJ|HQ)-.*", ["PC-HQ-001", "PC-BJ-001"]),
        ("shen*", ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"]),
    ],
)
def test_limit_patterns(pattern: str | None, expected: list[str]) -> None:
    assert select_hosts(_inv(), pattern)[0] == expected


def test_limit_no_match() -> None:
    hosts, warnings = select_hosts(_inv(), "beijing:nosuch")
    assert hosts == ["PC-BJ-001"] and "nosuch" in warnings[0].en
    with pytest.raises(PatternError):
        select_hosts(_inv(), "nosuch")
    with pytest.raises(PatternError):
        select_hosts(_inv(), "beijing:&win7")


CSV = "主机名,IP地址,分组,营业部,操作员,证书,资产编号\n" \
      "PC-SZ-001,127.0.1.2,shenzhen,深圳营业部,OFFICE\\交易员01,F00504Y0007#0,ZC-001\n" \
      "PC-SZ-002,127.0.1.3,shenzhen,深圳营业部,OFFICE\\交易员02,,ZC-002\n" \
      ",127.0.1.9,shenzhen,,,,\n" \
      "PC-SZ-001,127.0.1.4,shenzhen,,,,\n" \
      "PC-BJ-001,10.0.0.x y,beijing,北京营业部,,,\n" \
      "PC-HQ-001,127.0.1.1,,总部,,,\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_import_encodings_and_bad_rows(tmp_path: Path, encoding: str) -> None:
    parsed = parse_spreadsheet(CSV.encode(encoding), "pcs.csv")
    assert parsed.encoding == {"gbk": "gb18030"}.get(encoding, encoding)
    assert [r.en.split(": ")[0] for r in parsed.bad_rows] == ["pcs.csv:4", "pcs.csv:5", "pcs.csv:6"]
    assert "duplicate host PC-SZ-001 (first on line 2)" in parsed.bad_rows[1].en
    assert parsed.host_count == 3
    out = tmp_path / "inv.yaml"
    write_inventory_yaml(inventory_document(parsed), out)
    inv = load_inventory(out)
    host = inv.hosts["PC-SZ-001"]
    assert host.address == "127.0.1.2" and host.groups == ("shenzhen",)
    assert host.operator == "OFFICE\\交易员01" and host.branch == "深圳营业部"
    assert host.host_vars["gateway_cert"] == "F00504Y0007#0" and host.host_vars["资产编号"] == "ZC-001"
    assert inv.hosts["PC-HQ-001"].groups == ()


def test_csv_import_needs_a_hostname_column() -> None:
    with pytest.raises(CsvImportError, match="no host-name column"):
        parse_spreadsheet(b"ip;group\n1.2.3.4;a\n", "x.csv")
    tab = parse_spreadsheet(b"hostname\tip\nPC-1\t127.0.0.1\n", "x.csv")
    assert tab.groups[None]["PC-1"] == {"ansible_host": "127.0.0.1"}


def test_shipped_example_inventory_is_valid(repo_root: Path) -> None:
    inv = load_inventory(repo_root / "inventory.example.yaml",
                         PasswordSources(environ={"FC_WINRM_PASSWORD": "example"}))
    assert len(inv.hosts) == 4 and inv.hosts["PC-SZ-003"].branch == "深圳营业部"
    assert inv.hosts["PC-SH-001"].endpoint == "https://10.30.1.21:5986/wsman"
    assert inv.warnings == ()
