"""Issue 16 acceptance 3: `collect import` of answers from every reachable PC of the demo office gives,
per host, the same findings as a WinRM scan of it, recorded as one run; a truncated file and a
schema-breaking file are refused by name while the rest import. The answers are what the written
collect.ps1 hands the agent, run through each simulated PC's executor (acceptance 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.agent import POWERSHELL
from fleetcheck.cli import main
from fleetcheck.collect import kit_payload
from fleetcheck.commands.demo import demo_office_path
from fleetcheck.sim.office import RunningOffice, start_office
from fleetcheck.store import Store

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOffice, Path]]:
    state = tmp_path_factory.mktemp("demo-office")
    with start_office(demo_office_path(), state, first_address=worker_address("127.0.157.1"),
                      now=datetime.now(timezone.utc)) as running:
        yield running, running.write_inventory(state / "inventory.yaml")


def _verdicts(host: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(f["policy_id"], f["check_id"], f["status"], f["expected"], f["observed"], f["source"],
             json.dumps(f["message"], sort_keys=True)) for f in host["findings"]]


def test_collected_answers_give_the_same_findings_as_a_winrm_scan(
        office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    running, inventory = office
    db = f"sqlite:///{tmp_path / 'history.db'}"
    runner = CliRunner()
    scanned = runner.invoke(main, ["--lang", "en", "scan", "-i", str(inventory), "--out", str(tmp_path / "scan"),
                                   "--db", db])
    assert scanned.exit_code in (1, 3), scanned.output
    scan = {h["host"]: h for h in json.loads((tmp_path / "scan" / "results.json").read_text("utf-8"))["hosts"]}
    reachable = sorted(name for name, h in scan.items() if h["status"] == "ok")
    assert len(reachable) >= 30 and len(reachable) < len(scan)  # the demo has unreachable PCs too

    kit = tmp_path / "kit"
    assert runner.invoke(main, ["collect", "script", "--out", str(kit)]).exit_code == 0
    payload = kit_payload((kit / "collect.ps1").read_bytes())
    answers = tmp_path / "answers"
    answers.mkdir()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in reachable:
        result = running.hosts[name].host.run(POWERSHELL, payload.arguments, payload.stdin)
        assert result.exit_code == 0, result.stderr
        (answers / f"{name}-{stamp}.json").write_text(result.stdout, encoding="ascii")
    good = (answers / f"{reachable[0]}-{stamp}.json").read_text("ascii")
    (answers / f"{reachable[1]}-{stamp}.json").write_text(good[: len(good) * 2 // 3], encoding="ascii")
    broken = json.loads(good)
    broken["profiles"] = "none"
    (answers / f"{reachable[2]}-{stamp}.json").write_text(json.dumps(broken), encoding="ascii")

    with Store.open(db) as store:
        runs_before = len(store.list_runs())
    imported = runner.invoke(main, ["--lang", "en", "collect", "import", str(answers), "-i", str(inventory),
                                    "--out", str(tmp_path / "collected"), "--db", db])
    assert imported.exit_code == 3, imported.output
    assert f"{reachable[1]}-{stamp}.json: refused, not a valid agent answer: output is not JSON" in imported.output
    assert f"{reachable[2]}-{stamp}.json: refused, not a valid agent answer: response does not match the contract" in imported.output
    run = json.loads((tmp_path / "collected" / "results.json").read_text("utf-8"))
    collected = {h["host"]: h for h in run["hosts"]}
    assert set(collected) == set(reachable)
    for name in reachable:
        host = collected[name]
        if name in (reachable[1], reachable[2]):
            assert host["status"] == "bad_output" and host["error_class"] == "BadAnswerFile"
            continue
        assert host["status"] == "ok", name
        assert host["local_collection"]["listed"] is True
        assert host["address"] == scan[name]["address"] and host["groups"] == scan[name]["groups"]
        assert host["findings"] and _verdicts(host) == _verdicts(scan[name]), name
        assert host["operator"] == scan[name]["operator"]
    with Store.open(db) as store:
        runs = store.list_runs()
        assert len(runs) == runs_before + 1
        stored = store.load_run(run["run_id"])
    assert sorted(h.host for h in stored.hosts) == sorted(reachable)
    assert sum(1 for h in stored.hosts if h.status.value == "ok") == len(reachable) - 2
