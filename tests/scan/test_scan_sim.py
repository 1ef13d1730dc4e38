"""``fleetcheck scan`` end to end against a simulated office (acceptance).

* 10 % of the hosts in each fault kind: the sweep ends within the deadline,
  each faulty host carries the right error class, every healthy host is
  evaluated, exit code 3;
* an operator named 交易员01 and a certificate CN with Chinese characters
  arrive intact in results.json;
* the WinRM password appears nowhere in stdout, stderr or the result files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.findings import RunResult
from fleetcheck.sim.office import OfficeSpec, start_office

pytestmark = pytest.mark.sim

PASSWORD = "Sweep-Secret-4711"
WRONG_PASSWORD = "Stale-Secret-0815"
CHINESE_CN = "深证通网关F00504Y0007#0"
TIMEOUT_S = 6

# fault kind -> (office faults, expected error class)
FAULT_KINDS: dict[str, tuple[dict[str, object], str]] = {
    "refuse": ({"refuse": True}, "Refused"),
    "hang": ({"hang": True}, "TimedOut"),
    "wsman500": ({"wsman_500": True}, "WsmanFault"),
    "unauth": ({"unauthorized": True}, "AuthRejected"),
    "agentexit": ({"agent_exit": 2}, "AgentFailed"),
    "garbage": ({"garbage": True}, "BadOutput"),
    "truncated": ({"truncated": True}, "BadOutput"),
    "gbk": ({"gbk_on_utf8": True}, "BadOutput"),
    "reset": ({"reset_mid_receive": True}, "Unreachable"),
}
# Faults a healthy sweep must ride out: the host is still probed and evaluated.
SURVIVABLE: dict[str, dict[str, object]] = {
    "huge": {"huge": True},  # ≥ 5 MB of output, chunked over many Receives
    "slow": {"slow_agent_s": 2},  # Receive answers OperationTimeout faults until done
    "latency": {"latency_ms": 40},  # per HTTP exchange
}
PER_KIND = 2  # 2 hosts per fault kind
HEALTHY = 2


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    groups: list[dict[str, object]] = [
        {"name": f"f_{kind}", "image": "win10-compliant", "count": PER_KIND, "faults": faults,
         "vars": {"hostname": f"PC-{kind}-${{n}}"}}
        for kind, (faults, _) in FAULT_KINDS.items()
    ]
    groups += [
        {"name": f"s_{kind}", "image": "win10-compliant", "count": PER_KIND, "faults": faults,
         "vars": {"hostname": f"PC-{kind}-${{n}}"}}
        for kind, faults in SURVIVABLE.items()
    ]
    groups.append({"name": "healthy", "image": "win10-compliant", "count": HEALTHY,
                   "vars": {"hostname": "PC-ok-${n}", "operator_name": "交易员01", "operator": "TRADE\\交易员01",
                            "gateway_cert": CHINESE_CN}})
    groups.append({"name": "stale_pw", "image": "win10-compliant", "count": 1, "inventory_password": WRONG_PASSWORD,
                   "vars": {"hostname": "PC-stalepw-1"}})
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 1, "agent_ms": 20}},
        "groups": groups,
    })
    state = tmp_path_factory.mktemp("office")
    with start_office(spec, state, first_address=worker_address("127.0.97.1"), now=datetime.now(timezone.utc)) as running:
        yield running.write_inventory(state / "inventory.yaml")


@pytest.fixture(scope="module")
def swept(office: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, float]:
    out = tmp_path_factory.mktemp("out")
    began = time.monotonic()
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(office), "--timeout", str(TIMEOUT_S),
                                       "--forks", "25", "--out", str(out)])
    return result, out, time.monotonic() - began


def _hosts(out: Path) -> dict[str, dict[str, object]]:
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {h["host"]: h for h in doc["hosts"]}


def test_faulty_office_sweep(swept: tuple[object, Path, float]) -> None:
    result, out, elapsed = swept
    assert result.exit_code == 3, result.output  # type: ignore[attr-defined]
    # Bounded by the per-host deadline (plus retries' backoff and cleanup), not by the number of faults.
    assert elapsed < 3 * TIMEOUT_S + 10
    hosts = _hosts(out)
    assert len(hosts) == PER_KIND * (len(FAULT_KINDS) + len(SURVIVABLE)) + HEALTHY + 1
    for kind, (_, error_class) in FAULT_KINDS.items():
        for n in range(1, PER_KIND + 1):
            host = hosts[f"PC-{kind}-{n}"]
            assert host["error_class"] == error_class, (kind, host["error"])
            assert host["status"] != "ok" and host["facts"] is None and host["error"]["zh"] and host["error"]["en"]
    for kind in SURVIVABLE:
        for n in range(1, PER_KIND + 1):
            host = hosts[f"PC-{kind}-{n}"]
            assert host["status"] == "ok" and host["findings"], (kind, host["error"])
    assert hosts["PC-stalepw-1"]["error_class"] == "AuthRejected"
    assert hosts["PC-reset-1"]["attempts"] == 3  # transient: retried twice
    for n in range(1, HEALTHY + 1):
        healthy = hosts[f"PC-ok-{n}"]
        assert healthy["status"] == "ok" and healthy["findings"], healthy["error"]
        assert healthy["facts"]["os"]["hostname"] == f"PC-ok-{n}"  # type: ignore[index]
    run = RunResult.model_validate_json((out / "results.json").read_text(encoding="utf-8"))
    assert len(run.hosts) == len(hosts) and run.finished is not None
    output = result.output  # type: ignore[attr-defined]
    assert "not probed, by error class:" in output and "Refused 2" in output
    lines = (out / "hosts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(hosts)


def test_chinese_operator_and_certificate_arrive_intact(swept: tuple[object, Path, float]) -> None:
    _, out, _ = swept
    raw = (out / "results.json").read_text(encoding="utf-8")
    assert "交易员01" in raw and CHINESE_CN in raw  # as characters, not mangled or escaped
    host = _hosts(out)["PC-ok-1"]
    assert host["operator"] == "TRADE\\交易员01"
    certificate = [f for f in host["findings"] if f["check_type"] == "certificate"]  # type: ignore[union-attr]
    assert certificate and {f["details"].get("subject_cn") for f in certificate} == {CHINESE_CN}
    assert all(f["status"] == "pass" for f in certificate)


def test_password_appears_nowhere(swept: tuple[object, Path, float]) -> None:
    result, out, _ = swept
    texts = [result.stdout, result.stderr]  # type: ignore[attr-defined]
    texts += [p.read_text(encoding="utf-8") for p in out.iterdir() if p.is_file()]
    for text in texts:
        assert PASSWORD not in text and WRONG_PASSWORD not in text
    assert "plain-text password" in result.stderr  # type: ignore[attr-defined]


def test_limit_and_json_format(office: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["scan", "-i", str(office), "--limit", "healthy", "--format", "json",
                                       "--out", str(tmp_path)])
    summary = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert summary["hosts"] == HEALTHY and summary["compliant"] == HEALTHY and summary["exit_code"] == 0
    # the run's id, the same as in results.json (to find the run in history/report)
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert isinstance(summary["run_id"], str) and summary["run_id"] == results["run_id"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("all:\n  hosts:\n    PC-1: {ansible_port: x}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2 and f"{bad}:3:" in result.stderr
    good = tmp_path / "ok.yaml"
    good.write_text("all:\n  hosts:\n    PC-1:\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(good), "--limit", "nosuch"])
    assert result.exit_code == 2 and "selects no host" in result.stderr


def test_unusable_db_is_a_usage_error_before_any_host_is_probed(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n  hosts:\n    PC-1: {ansible_host: 127.0.9.9, ansible_port: 1}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(inv), "--out", str(out),
                                       "--db", "nosuchdialect://u:s3cret@127.0.0.1:1/x"])
    assert result.exit_code == 2, result.output
    assert "driver" in result.stderr and "s3cret" not in result.output
    assert not (out / "results.json").exists()  # refused up front: nothing was swept
