"""Hostile agent answers (issue 13, findings 1 and 9): one PC never spoils a sweep.

* an unpaired UTF-16 surrogate (agent.ps1 writes every code unit as ``\\uXXXX``,
  a Windows string may hold one) in a registry value and a process name: the
  answer is made safe at the edge (U+FFFD plus the code unit written out), and
  the sweep writes results, report and history for every host; ``fix --apply``
  on that PC writes its audit, which verifies; the dashboard preview answers 200;
* the same from a stubbed probe that bypasses the parser: serialization is
  per host, one host's failure is that host's error;
* deep JSON, huge integers, NaN, oversize output: BadOutput (AgentOutputError),
  not "internal error … please report it".
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.agent import AgentOutputError, parse_output
from fleetcheck.agent.contract import ProbeRequest, ProbeResponse, RegValue
from fleetcheck.cli import main
from fleetcheck.findings import HostStatus, RunResult
from fleetcheck.inventory.model import HostSpec
from fleetcheck.runner import policy_sweep, serializable
from fleetcheck.sim.image import ProcessEntry
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office
from fleetcheck.transport import Deadline

LONE = "\ud800"
SHOWN = "\ufffd\\ud800"  # what the evidence shows instead
EDGE = r"SOFTWARE\Policies\Microsoft\Edge"
AT_1600 = "2026-03-04T16:00:00+08:00"
OS = {"hostname": "PC-1", "version": "10.0.19045", "build": 19045, "caption": "Microsoft Windows 10 专业版",
      "arch": "x64", "ps_version": "5.1", "clr_version": "4.0", "acp": 936, "oem_cp": 936}


def answer(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema_version": 1, "agent_version": "1", "elapsed_ms": 5, "os": OS}
    doc.update(extra)
    return doc


def raw(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=True).encode("ascii")


# --------------------------------------------------------------------------- the parser (the edge)


def test_lone_surrogates_are_made_visible_and_serializable_at_the_edge() -> None:
    doc = answer(processes=[{"name": f"Tdx{LONE}W.exe", "pid": 4}],
                 answers=[{"id": "q", "status": "ok",
                           "key": {"values": {f"Home{LONE}": {"t": "SZ", "v": f"https://a{LONE}b"}}}}])
    assert b"\\ud800" in raw(doc)  # the agent's escape, as on the wire
    facts = parse_output(raw(doc))
    assert facts.processes[0].name == f"Tdx{SHOWN}W.exe"
    key = facts.answers[0].key
    assert key is not None and key.value(f"Home{SHOWN}") == RegValue(t="SZ", v=f"https://a{SHOWN}b")
    facts.model_dump_json()  # raised PydanticSerializationError before
    # A surrogate pair is one character and stays as it is.
    assert parse_output(raw(answer(processes=[{"name": "😀.exe", "pid": 5}]))).processes[0].name == "😀.exe"


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"schema_version":1,"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
    (b'{"schema_version":1,"elapsed_ms":' + b"9" * 5000 + b"}", "impossible number"),
    (raw(answer(elapsed_ms=10**30)), "out of range"),
    (raw(answer(os={**OS, "build": 2**64})), "out of range"),
    (b'{"schema_version":1,"elapsed_ms":NaN}', "impossible number"),
    (raw(answer(errors=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])),
     "nested"),
])
def test_deep_or_huge_answers_are_bad_output(body: bytes, reason: str) -> None:
    with pytest.raises(AgentOutputError) as caught:
        parse_output(body)
    assert reason in caught.value.reason


def test_oversize_output_is_bad_output() -> None:
    body = raw(answer(errors=["x" * (17 * 1024 * 1024)]))
    with pytest.raises(AgentOutputError, match="larger than 16 MB"):
        parse_output(body)


def test_bad_output_reaches_the_sweep_as_bad_output_not_internal_error() -> None:
    from fleetcheck.transport import session

    def deep(self: Any, payload: bytes) -> bytes:
        return b'{"schema_version":1,"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}"

    spec = HostSpec(name="PC-DEEP", address="127.0.0.1")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(session.AgentSession, "run_agent", deep)  # the real session, a hostile stdout
        run = policy_sweep([], [spec], probe=session.probe_host, timeout_s=5).run().run
    host = run.hosts[0]
    assert host.error_class == "BadOutput", (host.error_class, host.error)
    assert host.error is not None and "internal error" not in host.error.en


# --------------------------------------------------------------------------- per-host isolation (a stubbed probe)


def _stub_probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
    # Built in Python: no parser in between, the lone surrogates reach the runner as they are.
    name = f"Tdx{LONE}W.exe" if host.name == "PC-BAD" else "explorer.exe"
    return ProbeResponse.model_validate(answer(processes=[{"name": name, "pid": 4}],
                                               errors=[f"WMI {LONE}"] if host.name == "PC-BAD" else []))


def test_a_stubbed_answer_with_a_lone_surrogate_spoils_only_its_own_host(tmp_path: Path) -> None:
    from fleetcheck.report.results import write_results

    hosts = [HostSpec(name="PC-GOOD", address="127.0.0.1"), HostSpec(name="PC-BAD", address="127.0.0.2")]
    run = policy_sweep([], hosts, probe=_stub_probe, timeout_s=5).run().run
    by = {h.host: h for h in run.hosts}
    assert by["PC-GOOD"].status is HostStatus.ok and by["PC-BAD"].status is HostStatus.ok
    assert by["PC-BAD"].facts is not None and by["PC-BAD"].facts.processes[0].name == f"Tdx{SHOWN}W.exe"
    path = write_results(run, tmp_path)
    loaded = RunResult.model_validate_json(path.read_text(encoding="utf-8"))
    assert {h.host for h in loaded.hosts} == {"PC-GOOD", "PC-BAD"}


def test_a_host_that_cannot_be_repaired_becomes_that_hosts_error() -> None:
    from fleetcheck import textsafe
    from fleetcheck.findings import HostResult

    broken = HostResult(host="PC-X", status=HostStatus.ok, operator=f"TRADE\\x{LONE}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(textsafe, "clean", lambda value: value)  # as if the repair had a bug
        safe = serializable(broken)
    assert safe.status is HostStatus.error and safe.error_class == "BadOutput" and safe.facts is None
    safe.model_dump_json()


# --------------------------------------------------------------------------- a simulated PC, end to end


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOffice, Path, Path]]:
    root = tmp_path_factory.mktemp("hostile")
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": "Hostile-Secret-13"},
            "faults": {"latency_ms": 0, "agent_ms": 0},
            "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
                     "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}",
                     "gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"},
        },
        "groups": [{"name": "ok", "image": "win10-compliant", "count": 2, "vars": {"hostname": "HS-${n}"}}],
    })
    with start_office(spec, root, first_address=worker_address("127.0.131.1"), now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        bad = running.hosts["HS-1"].host
        edge = bad.image.hklm.ensure(EDGE)
        edge.set("DownloadRestrictions", RegValue(t="SZ", v=f"3{LONE}"))  # fails edge-download-restrictions
        edge.set(f"Homepage{LONE}", RegValue(t="SZ", v=f"https://intranet{LONE}"))
        sid = bad.image.profiles[0].sid
        bad.image.processes.append(ProcessEntry(f"Note{LONE}pad.exe", 7777, sid))
        yield running, running.write_inventory(root / "inventory.yaml"), root


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["--lang", "en", *args], catch_exceptions=False)


@pytest.mark.sim
def test_scan_writes_results_report_and_history_for_every_host(office: tuple[RunningOffice, Path, Path],
                                                                tmp_path: Path) -> None:
    _, inventory, _ = office
    out, db = tmp_path / "out", tmp_path / "history.db"
    result = cli("scan", "-i", str(inventory), "--out", str(out), "--db", str(db))
    assert result.exit_code in (0, 1), result.output
    run = RunResult.model_validate_json((out / "results.json").read_text(encoding="utf-8"))
    by = {h.host: h for h in run.hosts}
    assert set(by) == {"HS-1", "HS-2"} and all(h.status is HostStatus.ok for h in run.hosts)
    assert len((out / "hosts.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    bad = by["HS-1"]
    assert bad.facts is not None and f"Note{SHOWN}pad.exe" in {p.name for p in bad.facts.processes}
    finding = {f.check_id: f for f in bad.findings}["edge-download-restrictions"]
    assert finding.status.value == "fail" and finding.observed is not None and SHOWN in finding.observed
    assert "HS-1" in (out / "report.html").read_text(encoding="utf-8")
    with sqlite3.connect(db) as raw_db:
        assert raw_db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


@pytest.mark.sim
def test_fix_apply_on_that_pc_writes_its_audit(office: tuple[RunningOffice, Path, Path], tmp_path: Path) -> None:
    _, inventory, _ = office
    db = tmp_path / "fix.db"
    applied = cli("fix", "HS-1", "-i", str(inventory), "--apply", "--db", str(db), "--now", AT_1600,
                  "--trading-process", "XtItClient.exe")
    assert applied.exit_code == 0, applied.output
    shown = cli("audit", "show", "--db", str(db), "--format", "json")
    entries = json.loads(shown.output)
    assert any(e["event"] == "applied" and (e["before"] or {}).get("value") == {"t": "SZ", "v": f"3{SHOWN}"}
               for e in entries), [(e["event"], e["before"]) for e in entries]
    assert cli("audit", "verify", "--db", str(db)).exit_code == 0


@pytest.mark.sim
def test_dashboard_preview_of_that_pc_answers_200(office: tuple[RunningOffice, Path, Path], tmp_path: Path) -> None:
    import re

    from starlette.testclient import TestClient

    from fleetcheck.web.app import create_app
    from fleetcheck.web.auth import Credentials, hash_password
    from fleetcheck.web.fleet import Fleet, FleetSettings
    from fleetcheck.web.jobs import JobBoard

    running, inventory, _ = office
    # Poisoned again: the fix test may have run first and corrected it.
    running.hosts["HS-1"].host.image.hklm.ensure(EDGE).set("DownloadRestrictions", RegValue(t="SZ", v=f"3{LONE}"))
    when = datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc)  # 16:00 in Shanghai, after the close
    fleet = Fleet(FleetSettings(db_url=f"sqlite:///{tmp_path / 'web.db'}", inventory=inventory, clock=lambda: when,
                                timeout_s=20, literal_passwords_ok=True))
    app = create_app(fleet, Credentials(users={"admin": hash_password("pw-13-hostile")}), board=JobBoard(workers=1))
    csrf = re.compile(r'name="csrf" value="([^"]+)"')
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        token = csrf.search(client.get("/login").text)
        assert token is not None
        logged = client.post("/login", data={"csrf": token.group(1), "username": "admin", "password": "pw-13-hostile",
                                             "next": "/"})
        assert logged.status_code == 303
        preview = client.get("/hosts/HS-1/preview")
        assert preview.status_code == 200, preview.text[:500]
        assert "DownloadRestrictions" in preview.text and "\ufffd" in preview.text
    fleet.close()


# --------------------------------------------------------------------------- one malformed fact (finding 9)


def _sim_facts(image: str) -> ProbeResponse:
    from fleetcheck.agent import build_payload, command_line
    from fleetcheck.evaluate import compile_request
    from fleetcheck.policy.loader import load_policies, shipped_policy_paths
    from fleetcheck.sim.host import SimulatedHost

    host = SimulatedHost.from_image(image, {
        "hostname": "PC-1", "operator": "TRADE\\op", "operator_name": "op", "operator_sid": "S-1-5-21-1-2-3-1001",
        "gateway_cert": "F00504Y0001#0", "cert_kind": "file"})
    exe, args = command_line()
    out = host.run(exe, args, build_payload(compile_request(load_policies(shipped_policy_paths()))))
    return parse_output(out.stdout.encode("ascii"))


@pytest.fixture(scope="module")
def sim_facts() -> ProbeResponse:
    return _sim_facts("win10-compliant")


@pytest.fixture(scope="module")
def no_site_list_facts() -> ProbeResponse:
    """No machine site list: the operator's own IE-mode page list (Edge Preferences) decides portal-ie-mode."""
    return _sim_facts("win10-no-ie-mode")


NOW = datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc)


def _evaluate(facts: ProbeResponse) -> dict[str, Any]:
    from fleetcheck.evaluate import evaluate_host
    from fleetcheck.policy.loader import load_policies, shipped_policy_paths

    evaluation = evaluate_host(load_policies(shipped_policy_paths()), facts, host_vars={}, now=NOW)
    return {f.check_id: f for f in evaluation.findings}


def test_a_malformed_os_version_is_an_error_on_the_checks_that_use_it_only(sim_facts: ProbeResponse) -> None:
    good = _evaluate(sim_facts)
    bad_facts = sim_facts.model_copy(update={"os": sim_facts.os.model_copy(update={"version": "abc"})})
    bad = _evaluate(bad_facts)
    from fleetcheck.policy.loader import load_policies, shipped_policy_paths

    uses_os = {c.id for p in load_policies(shipped_policy_paths()) for c in p.checks
               if c.when is not None and (c.when.os is not None or c.when.os_family is not None)}
    assert uses_os and set(bad) == set(good)
    for check_id, finding in bad.items():
        if check_id in uses_os:
            assert finding.status.value == "error" and finding.message is not None
            assert "'abc'" in finding.message.en and "internal error" not in finding.message.en
        else:
            assert finding.status == good[check_id].status, check_id  # the rest evaluated as before
    # Through the sweep: the host stays "ok" with its findings, not "evaluation failed".
    spec = HostSpec(name="PC-1", address="127.0.0.1")
    run = policy_sweep(load_policies(shipped_policy_paths()), [spec], timeout_s=5, clock=lambda: NOW,
                       probe=lambda *a: bad_facts).run().run
    assert run.hosts[0].status is HostStatus.ok and run.hosts[0].findings


def _with_preferences(facts: ProbeResponse, content: bytes) -> ProbeResponse:
    import base64

    answers = []
    for ans in facts.answers:
        if ans.file is not None and ans.file.path.endswith("\\Preferences"):
            answers.append(ans.model_copy(update={"status": "ok", "file": ans.file.model_copy(update={
                "exists": True, "size": len(content), "content": base64.b64encode(content).decode("ascii")})}))
        else:
            answers.append(ans)
    return facts.model_copy(update={"answers": answers})


@pytest.mark.parametrize("content", [
    b'{"dual_engine":' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    b'{"dual_engine":{"user_list_data_1":{"https://biz.sccc.com/":{"date_added":"' + b"9" * 5000 + b'"}}}}',
    b'{"dual_engine":{"user_list_data_1":{"https://biz.sccc.com/":{"date_added":"' + b"9" * 40 + b'"}}}}',
    b'{"n":' + b"1" * 5000 + b"}",
])
def test_a_hostile_edge_preferences_file_does_not_break_portal_ie_mode(no_site_list_facts: ProbeResponse,
                                                                       content: bytes) -> None:
    findings = _evaluate(_with_preferences(no_site_list_facts, content))
    ie_mode = findings["portal-ie-mode"]
    # Unreadable or useless: the portal is not in the user's list, so the check fails (it is not an error).
    assert ie_mode.status.value == "fail", (ie_mode.status, ie_mode.message)


@pytest.mark.parametrize(("body", "says"), [
    (b'{"schema_version":1,"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
    (b'{"schema_version":1,"elapsed_ms":' + b"9" * 5000 + b"}", "impossible number"),
    (b'{"schema_version":1,"elapsed_ms":1' + b"0" * 30 + b"}", "out of range"),
])
def test_evaluate_facts_on_hostile_files_is_a_clear_error_not_a_traceback(tmp_path: Path, body: bytes,
                                                                          says: str) -> None:
    path = tmp_path / "facts.json"
    path.write_bytes(body)
    result = cli("evaluate", "--facts", str(path))
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output


def test_evaluate_facts_with_a_lone_surrogate_and_a_bad_version_evaluates(tmp_path: Path,
                                                                          sim_facts: ProbeResponse) -> None:
    doc = sim_facts.model_dump(mode="json")
    doc["os"]["version"] = "abc"
    doc["processes"].append({"name": f"Tdx{LONE}W.exe", "pid": 99})
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(doc, ensure_ascii=True), encoding="utf-8")
    result = cli("evaluate", "--facts", str(path))
    assert result.exit_code == 1, result.output  # findings (errors), not a usage error or a traceback
    assert "'abc'" in result.output


@pytest.mark.parametrize("content", ["not base64!", "中文内容", "QUJ"])  # not base64, non-ASCII, bad padding
def test_file_content_that_is_not_base64_is_that_checks_error(no_site_list_facts: ProbeResponse, content: str) -> None:
    answers = []
    for ans in no_site_list_facts.answers:
        if ans.file is not None and ans.file.path.endswith("\\Preferences"):
            answers.append(ans.model_copy(update={"status": "ok", "file": ans.file.model_copy(update={
                "exists": True, "content": content})}))
        else:
            answers.append(ans)
    findings = _evaluate(no_site_list_facts.model_copy(update={"answers": answers}))
    ie_mode = findings["portal-ie-mode"]
    assert ie_mode.status.value == "error" and ie_mode.message is not None
    assert not ie_mode.message.en.startswith("internal error"), ie_mode.message.en
    assert "cannot be read" in ie_mode.message.en
    assert findings["portal-trusted-site"].status == _evaluate(no_site_list_facts)["portal-trusted-site"].status
