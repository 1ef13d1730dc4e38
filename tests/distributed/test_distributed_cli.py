"""``fleetcheck scan --executor celery`` and ``fleetcheck worker`` from the command line.

End to end: a small simulated branch, a worker subprocess, a real Redis; the
scan writes its files and exit code as a local scan does. The usage errors
(no broker, --ask-pass, an unreachable broker) exit 2 with a bilingual
message that never shows the broker's password.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from distributed_support import RedisServer, free_port, wait_for_workers
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.sim.office import OfficeSpec, start_office

pytestmark = pytest.mark.sim

PASSWORD = "Cli-Secret-2468"


@pytest.fixture(scope="module")
def branch_office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 1, "agent_ms": 20}},
        "groups": [{"name": "gz", "image": "win10-compliant", "count": 3, "vars": {"hostname": "GZ-${n}", "branch": "广州"}},
                   {"name": "gz_off", "image": "win10-compliant", "count": 1, "faults": {"refuse": True},
                    "vars": {"hostname": "GZ-OFF-${n}", "branch": "广州"}}],
    })
    state = tmp_path_factory.mktemp("gz-office")
    with start_office(spec, state, first_address=worker_address("127.0.164.1"), now=datetime.now(timezone.utc)) as office:
        yield office.write_inventory(state / "inventory.yaml")


def scan(*args: str) -> Any:
    return CliRunner().invoke(main, ["--lang", "en", "scan", *args], catch_exceptions=False)


def test_scan_through_a_branch_worker_writes_results_and_exit_code_like_a_local_scan(
        branch_office: Path, redis_server: RedisServer, start_worker: Any, tmp_path: Path) -> None:
    worker = start_worker(redis_server.url, branch_office, name="gz")  # no --queue: every branch of its inventory
    wait_for_workers(redis_server.url, 1)
    out = tmp_path / "out"
    result = scan("-i", str(branch_office), "--executor", "celery", "--broker", redis_server.url,
                  "--out", str(out), "--db", f"sqlite:///{tmp_path / 'h.db'}")
    assert result.exit_code == 3, result.output  # one PC refuses: a sweep with holes
    run = json.loads((out / "results.json").read_text(encoding="utf-8"))
    statuses = {h["host"]: h["status"] for h in run["hosts"]}
    assert statuses == {"GZ-1": "ok", "GZ-2": "ok", "GZ-3": "ok", "GZ-OFF-1": "refused"}
    assert all(h["findings"] for h in run["hosts"] if h["status"] == "ok")  # evaluated on the controller
    assert len((out / "hosts.jsonl").read_text(encoding="utf-8").splitlines()) == 4
    assert PASSWORD not in result.output + worker.output()
    assert "fleetcheck.广州" in worker.output()  # it served its inventory's branch queue


def test_celery_executor_needs_a_broker(branch_office: Path) -> None:
    result = scan("-i", str(branch_office), "--executor", "celery")
    assert result.exit_code == 2
    assert "--executor celery needs --broker URL" in result.output


def test_ask_pass_is_refused_before_anything_is_asked(branch_office: Path) -> None:
    result = scan("-i", str(branch_office), "--executor", "celery", "--broker", "redis://127.0.0.1:1/0", "--ask-pass")
    assert result.exit_code == 2
    assert "--ask-pass cannot be used with --executor celery" in result.output


def test_an_unreachable_broker_is_a_usage_error_that_hides_its_password(branch_office: Path, tmp_path: Path) -> None:
    began = time.monotonic()
    result = scan("-i", str(branch_office), "--executor", "celery", "--broker",
                  f"redis://:Broker-Pass-1@127.0.0.1:{free_port()}/0", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2, result.output
    assert "cannot reach the broker redis://:**@127.0.0.1" in result.output
    assert "Broker-Pass-1" not in result.output
    assert time.monotonic() - began < 30


def test_worker_refuses_a_bad_broker_url(branch_office: Path) -> None:
    result = CliRunner().invoke(main, ["--lang", "en", "worker", "--broker", "http://x:Secret-9@h/", "-i", str(branch_office)])
    assert result.exit_code == 2
    assert "is not valid" in result.output and "Secret-9" not in result.output


def test_the_worker_command_is_registered_with_bilingual_help() -> None:
    result = CliRunner().invoke(main, ["worker", "--help"])
    assert result.exit_code == 0
    assert "--queue" in result.output and "营业部" in result.output and "--concurrency" in result.output


def _readme_section() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = text.index("## Many branches / 多营业部")
    end = text.find("\n## ", start + 10)
    return text[start:] if end < 0 else text[start:end]


def test_the_readme_commands_and_systemd_unit_use_options_that_exist() -> None:
    import shlex

    section = _readme_section()
    lines = [line.split("ExecStart=", 1)[1] for line in section.splitlines() if line.startswith("ExecStart=")]
    lines += [line.split("#", 1)[0] for line in section.splitlines() if line.startswith("fleetcheck ")]
    assert len(lines) == 3  # the unit's worker, the branch worker, the controller's scan
    for line in lines:
        argv = shlex.split(line)[1:]  # without the program
        assert "worker" in argv or "--executor" in argv
        result = CliRunner().invoke(main, [*argv, "--help"])
        assert result.exit_code == 0, (line, result.output)
