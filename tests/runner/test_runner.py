"""The runner with a fake probe: retries, isolation of bad hosts, cancel (Ctrl-C) keeps finished hosts."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from pydantic import SecretStr

from fleetcheck.agent.contract import OsFacts, ProbeRequest, ProbeResponse, Profile
from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, Severity
from fleetcheck.i18n import T
from fleetcheck.inventory.model import HostSpec
from fleetcheck.runner import Sweep, SweepJob, ThreadExecutor, sweep_one
from fleetcheck.transport import AuthRejected, Deadline, QuotaExceeded, Unreachable

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)


def _facts(hostname: str) -> ProbeResponse:
    os_facts = OsFacts(version="10.0.19045", build=19045, caption="Windows 10", arch="x64", ps_version="5.1",
                       clr_version="4.0", acp=936, oem_cp=936, hostname=hostname)
    return ProbeResponse(agent_version="test", elapsed_ms=5, os=os_facts,
                         profiles=[Profile(sid="S-1-5-21-1", user="OFFICE\\交易员01", loaded=True, console=True)])


def _host(name: str) -> HostSpec:
    return HostSpec(name=name, address="127.0.0.1", port=5985, user="u", password=SecretStr("pw"))


def _evaluator(host: HostSpec, facts: ProbeResponse, now: datetime) -> tuple[list[Finding], Profile | None]:
    if host.name == "PC-EVAL-BUG":
        raise ZeroDivisionError("policy bug")
    finding = Finding(policy_id="p", check_id="c", check_type="zone_action", status=FindingStatus.passed,
                      severity=Severity.high, title=T("标题", "title"), observed=now.isoformat())
    return [finding], facts.profiles[0]


def test_transient_faults_are_retried_at_most_twice() -> None:
    calls: dict[str, int] = {}

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: threading.Event | None) -> ProbeResponse:
        calls[host.name] = calls.get(host.name, 0) + 1
        if host.name == "flaky" and calls[host.name] == 1:
            raise QuotaExceeded(T("配额", "quota"), code=0x803381A5, transient=True)
        if host.name == "reset":
            raise Unreachable(T("重置", "reset"), transient=True)
        if host.name == "denied":
            raise AuthRejected(T("拒绝", "denied"))
        return _facts(host.name)

    results = {name: sweep_one(SweepJob(host=_host(name), request=ProbeRequest(), timeout_s=30), probe=probe,
                               clock=lambda: NOW)
               for name in ("flaky", "reset", "denied")}
    assert results["flaky"].status is HostStatus.ok and results["flaky"].attempts == 2
    assert results["reset"].status is HostStatus.unreachable and results["reset"].attempts == 3
    assert results["reset"].error_class == "Unreachable"
    assert results["denied"].status is HostStatus.auth_failed and results["denied"].attempts == 1
    assert calls == {"flaky": 2, "reset": 3, "denied": 1}


def test_no_retry_when_the_deadline_is_too_close() -> None:
    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: threading.Event | None) -> ProbeResponse:
        raise Unreachable(T("重置", "reset"), transient=True)

    result = sweep_one(SweepJob(host=_host("x"), request=ProbeRequest(), timeout_s=1.0), probe=probe)
    assert result.attempts == 1 and result.status is HostStatus.unreachable


def test_bad_hosts_never_spoil_the_others() -> None:
    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: threading.Event | None) -> ProbeResponse:
        if host.name == "PC-CRASH":
            raise RuntimeError("bug in probe")
        return _facts(host.name)

    names = ["PC-1", "PC-CRASH", "PC-EVAL-BUG", "PC-2"]
    seen: list[str] = []
    sweep = Sweep([_host(n) for n in names], ProbeRequest(), _evaluator,
                  executor=ThreadExecutor(forks=3, probe=probe), clock=lambda: NOW)
    full: dict[str, bool] = {}

    def on_result(result: HostResult) -> None:
        seen.append(result.host)
        full[result.host] = result.facts is not None

    outcome = sweep.run(on_result=on_result, retain_facts=False)
    by_host = {r.host: r for r in outcome.run.hosts}
    assert sorted(seen) == sorted(names) and not outcome.interrupted
    assert full == {"PC-1": True, "PC-CRASH": False, "PC-EVAL-BUG": True, "PC-2": True}  # the callback sees facts
    assert all(r.facts is None for r in outcome.run.hosts)  # ... the kept results do not
    assert by_host["PC-CRASH"].status is HostStatus.error and "internal error" in by_host["PC-CRASH"].error.en
    assert by_host["PC-EVAL-BUG"].status is HostStatus.error
    assert by_host["PC-EVAL-BUG"].error_class == "EvaluationError"
    for name in ("PC-1", "PC-2"):
        assert by_host[name].status is HostStatus.ok and by_host[name].compliant is True
        assert by_host[name].operator == "OFFICE\\交易员01" and by_host[name].operator_sid == "S-1-5-21-1"
        assert by_host[name].findings[0].observed == NOW.isoformat()  # the injected clock reached evaluation


def test_cancel_after_k_hosts_keeps_finished_hosts() -> None:
    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: threading.Event | None) -> ProbeResponse:
        for _ in range(20):  # a slow host that notices Ctrl-C between steps, like the transport does
            if cancel is not None and cancel.is_set():
                from fleetcheck.transport import Cancelled
                raise Cancelled(T("中断", "interrupted"))
            time.sleep(0.01)
        return _facts(host.name)

    hosts = [_host(f"PC-{i:02d}") for i in range(20)]
    sweep = Sweep(hosts, ProbeRequest(), _evaluator, executor=ThreadExecutor(forks=2, probe=probe, grace_s=2),
                  clock=lambda: NOW)
    seen: list[str] = []

    def on_result(result: object) -> None:
        seen.append(result.host)  # type: ignore[attr-defined]
        if len(seen) == 3:
            sweep.cancel()

    outcome = sweep.run(on_result=on_result)
    kept = [r.host for r in outcome.run.hosts]
    assert outcome.interrupted
    assert kept[:3] == seen[:3] and 3 <= len(kept) < 20
    assert all(r.status is HostStatus.ok for r in outcome.run.hosts)
    assert set(outcome.not_swept) == {h.name for h in hosts} - set(kept)


def test_job_is_serialisable_without_the_password() -> None:
    host = _host("PC-SZ-001").model_copy(update={"host_vars": {"operator": "交易员01"}})
    job = SweepJob(host=host, request=ProbeRequest(), timeout_s=60)
    text = job.model_dump_json()
    assert "pw" not in text.replace("password", "")
    again = SweepJob.model_validate_json(text)
    assert again.host.host_vars["operator"] == "交易员01" and again.request == job.request


def test_a_stuck_host_does_not_hold_the_sweep_after_cancel() -> None:
    release = threading.Event()
    stuck_finished = threading.Event()
    grace: list[tuple[int, float]] = []

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: threading.Event | None) -> ProbeResponse:
        if host.name == "PC-STUCK":  # a blocking read that ignores the cancel flag
            release.wait(30)
            stuck_finished.set()
        return _facts(host.name)

    executor = ThreadExecutor(forks=2, probe=probe, grace_s=0.3, on_grace=lambda n, s: grace.append((n, s)))
    sweep = Sweep([_host("PC-STUCK"), _host("PC-1"), _host("PC-2")], ProbeRequest(), _evaluator, executor=executor,
                  clock=lambda: NOW)

    def on_result(result: HostResult) -> None:
        if result.host == "PC-2":
            sweep.cancel()

    outcome = sweep.run(on_result=on_result)
    try:
        assert not stuck_finished.is_set()  # run() returned while the stuck host was still blocked
        assert [r.host for r in outcome.run.hosts] == ["PC-1", "PC-2"] and outcome.not_swept == ["PC-STUCK"]
        assert outcome.interrupted and grace == [(1, 0.3)]
    finally:
        release.set()
