"""Office files, the inventory they produce, `fleetcheck sim serve`, and a 500-PC office."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from fleetcheck.cli import main
from fleetcheck.sim.office import OfficeError, OfficeSpec, expand, plan_office, start_office

from .conftest import PASSWORD, USER, next_block, office_spec

DEMO = Path(__file__).resolve().parents[2] / "fleetcheck" / "sim" / "offices" / "demo.yaml"


def test_placeholders_and_host_names():
    assert expand("F00504Y${index:04}#0", {"index": 5}) == "F00504Y0005#0"
    assert expand("${unknown}-${n}", {"n": 2}) == "${unknown}-2"
    spec = office_spec([
        {"name": "a", "image": "win10-compliant", "count": 2,
         "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}"}},
        {"name": "b", "image": "win10-compliant", "count": 1, "vars": {"hostname": "B-${n:02}"}},
    ])
    hosts = plan_office(spec, first_address="127.0.1.254")
    assert [h.name for h in hosts] == ["a-001", "a-002", "B-01"]
    assert [h.address for h in hosts] == ["127.0.1.254", "127.0.2.1", "127.0.2.2"]  # .255/.0 skipped
    assert hosts[1].vars["operator"] == "TRADE\\交易员02"


def test_bad_office_files_name_the_file_and_the_problem(tmp_path: Path):
    bad = tmp_path / "office.yaml"
    bad.write_text("groups:\n  - name: x\n    image: win10-compliant\n    count: 0\n    colour: red\n", encoding="utf-8")
    with pytest.raises(OfficeError) as excinfo:
        OfficeSpec.load(bad)
    message = str(excinfo.value)
    # Every problem at once, each at its file:line:col.
    assert f"{bad}:4:12:" in message and "at least" in message
    assert f"{bad}:5:5:" in message and "unknown key 'colour'" in message
    with pytest.raises(OfficeError, match="basic needs scheme https"):
        plan_office(office_spec([{"name": "x", "image": "i", "count": 1, "transport": "basic"}]))
    with pytest.raises(OfficeError, match="not a loopback"):
        plan_office(office_spec([{"name": "x", "image": "i", "count": 1}]), first_address="10.0.0.1")
    with pytest.raises(OfficeError, match="no-such-image"):
        start_office(office_spec([{"name": "x", "image": "no-such-image", "count": 1}]), tmp_path / "s",
                     first_address=next_block())


def test_office_problems_are_bilingual_fleetcheck_errors(tmp_path: Path):
    from fleetcheck.errors import EXIT_USAGE, FleetcheckError

    with pytest.raises(OfficeError) as caught:
        plan_office(office_spec([{"name": "x", "image": "i", "count": 1, "transport": "basic"}]))
    assert isinstance(caught.value, FleetcheckError) and caught.value.exit_code == EXIT_USAGE
    assert caught.value.format("zh") == "组 x：transport basic 需要 scheme https（WinRM 拒绝 HTTP 上的 Basic）"
    with pytest.raises(OfficeError) as caught:
        start_office(office_spec([{"name": "x", "image": "no-such-image", "count": 1}]), tmp_path / "s",
                     first_address=next_block())
    assert caught.value.format("zh").startswith("镜像 'no-such-image'：")
    assert "not an image" not in caught.value.format("zh")  # the image's own message, in Chinese too


def test_demo_office_mix():
    hosts = plan_office(OfficeSpec.load(DEMO))
    assert 35 <= len(hosts) <= 45
    assert sum(h.faults.refuse for h in hosts) == 2
    assert sum(h.inventory_password != h.credentials.password for h in hosts) == 1
    assert {h.vars["branch"] for h in hosts} == {"深圳", "上海", "北京"}
    images = {h.image for h in hosts}
    assert {"win7-compliant", "win10-compliant", "win11-compliant"} <= images and len(images) >= 8
    assert hosts[0].address == "127.0.1.1"


@pytest.mark.sim
def test_inventory_is_ansible_yaml_with_chinese(make_office, tmp_path: Path):
    office = make_office([
        {"name": "sz", "image": "win10-compliant", "count": 2,
         "vars": {"operator": "TRADE\\交易员${index:02}", "gateway_cert": "F00504Y${index:04}#0", "branch": "深圳"}},
        {"name": "off", "image": "win10-compliant", "count": 1, "faults": {"refuse": True},
         "inventory_password": "stale"},
    ])
    path = office.write_inventory(tmp_path / "inventory.yaml")
    text = path.read_text(encoding="utf-8")
    assert "交易员02" in text and "深圳" in text and "\\u" not in text
    doc = YAML(typ="safe").load(text)
    host = doc["all"]["children"]["sz"]["hosts"]["sz-002"]
    assert host["ansible_host"] == office.hosts["sz-002"].address
    assert host["ansible_port"] == 5985 and host["ansible_winrm_transport"] == "ntlm"
    assert host["ansible_user"] == USER and host["ansible_password"] == PASSWORD
    assert host["operator"] == "TRADE\\交易员02" and host["gateway_cert"] == "F00504Y0002#0"
    assert host["ansible_winrm_ca_trust_path"] == str(office.ca_pem_path) and office.ca_pem_path.is_file()
    assert doc["all"]["children"]["off"]["hosts"]["off-003"]["ansible_password"] == "stale"
    _address, sim_host = office.hosts["sz-001"]
    assert sim_host.image.os.hostname == "sz-001"


@pytest.mark.sim
def test_sim_serve_writes_inventory_and_stops(tmp_path: Path):
    office = tmp_path / "office.yaml"
    office.write_text(
        "name: 测试\ndefaults:\n  credentials: {user: admin, password: pw}\n"
        "groups:\n  - {name: g, image: win10-compliant, count: 2, vars: {branch: 上海}}\n",
        encoding="utf-8",
    )
    inventory = tmp_path / "inv.yaml"
    result = CliRunner().invoke(main, [
        "sim", "serve", "--office", str(office), "--inventory-out", str(inventory),
        "--state-dir", str(tmp_path / "state"), "--first-address", next_block(), "--duration", "0.3",
    ])
    assert result.exit_code == 0, result.output
    assert "2 台终端" in result.output and "ca.pem" in result.output and "已停止" in result.output
    assert "上海" in inventory.read_text(encoding="utf-8")
    bad = CliRunner().invoke(main, ["--lang", "en", "sim", "serve", "--office", str(tmp_path / "none.yaml"),
                                    "--inventory-out", str(inventory)])
    assert bad.exit_code == 2 and "Bad office file" in bad.output and "Traceback" not in bad.output


@pytest.mark.sim
def test_five_hundred_pcs_start_fast_and_all_answer(tmp_path: Path):
    spec = office_spec([{"name": "big", "image": "win10-compliant", "count": 500}])
    began = time.perf_counter()
    with start_office(spec, tmp_path / "state", first_address=next_block()) as office:
        started = time.perf_counter() - began
        request = b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        answered = 0
        for host in office.hosts.values():
            with socket.create_connection((host.address, host.port), timeout=5) as sock:
                sock.sendall(request)
                reply = sock.recv(4096)
            # Unauthenticated: every PC asks for Negotiate, as WinRM does.
            answered += reply.startswith(b"HTTP/1.1 401") and b"WWW-Authenticate: Negotiate" in reply
        assert answered == 500
    print(f"500-PC office started in {started:.2f} s")
    assert started < 20  # acceptance check (measured well under 1 s on the dev box)
