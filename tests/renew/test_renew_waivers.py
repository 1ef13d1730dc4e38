"""renew --waivers: a PC whose certificate check is waived is left alone (skipped, saying until when and why);
an expired waiver is not honoured (renewed as usual, said so)."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fleetcheck.agent.contract import ImportPfx, ProbeRequest, ProbeResponse
from fleetcheck.cli import main
from fleetcheck.inventory import parse_inventory
from fleetcheck.inventory.model import HostSpec
from fleetcheck.officetime import office_date
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.policy.waivers import Waiver
from fleetcheck.remediate.guard import Guard, TradingCalendar
from fleetcheck.renew.apply import DropFile, Renewal, RenewalOptions, certificate_waivers
from fleetcheck.renew.passwords import PfxPassword
from fleetcheck.renew.plan import RenewalState, exit_code
from fleetcheck.sim import certgen
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import HostImage, instantiate
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog
from fleetcheck.transport import Deadline

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TODAY = office_date(NOW)
CN = "F00504Y0042#0"
SECRET = "Waiver-Renew-Secret-21"
INVENTORY = f"""
all:
  children:
    query_only:
      hosts:
        PC-A:
          ansible_host: 127.0.0.1
          gateway_cert: "{CN}"
          operator: 'TRADE\\交易员01'
"""


@pytest.fixture(scope="module")
def policies() -> list[Any]:
    return load_policies(shipped_policy_paths())


def _waiver(check: str, expires: date, **whom: list[str]) -> Waiver:
    return Waiver(check=check, reason="该机只做查询，不做证书更新", approver="张三", expires=expires, **whom)


def _renew(tmp_path: Path, policies: list[Any], waivers: tuple[Waiver, ...]) -> tuple[list[Any], list[str], Store]:
    image: HostImage = instantiate("win10-compliant", {"gateway_cert": CN, "cert_days_left": 10}, NOW)
    image.processes = [p for p in image.processes if p.name.lower() != "tdxw.exe"]
    sent: list[str] = []

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        sent.extend("import" if isinstance(a, ImportPfx) else "action" for a in request.actions)
        sent.append("probe")
        return execute(image, request)[0]

    inventory = parse_inventory(INVENTORY, "inv.yaml")
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    guard = Guard(TradingCalendar(sessions=()), clock=lambda: NOW)
    data, _ = certgen.make_pfx(certgen.LeafSpec(cn=CN, days_left=400), NOW, SECRET)
    renewal = Renewal(inventory, list(inventory.hosts), policies, store=store, guard=guard, probe=probe,
                      options=RenewalOptions(apply=True, timeout_s=10, who="tester", waivers=waivers),
                      clock=lambda: NOW)
    outcome = renewal.run([DropFile(f"{CN}.pfx", data)], {CN: PfxPassword(SECRET)})
    return outcome.items, sent, store


def test_a_waived_certificate_check_leaves_the_pc_alone(tmp_path: Path, policies: list[Any]) -> None:
    until = TODAY + timedelta(days=30)
    items, sent, store = _renew(tmp_path, policies, (_waiver("gateway-cert-validity", until, groups=["query_only"]),))
    item, = items
    assert item.state is RenewalState.skipped and exit_code(items) == 0
    assert f"waived (gateway-cert-validity) until {until}: 该机只做查询，不做证书更新 (approver 张三); not imported" \
        in item.reason_text().en
    assert "不导入" in item.reason_text().zh
    assert sent == []  # not even probed: nothing is sent to the PC
    assert [e.event for e in AuditLog(store).entries()] == []
    store.close()


def test_an_expired_waiver_is_not_honoured(tmp_path: Path, policies: list[Any]) -> None:
    gone = TODAY - timedelta(days=1)
    items, sent, store = _renew(tmp_path, policies, (_waiver("sccc-gateway-cert/gateway-cert-present", gone,
                                                             hosts=["PC-A"]),))
    item, = items
    store.close()
    assert item.state is RenewalState.installed, item.reason_text().en
    assert "import" in sent
    assert f"the waiver (sccc-gateway-cert/gateway-cert-present) expired on {gone}: not honoured, renewed as usual" \
        in item.reason_text().en


def test_only_certificate_checks_count(policies: list[Any]) -> None:
    later = TODAY + timedelta(days=5)
    zone = _waiver("portal-trusted-site", later, hosts=["PC-A"])
    other_host = _waiver("gateway-cert-naming", later, hosts=["PC-B"])
    cert = _waiver("gateway-cert-naming", later, hosts=["PC-A"])
    assert certificate_waivers([zone, other_host], policies, "PC-A", [], TODAY) == (None, [])
    assert certificate_waivers([zone, cert], policies, "PC-A", [], TODAY) == (cert, [])


def test_renew_command_takes_waivers_and_skips_without_contacting_the_pc(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    drop = tmp_path / "drop"
    drop.mkdir()
    data, _ = certgen.make_pfx(certgen.LeafSpec(cn=CN, days_left=400), NOW, SECRET)
    (drop / f"{CN}.pfx").write_bytes(data)
    passwords = tmp_path / "pw.yaml"
    passwords.write_text(f'"{CN}": "{SECRET}"\n', encoding="utf-8")
    os.chmod(passwords, 0o600)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - check: gateway-cert-validity\n    hosts: [PC-A]\n    reason: 只做查询\n"
                       f"    approver: 张三\n    expires: {TODAY + timedelta(days=60)}\n", encoding="utf-8")
    args = ["--lang", "en", "renew", "-i", str(inventory), "--drop", str(drop), "--passwords", str(passwords),
            "--db", f"sqlite:///{tmp_path / 'h.db'}", "--waivers", str(waivers), "--timeout", "5"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and f"waived (gateway-cert-validity) until {TODAY + timedelta(days=60)}" \
        in result.output
    waivers.write_text(waivers.read_text(encoding="utf-8").replace("gateway-cert-validity", "no-such-check"),
                       encoding="utf-8")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and f"{waivers}:2:12" in result.output
