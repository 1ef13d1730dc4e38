"""A Jinja-templated or ``!vault`` value is refused at its position and never sent (issue 15, acceptance 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.inventory import InventoryError, PasswordSources, parse_inventory
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office

VAULT = (
    "all:\n"
    "  vars:\n"
    "    ansible_user: fcadmin\n"
    "    ansible_password: !vault |\n"
    "      $ANSIBLE_VAULT;1.1;AES256\n"
    "      62313365396662343061393464336163383764373764613633653634306231386433626436623361\n"
    "  hosts:\n"
    "    PC-1: {ansible_host: 127.0.0.1}\n"
)


def _refused(text: str, **kw: object) -> InventoryError:
    with pytest.raises(InventoryError) as exc:
        parse_inventory(text, "office.yaml", **kw)  # type: ignore[arg-type]
    return exc.value


def test_templated_password_is_refused_with_its_position_and_what_to_use() -> None:
    err = _refused("all:\n  hosts:\n    PC-1: {ansible_password: '{{ vault_winrm_password }}'}\n")
    en, zh = err.format("en"), err.format("zh")
    assert "office.yaml:3:30:" in en and "ansible_password is a Jinja template" in en
    for instead in ("{env: NAME}", "{keyring: service/user}", "--ask-pass"):
        assert instead in en
    assert "Jinja 模板" in zh and "--ask-pass" in zh
    assert "vault_winrm_password" not in en and "vault_winrm_password" not in zh  # the value is never quoted


def test_vault_password_is_refused_and_its_ciphertext_never_echoed() -> None:
    err = _refused(VAULT)
    en = err.format("en")
    assert "office.yaml:4:23:" in en and "ansible_password is an Ansible Vault value (!vault)" in en
    assert "ANSIBLE_VAULT" not in en and "6231336539" not in en and "6231336539" not in err.format("zh")
    assert len(err.issues) == 1  # one problem, not a second "must be {env:}" about the same value


@pytest.mark.parametrize("value", ["'{% if x %}a{% endif %}'", "'{# note #}'", "\"x-{{ n }}\"",
                                   "{env: '{{ name }}'}", "['{{ a }}']",
                                   "\"$ANSIBLE_VAULT;1.1;AES256\\n6231\""])
def test_every_template_form_and_a_tagless_vault_value_are_refused(value: str) -> None:
    err = _refused(f"all:\n  vars:\n    ansible_password: {value}\n  hosts:\n    PC-1: {{}}\n",
                   sources=PasswordSources(environ={}))
    assert "office.yaml:3:23:" in err.format("en")


def test_any_templated_variable_is_refused_not_only_passwords() -> None:
    err = _refused("all:\n  children:\n    sz:\n      vars: {branch: '{{ site }}'}\n      hosts: {PC-1: {}}\n")
    assert "office.yaml:4:22: branch is a Jinja template" in err.format("en")


def test_unsafe_tag_is_plain_text() -> None:
    inv = parse_inventory("all:\n  hosts:\n    PC-1: {operator: !unsafe '{{ literal }}'}\n", "office.yaml")
    assert inv.hosts["PC-1"].operator == "{{ literal }}"


def test_plain_values_with_braces_are_still_accepted() -> None:
    inv = parse_inventory("all:\n  hosts:\n    PC-1: {note: 'a { b } c', ansible_password: 'p{w}d'}\n", "office.yaml")
    assert inv.hosts["PC-1"].password is not None
    assert inv.hosts["PC-1"].password.get_secret_value() == "p{w}d"


# --------------------------------------------------------------- acceptance 2: nothing reaches a PC


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOffice]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "fcadmin", "password": "Right-Secret-1"}, "scheme": "http"},
        "groups": [{"name": "sz", "image": "win10-compliant", "count": 2, "vars": {"hostname": "PC-SZ-${n}"}}],
    })
    state = tmp_path_factory.mktemp("office")
    with start_office(spec, state, first_address=worker_address("127.0.95.1"), now=datetime.now(timezone.utc),
                      record_wire=True) as running:
        yield running


def _inventory(office: RunningOffice, path: Path, password: str) -> Path:
    hosts = {name: {"ansible_host": h.address, "ansible_port": h.port, "ansible_winrm_scheme": "http"}
             for name, h in office.hosts.items()}
    path.write_text(
        "all:\n  vars:\n    ansible_user: fcadmin\n"
        f"    ansible_password: {password}\n"
        f"  hosts: {json.dumps(hosts)}\n",
        encoding="utf-8",
    )
    return path


def _wire(office: RunningOffice) -> int:
    return sum(len(e.wire or ()) for e in office.server.endpoints)


@pytest.mark.sim
@pytest.mark.parametrize("password", ["'{{ vault_winrm_password }}'",
                                      "!vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6231336539"])
def test_scan_with_a_templated_or_vault_password_exits_2_and_sends_nothing(
    office: RunningOffice, tmp_path: Path, password: str
) -> None:
    before = _wire(office)
    inv = _inventory(office, tmp_path / "office.yaml", password)
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(inv), "--out", str(tmp_path / "out"),
                                       "--timeout", "5"])
    assert result.exit_code == 2, result.output
    assert f"{inv}:4:23:" in result.stderr and "--ask-pass" in result.stderr
    assert _wire(office) == before  # the simulator saw no request at all
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.sim
def test_control_the_same_office_with_a_real_password_is_contacted(office: RunningOffice, tmp_path: Path) -> None:
    before = _wire(office)
    inv = _inventory(office, tmp_path / "office.yaml", "Right-Secret-1")
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(inv), "--out", str(tmp_path / "out"),
                                       "--timeout", "10"])
    assert result.exit_code in (0, 1), result.output
    assert _wire(office) > before
