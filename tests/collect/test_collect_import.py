"""``fleetcheck collect import``: answers validated as WinRM answers, mapped by hostname, one run;
a bad file is refused by name and never spoils the others."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.agent import MAX_DEPTH, POWERSHELL, build_payload, command_line
from fleetcheck.cli import main
from fleetcheck.collect import (
    ImportSettings,
    answer_files,
    import_answers,
    match_host,
    policy_evaluator,
)
from fleetcheck.evaluate import compile_request
from fleetcheck.findings import HostStatus
from fleetcheck.inventory.model import HostSpec
from fleetcheck.policy.loader import load_policy_files
from fleetcheck.sim.host import SimulatedHost
from fleetcheck.store import Store

POLICIES = load_policy_files(())
REQUEST = compile_request(POLICIES)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def answer_text(image: str, hostname: str) -> str:
    host = SimulatedHost.from_image(image, {"hostname": hostname}, NOW)
    result = host.run(POWERSHELL, command_line()[1], build_payload(REQUEST))
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def good() -> str:
    return answer_text("win10-compliant", "PC-01")


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode("ascii") if isinstance(text, str) else text)
    return path


def inventory(path: Path, names: list[str]) -> Path:
    hosts = "".join(f"    {n}: {{ansible_host: 127.0.0.{i + 2}}}\n" for i, n in enumerate(names))
    path.write_text(f"all:\n  hosts:\n{hosts}", encoding="utf-8")
    return path


def test_bad_files_are_refused_by_name_and_the_rest_import(tmp_path: Path, good: str) -> None:
    answers = tmp_path / "answers"
    write(answers, "PC-01-20261201T080000Z.json", good)
    write(answers, "PC-02-20261201T080000Z.json", answer_text("win7-compliant", "PC-02"))
    write(answers, "PC-03-20261201T080000Z.json", good[: len(good) // 2])  # truncated copy
    broken = json.loads(good)
    broken["os"]["build"] = "many"
    write(answers, "PC-04-20261201T080000Z.json", json.dumps(broken))  # breaks the schema
    write(answers, "notes.json", good)  # not a kit file name
    inv = inventory(tmp_path / "inv.yaml", ["PC-01", "PC-02", "PC-03", "PC-04", "PC-05"])
    out, db = tmp_path / "out", f"sqlite:///{tmp_path / 'h.db'}"
    result = CliRunner().invoke(main, ["--lang", "en", "collect", "import", str(answers), "-i", str(inv),
                                       "--out", str(out), "--db", db])
    assert result.exit_code == 3, result.output  # as scan: hosts that could not be read
    assert "PC-03-20261201T080000Z.json: refused, not a valid agent answer: output is not JSON (truncated" in result.output
    assert "PC-04-20261201T080000Z.json: refused, not a valid agent answer: response does not match the contract" in result.output
    assert "os.build" in result.output
    assert "notes.json: refused, the name is not the kit's" in result.output
    assert "1 inventory hosts have no answer file: PC-05" in result.output
    assert "local collection: answers of 2 PCs imported, 3 files refused" in result.output
    run = json.loads((out / "results.json").read_text(encoding="utf-8"))
    by_host = {h["host"]: h for h in run["hosts"]}
    assert by_host["PC-01"]["status"] == "ok" and by_host["PC-02"]["status"] == "ok"
    assert by_host["PC-01"]["findings"] and by_host["PC-02"]["facts"]["os"]["hostname"] == "PC-02"
    assert by_host["PC-01"]["local_collection"] == {"file": "PC-01-20261201T080000Z.json",
                                                    "collected": "2026-12-01T08:00:00Z", "listed": True}
    assert by_host["PC-01"]["started"] == "2026-12-01T08:00:00Z"
    assert by_host["PC-03"]["status"] == "bad_output" and by_host["PC-03"]["error_class"] == "BadAnswerFile"
    assert by_host["PC-04"]["status"] == "bad_output"
    assert "PC-05" not in by_host
    assert (out / "report.html").is_file()
    with Store.open(db) as store:
        runs = store.list_runs()
        assert [r.run_id for r in runs] == [run["run_id"]]
        assert runs[0].hosts_total == len(run["hosts"])


def test_chinese_messages_name_the_file(tmp_path: Path, good: str) -> None:
    answers = tmp_path / "a"
    write(answers, "PC-02-20261201T080000Z.json", good[:100])
    write(answers, "PC-01-20261201T080000Z.json", good)
    result = CliRunner().invoke(main, ["collect", "import", str(answers), "--out", str(tmp_path / "o"),
                                       "--db", f"sqlite:///{tmp_path / 'h.db'}"])
    assert result.exit_code == 3
    assert "PC-02-20261201T080000Z.json：已拒绝，不是有效的代理答复" in result.output
    assert "清单中没有的电脑" in result.output


def test_unlisted_pc_is_recorded_under_its_own_name_and_marked(tmp_path: Path, good: str) -> None:
    path = write(tmp_path, "PC-01-20261201T080000Z.json", good)
    outcome = import_answers([path], policy_evaluator(POLICIES),
                             ImportSettings(hosts={"other": HostSpec(name="other", address="127.0.0.9")},
                                            clock=lambda: NOW))
    (host,) = outcome.run.hosts
    assert host.host == "PC-01" and host.address is None
    assert host.local_collection is not None and host.local_collection.listed is False
    assert outcome.unlisted == ["PC-01"] and outcome.missing == ["other"]


def test_the_newest_answer_of_a_pc_wins(tmp_path: Path, good: str) -> None:
    old = write(tmp_path, "PC-01-20261130T080000Z.json", good)
    new = write(tmp_path, "pc-01-20261201T080000Z.json", good)
    outcome = import_answers(answer_files([tmp_path]), policy_evaluator(POLICIES), ImportSettings(clock=lambda: NOW))
    assert [h.local_collection.file for h in outcome.run.hosts if h.local_collection] == [new.name]
    assert outcome.superseded == [old]


def test_hosts_are_matched_by_hostname_rules() -> None:
    hosts = {
        "pc01.trade.local": HostSpec(name="pc01.trade.local", address="127.0.0.2"),
        "desk": HostSpec(name="desk", address="127.0.0.3", host_vars={"hostname": "SZ-DESK-7"}),
        "byaddr": HostSpec(name="byaddr", address="PC-ADDR"),
    }
    assert match_host(hosts, "PC01").name == "pc01.trade.local"  # type: ignore[union-attr]
    assert match_host(hosts, "sz-desk-7").name == "desk"  # type: ignore[union-attr]
    assert match_host(hosts, "pc-addr").name == "byaddr"  # type: ignore[union-attr]
    assert match_host(hosts, "PC02") is None


def test_answers_are_held_to_the_winrm_bounds(tmp_path: Path, good: str) -> None:
    deep = json.loads(good)
    nested: dict[str, object] = {}
    cursor = nested
    for _ in range(MAX_DEPTH + 2):
        cursor["k"] = {}
        cursor = cursor["k"]  # type: ignore[assignment]
    deep["extra"] = nested
    files = [
        write(tmp_path, "DEEP-20261201T080000Z.json", json.dumps(deep)),
        write(tmp_path, "HUGE-20261201T080000Z.json", b" " * (16 * 1024 * 1024 + 1)),
        write(tmp_path, "BIG-20261201T080000Z.json", good.replace('"build":', '"build":99999999999999999999999,"x":', 1)),
        write(tmp_path, "BADTIME-20261341T080000Z.json", good),
        write(tmp_path, "OK-20261201T080000Z.json", good),
    ]
    outcome = import_answers(files, policy_evaluator(POLICIES), ImportSettings(clock=lambda: NOW))
    reasons = {r.path.name: r.reason.en for r in outcome.refused}
    assert "nested more than 64 levels" in reasons["DEEP-20261201T080000Z.json"]
    assert reasons["HUGE-20261201T080000Z.json"] == "larger than 16 MB"
    assert "out of range" in reasons["BIG-20261201T080000Z.json"] or "impossible" in reasons["BIG-20261201T080000Z.json"]
    assert "does not exist" in reasons["BADTIME-20261341T080000Z.json"]
    statuses = {h.host: h.status for h in outcome.run.hosts}
    assert statuses["PC-01"] is HostStatus.ok  # the good file, named by its own hostname
    assert statuses["DEEP"] is HostStatus.bad_output


def test_no_file_at_all_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["--lang", "en", "collect", "import", str(tmp_path / "empty"),
                                       "--out", str(tmp_path / "o"), "--db", f"sqlite:///{tmp_path / 'h.db'}"])
    assert result.exit_code == 2 and "no answer file to import" in result.output


def test_a_refused_file_means_exit_3_even_when_a_newer_file_of_that_pc_imports(tmp_path: Path, good: str) -> None:
    answers = tmp_path / "a"
    write(answers, "PC-01-20261130T080000Z.json", good[:-40])
    write(answers, "PC-01-20261201T080000Z.json", good)
    result = CliRunner().invoke(main, ["--lang", "en", "collect", "import", str(answers), "--out", str(tmp_path / "o"),
                                       "--db", f"sqlite:///{tmp_path / 'h.db'}", "--format", "json"])
    assert result.exit_code == 3, result.output
    assert "PC-01-20261130T080000Z.json: refused" in result.output
    run = json.loads((tmp_path / "o" / "results.json").read_text(encoding="utf-8"))
    assert [(h["host"], h["status"]) for h in run["hosts"]] == [("PC-01", "ok")]


def test_a_pc_that_gives_no_hostname_is_named_by_its_file(tmp_path: Path, good: str) -> None:
    doc = json.loads(good)
    doc["os"]["hostname"] = " "
    path = write(tmp_path, "SZ-X-20261201T080000Z.json", json.dumps(doc))
    outcome = import_answers([path], policy_evaluator(POLICIES), ImportSettings(clock=lambda: NOW))
    assert [h.host for h in outcome.run.hosts] == ["SZ-X"]
