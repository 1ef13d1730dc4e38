"""The office state: each host's latest observation from any run, whatever the run's scope."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from report_factory import T0, down_host, golden_run, host  # type: ignore[import-not-found]
from test_store_history import V1_DDL  # type: ignore[import-not-found]

from fleetcheck.findings import HostResult, HostStatus, RunResult
from fleetcheck.i18n import T
from fleetcheck.readiness import run_certificates
from fleetcheck.store import Store, migrations


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'h.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = Store.open(url)
    yield s
    s.close()


def record(store: Store, run: RunResult) -> None:
    store.record_run(run, certificates=run_certificates(run))


def partial(run_id: str, hours: float, *hosts: HostResult, scope: str = "limit", interrupted: bool = False,
            planned: int | None = None) -> RunResult:
    """A run of ``hosts`` ``hours`` after T0, each host swept in its first minute."""
    started = T0 + timedelta(hours=hours)
    swept = [h.model_copy(update={"started": started, "finished": started + timedelta(minutes=1)}) for h in hosts]
    return RunResult.model_validate({
        "run_id": run_id, "started": started, "finished": started + timedelta(minutes=1),
        "policies": ["sccc-gateway"], "inventory": "inventory.yaml", "hosts": swept, "scope": scope,
        "interrupted": interrupted, "hosts_planned": planned,
    })


def test_a_limit_scan_changes_one_host_and_keeps_the_others(store: Store) -> None:
    full = golden_run()
    record(store, full)
    # pc-sz-003 fixed, re-scanned alone an hour later
    record(store, partial("limit-1", 1, host("pc-sz-003", days_left=200)))
    state = store.office_state()
    assert state is not None
    assert sorted(h.host for h in state.run.hosts) == sorted(h.host for h in full.hosts)
    assert state.observations["pc-sz-003"].run_id == "limit-1"
    assert state.observations["pc-sz-003"].partial
    assert state.observations["pc-sz-001"].run_id == full.run_id
    fixed = next(h for h in state.run.hosts if h.host == "pc-sz-003")
    assert fixed.compliant
    # every certificate of the full run is still there, pc-sz-003's from the newer observation
    certs = {c.host: c for c in state.certificates}
    assert set(certs) == {c.host for c in store.certificates(full.run_id)}
    assert certs["pc-sz-003"].run_id == "limit-1"
    assert certs["pc-sz-003"].observed == T0 + timedelta(hours=1, minutes=1)
    assert state.sources == ("limit-1", full.run_id)


def test_an_interrupted_sweep_changes_only_the_hosts_it_reached(store: Store) -> None:
    record(store, golden_run())
    record(store, partial("stopped", 2, down_host("pc-sz-001", HostStatus.unreachable, "Unreachable",
                                                  T("不通", "unreachable")),
                          scope="office", interrupted=True, planned=9))
    state = store.office_state()
    assert state is not None
    assert len(state.run.hosts) == 9
    # a failed attempt keeps the last probe's state, with its time, and says since when it failed
    seen = state.observations["pc-sz-001"]
    assert (seen.run_id, seen.status, seen.observed) == ("run-20250303-0930", HostStatus.ok, T0 + timedelta(seconds=2))
    assert (seen.failed_since, seen.failed_status) == (T0 + timedelta(hours=2, minutes=1), HostStatus.unreachable)
    assert state.observations["pc-sz-002"].failed_since is None
    assert state.observations["pc-sz-004"].status is HostStatus.timeout  # never probed: its newest record
    assert store.run_summary("stopped").interrupted and store.run_summary("stopped").partial
    # the unreachable host keeps the certificate its last probe read, dated then
    cert = next(c for c in state.certificates if c.host == "pc-sz-001")
    assert cert.run_id == "run-20250303-0930"


def test_names_until_and_empty(store: Store) -> None:
    assert store.office_state() is None
    record(store, golden_run())
    record(store, partial("later", 5, host("pc-sz-001", days_left=1)))
    only = store.office_state(names={"pc-sz-001", "pc-none"})
    assert only is not None and [h.host for h in only.run.hosts] == ["pc-sz-001"]
    before = store.office_state(until=T0 + timedelta(hours=1))
    assert before is not None and before.observations["pc-sz-001"].run_id == "run-20250303-0930"


def test_stale_hosts_by_age(store: Store) -> None:
    record(store, golden_run())
    record(store, partial("recent", 24 * 9, host("pc-sz-001", days_left=1)))
    state = store.office_state()
    assert state is not None
    now = T0 + timedelta(days=10)
    stale = state.stale(now, 7)
    assert "pc-sz-001" not in stale and "pc-sz-002" in stale and len(stale) == 8
    age = state.age_days("pc-sz-002", now)
    assert age is not None and 9.9 < age < 10


def test_prune_never_drops_a_hosts_current_state(store: Store) -> None:
    record(store, golden_run())
    record(store, partial("limit-1", 1, host("pc-sz-003", days_left=200)))
    deleted = store.prune(keep_runs=1)
    assert deleted == []  # the full run still holds eight hosts' state
    record(store, partial("full-2", 2, *golden_run().hosts, scope="office"))
    assert set(store.prune(keep_runs=1)) == {"run-20250303-0930", "limit-1"}
    state = store.office_state()
    assert state is not None and state.sources == ("full-2",)


def test_office_trend_per_office_day(store: Store) -> None:
    # T0 is 2025-03-03 01:30 UTC = 09:30 Shanghai; a 23:30 UTC run is the next office day
    record(store, golden_run())
    record(store, partial("next-morning", 22, host("pc-sz-003", days_left=200)))
    points = store.office_trend()
    assert [p.day for p in points] == [date(2025, 3, 3), date(2025, 3, 4)]
    first, second = points
    assert (first.hosts, first.probed) == (9, 7)
    assert second.compliant == first.compliant + 1  # pc-sz-003 now passes; the others carried over
    assert second.hosts == 9


def test_migration_backfills_verdicts(tmp_path: Path) -> None:
    """An old store's host rows get their verdict from their findings (the trend reads only that)."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(V1_DDL)  # pc-old-01 probed with a failing check, pc-old-02 timed out
    with Store.open(str(path)) as s:
        assert s.schema_version() == migrations.CURRENT_VERSION
        (point,) = s.office_trend()
        state = s.office_state()
    assert (point.hosts, point.probed, point.compliant) == (2, 1, 0)
    assert state is not None and state.observations["pc-old-02"].status is HostStatus.timeout
    with Store.open(str(path)) as s, s.engine.connect() as conn:
        indexes = {row[1] for row in conn.exec_driver_sql("PRAGMA index_list('hosts')")}
    assert {"ux_hosts_run_host", "ix_hosts_host"} <= indexes


def test_the_newest_complete_sweep_says_which_pcs_the_office_has(store: Store) -> None:
    record(store, golden_run())
    gone = "pc-sz-001"
    rest = [h for h in golden_run().hosts if h.host != gone]
    record(store, partial("interrupted", 1, *rest[:3], scope="office", interrupted=True, planned=8))
    state = store.office_state()
    assert state is not None and gone in state.observations  # an interrupted sweep decides nothing
    record(store, partial("full-2", 2, *rest, scope="office"))
    record(store, partial("new-pc", 3, host("pc-sz-010"), scope="limit"))
    state = store.office_state()
    assert state is not None
    assert gone not in state.observations and "pc-sz-010" in state.observations
    assert len(state.run.hosts) == 9
    assert store.office_trend()[-1].hosts == 9
    assert "run-20250303-0930" in store.prune(keep_runs=1)  # it held only the removed PC's state


def test_keep_days_is_the_age_limit_of_observations(store: Store) -> None:
    record(store, golden_run())
    record(store, partial("limit-1", 24 * 40, host("pc-sz-003", days_left=200)))
    assert store.prune(keep_days=30, now=T0 + timedelta(days=41)) == ["run-20250303-0930"]
    state = store.office_state()
    assert state is not None and list(state.observations) == ["pc-sz-003"]
