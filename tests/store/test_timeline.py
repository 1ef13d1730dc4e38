"""A host's timeline: the store's rows (fleetcheck.store.timeline) merged into entries (fleetcheck.report.timeline).

Observations, fixes (change records), rollbacks and refusals (audit log) and
renewals come out as one list, newest first, bounded by ``limit``; each
observation says which checks changed state since the one before it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from report_factory import T0, golden_run  # type: ignore[import-not-found]

from fleetcheck.findings import FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import T
from fleetcheck.report.timeline import build_timeline
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord
from fleetcheck.store.renewals import RENEWAL_COLUMNS, RenewalTable
from fleetcheck.store.timeline import COPIES_PER_OBSERVATION

HOST = "pc-sz-003"
CHECK = "zone2-unsigned-activex"


def _at(run: RunResult, when: datetime, **changes: object) -> RunResult:
    """``run`` started at ``when``, each host probed then (the factory's hosts all carry T0)."""
    hosts = [h.model_copy(update={"started": when, "finished": when + timedelta(seconds=2)}) for h in run.hosts]
    return run.model_copy(update={"started": when, "hosts": hosts, **changes})


def _with_check(host: HostResult, status: FindingStatus) -> HostResult:
    findings = [f.model_copy(update={"status": status}) if f.check_id == CHECK else f for f in host.findings]
    return host.model_copy(update={"findings": findings})


def _run(run_id: str, when: datetime, status: FindingStatus, **changes: object) -> RunResult:
    run = _at(golden_run(run_id, when), when, **changes)
    return run.model_copy(update={"hosts": [_with_check(h, status) if h.host == HOST else h for h in run.hosts]})


def _change(action_id: str, run_id: str, position: int, when: datetime, status: str = "applied",
            host: str = HOST) -> ChangeRecord:
    return ChangeRecord(action_id=action_id, run_id=run_id, position=position, host=host, check_id=CHECK,
                        kind="set_registry_value", action={"id": action_id}, before={"value": None},
                        after={"value": {"t": "DWORD", "v": 0}}, status=status, who="TRADE\\admin",
                        applied_at=when.isoformat())


def _renewal(run_id: str, when: datetime, host: str = HOST) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(RENEWAL_COLUMNS)
    row.update(run_id=run_id, host=host, cn="F00504Y0003#0", file_name="F00504Y0003.pfx", state="installed",
               reasons=[], old_thumbprint="AA" * 20, new_thumbprint="BB" * 20, forced=False, who="TRADE\\admin",
               created_at=when.isoformat())
    return row


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same rows from SQLite and PostgreSQL (only portable SQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'timeline.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _office_history(url: str) -> None:
    """Scan (fails) → refused fix → fix → scan (passes) → rollback → renewal, plus another PC's fix."""
    with Store.open(url) as store:
        store.record_run(_run("scan-1", T0, FindingStatus.fail, scope="office"), certificates=())
        AuditLog(store).append("TRADE\\admin", HOST, "refused", run_id="fix-0", at=T0 + timedelta(hours=1),
                               result="trading session",
                               details={"check": CHECK, "reasons": [{"zh": "交易时段内", "en": "inside a trading session"}]})
        changes = ChangeLog(store)
        changes.record(_change("a1", "fix-1", 0, T0 + timedelta(hours=2)))
        changes.record(_change("a2", "fix-1", 1, T0 + timedelta(hours=2, seconds=1), status="failed"))
        changes.record(_change("b1", "fix-9", 0, T0 + timedelta(hours=2), host="pc-sz-002"))
        store.record_run(_run("scan-2", T0 + timedelta(hours=3), FindingStatus.passed, scope="verify"), certificates=())
        log = AuditLog(store)
        log.append("TRADE\\admin", HOST, "rolled_back", run_id="fix-1", action_id="a1", at=T0 + timedelta(hours=4),
                   result="ok")
        log.append("TRADE\\admin", HOST, "skipped", run_id="fix-1", action_id="a2", at=T0 + timedelta(hours=4),
                   result="failed before", details={"rollback": True,
                                                    "result_text": {"zh": "未应用过", "en": "never applied"}})
        log.append("TRADE\\admin", "pc-sz-002", "rolled_back", run_id="fix-9", action_id="b1",
                   at=T0 + timedelta(hours=4), result="ok")
        # A renewal's own validation refusal is a renewal record, not a refused fix.
        log.append("TRADE\\admin", HOST, "refused", run_id="renew-1", at=T0 + timedelta(hours=5),
                   result="bad pfx", details={"renewal": True})
        RenewalTable(store).insert([_renewal("renew-1", T0 + timedelta(hours=5))])


def test_every_kind_is_merged_newest_first_with_the_check_that_changed_state(url: str) -> None:
    _office_history(url)
    with Store.open(url) as store:
        timeline = build_timeline(store.host_timeline(HOST, 20), 20)
    assert [(e.kind, e.run_id) for e in timeline.entries] == [
        ("renewal", "renew-1"), ("rollback", "fix-1"), ("observation", "scan-2"), ("fix", "fix-1"),
        ("refused", "fix-0"), ("observation", "scan-1")]
    newest_scan = timeline.entries[2]
    assert [(c.check_id, c.before, c.after) for c in newest_scan.check_changes] == [(CHECK, "fail", "pass")]
    assert newest_scan.previous_run_id == "scan-1" and newest_scan.compliant is False  # other checks still fail
    assert newest_scan.scope == "verify" and newest_scan.scope_label == T("修复后复查", "fix verification")
    assert "fail → pass" in newest_scan.details[0].en and "不通过 → 通过" in newest_scan.details[0].zh
    first_scan = timeline.entries[-1]
    assert first_scan.check_changes == () and first_scan.previous_run_id is None
    fix = timeline.entries[3]
    assert fix.at == T0 + timedelta(hours=2) and fix.who == "TRADE\\admin"
    assert fix.summary.en == "2 change(s): 1 applied, 1 failed"
    assert [d.en for d in fix.details] == [f"{CHECK}: set_registry_value applied", f"{CHECK}: set_registry_value failed"]
    rollback = timeline.entries[1]
    assert rollback.summary.en == "rollback of fix fix-1: 1/2 restored"  # one rollback, both its entries
    assert [d.en for d in rollback.details] == ["a1: restored", "a2: not undone (never applied)"]
    refused = timeline.entries[4]
    assert refused.summary == T("修复被拒绝（1 项）：交易时段内", "fix refused (1 step(s)): inside a trading session")
    assert timeline.entries[0].summary.en == "F00504Y0003#0: installed"


def test_other_hosts_rows_stay_out(url: str) -> None:
    _office_history(url)
    with Store.open(url) as store:
        rows = store.host_timeline(HOST, 20)
    assert {c.run_id for c in rows.changes} == {"fix-1"}
    assert {a.action_id for a in rows.audit} == {"a1", "a2", None}
    assert all(r.run_id == "renew-1" for r in rows.renewals)


def test_the_timeline_and_every_source_are_bounded_by_limit(url: str) -> None:
    with Store.open(url) as store:
        for i in range(30):
            status = FindingStatus.fail if i % 2 else FindingStatus.passed
            store.record_run(_run(f"scan-{i:02}", T0 + timedelta(hours=i), status), certificates=())
        changes = ChangeLog(store)
        for i in range(30):
            changes.record(_change(f"a{i}", f"fix-{i:02}", 0, T0 + timedelta(hours=i, minutes=30)))
        rows = store.host_timeline(HOST, 5)
    assert len(rows.observations) <= (5 + 1) * COPIES_PER_OBSERVATION
    assert len({c.run_id for c in rows.changes}) == 5  # the five newest fix runs
    timeline = build_timeline(rows, 5)
    assert [e.run_id for e in timeline.entries] == ["fix-29", "scan-29", "fix-28", "scan-28", "fix-27"]
    oldest_scan = timeline.entries[3]
    assert oldest_scan.previous_run_id == "scan-27"  # the one before the oldest shown was read too
    assert [(c.before, c.after) for c in oldest_scan.check_changes] == [("fail", "pass")]


def test_an_unchanged_copy_of_an_observation_in_a_later_run_is_shown_once(url: str) -> None:
    first = _run("scan-1", T0, FindingStatus.fail)
    copied = next(h for h in first.hosts if h.host == HOST)
    rescan = _run("rescan-2", T0 + timedelta(hours=1), FindingStatus.passed, scope="rescan")
    rescan = rescan.model_copy(update={"hosts": [copied if h.host == HOST else h for h in rescan.hosts]})
    with Store.open(url) as store:
        store.record_run(first, certificates=())
        store.record_run(rescan, certificates=())
        timeline = build_timeline(store.host_timeline(HOST, 10), 10)
    assert [(e.kind, e.run_id) for e in timeline.entries] == [("observation", "scan-1")]


def test_a_host_that_was_not_probed_shows_its_status_change_not_check_changes(url: str) -> None:
    down = _run("scan-2", T0 + timedelta(hours=1), FindingStatus.passed)
    down = down.model_copy(update={"hosts": [
        h.model_copy(update={"status": HostStatus.timeout, "findings": [],
                             "error": T("60 秒内没有响应", "no answer within 60 s")}) if h.host == HOST else h
        for h in down.hosts]})
    with Store.open(url) as store:
        store.record_run(_run("scan-1", T0, FindingStatus.fail), certificates=())
        store.record_run(down, certificates=())
        store.record_run(_run("scan-3", T0 + timedelta(hours=2), FindingStatus.passed), certificates=())
        timeline = build_timeline(store.host_timeline(HOST, 10), 10)
    back, lost, first = timeline.entries
    assert lost.host_status == "timeout" and lost.compliant is None and lost.check_changes == ()
    assert lost.summary.en == "not probed: timed out (no answer within 60 s)"
    assert [d.en for d in lost.details] == ["host status: probed → timed out"]
    assert back.check_changes == () and [d.en for d in back.details] == ["host status: timed out → probed"]
    assert first.host_status == "ok"


def test_an_unknown_host_and_an_empty_store(url: str) -> None:
    with Store.open(url) as store:
        empty = store.host_timeline(HOST, 5)
        assert not empty.known and empty.store_empty
        store.record_run(_run("scan-1", T0, FindingStatus.fail), certificates=())
        unknown = store.host_timeline("PC-NOWHERE", 5)
        assert not unknown.known and not unknown.store_empty
        assert store.host_timeline(HOST, 5).known
    with pytest.raises(ValueError, match="at least 1"):
        build_timeline(unknown, 0)
