"""Store.change_marker(): one cheap query that changes with every write a cached view depends on,
and the caller-given certificate rows of record_run (the store does not read findings' details)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from report_factory import T0, golden_run  # type: ignore[import-not-found]
from sqlalchemy import event

from fleetcheck.readiness import run_certificates
from fleetcheck.store import ChangeMarker, Store
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord
from fleetcheck.store.renewals import RENEWAL_COLUMNS, RenewalTable

WHEN = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with Store.open(url) as s:
        yield s


def _change(action_id: str) -> ChangeRecord:
    return ChangeRecord(action_id=action_id, run_id="fix-1", position=0, host="pc-sz-001", check_id="c",
                        kind="set_value", action={"kind": "set_value"}, before=None, after=None,
                        status="applied", who="alice")


def _renewal_row(run_id: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(RENEWAL_COLUMNS)
    row.update(run_id=run_id, cn="TRADER", file_name="a.pfx", state="installed", forced=False, who="alice",
               created_at=WHEN.isoformat())
    return row


def test_an_empty_store_has_an_empty_marker(store: Store) -> None:
    assert store.change_marker() == ChangeMarker(None, 0, None, 0, 0, 0, None, 0, None)


def test_reading_does_not_change_the_marker(store: Store) -> None:
    store.record_run(golden_run(), certificates=run_certificates(golden_run()))
    AuditLog(store).append("alice", "pc-sz-001", "applied", result="ok")
    before = store.change_marker()
    store.list_runs()
    store.load_run("latest")
    store.certificates()
    store.host_errors()
    AuditLog(store).verify()
    ChangeLog(store).runs()
    RenewalTable(store).all()
    assert store.change_marker() == before
    assert {before: "cached view"}[store.change_marker()] == "cached view"  # hashable: a cache key


def _writes() -> list[tuple[str, Callable[[Store], object]]]:
    return [
        ("record a run", lambda s: s.record_run(golden_run("r2", T0 + timedelta(days=1)), certificates=())),
        ("record the same run again", lambda s: s.record_run(golden_run("r2", T0 + timedelta(days=1)), certificates=())),
        ("prune a run", lambda s: s.prune(keep_runs=1)),
        ("append an audit entry", lambda s: AuditLog(s).append("alice", "pc-sz-001", "applied", result="ok")),
        ("record a change", lambda s: ChangeLog(s).record(_change("a2"))),
        ("roll a change back", lambda s: ChangeLog(s).mark("a1", "rolled_back", when=WHEN)),
        ("record a renewal", lambda s: RenewalTable(s).insert([_renewal_row("renew-2")])),
        ("roll a renewal back", lambda s: RenewalTable(s).set_state(1, "rolled_back", rolled_back_at=WHEN.isoformat())),
    ]


def test_every_write_changes_the_marker(store: Store) -> None:
    store.record_run(golden_run(), certificates=())
    ChangeLog(store).record(_change("a1"))
    RenewalTable(store).insert([_renewal_row("renew-1")])
    seen = [store.change_marker()]
    for what, write in _writes():
        write(store)
        marker = store.change_marker()
        assert marker != seen[-1], f"{what} did not change the marker"
        seen.append(marker)
    assert seen[1].latest_run_id == "r2" and seen[1].runs == 2
    assert seen[3].runs == 1  # pruned


def test_the_marker_is_one_statement(store: Store) -> None:
    store.record_run(golden_run(), certificates=())
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        store.change_marker()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements


def test_the_store_records_the_certificates_it_is_given_and_reads_no_details(store: Store) -> None:
    run = golden_run()
    store.record_run(run, certificates=())  # none given: none recorded, whatever the findings' details say
    assert store.certificates() == []
    given = [{"host": "pc-sz-001", "subject_cn": "TRADER-1", "days_left": 5, "not_after": T0 + timedelta(days=5)},
             {"host": "pc-sz-002", "thumbprint": "AB" * 20}]
    store.record_run(run, certificates=given)
    got = {c.host: c for c in store.certificates()}
    assert set(got) == {"pc-sz-001", "pc-sz-002"}
    assert (got["pc-sz-001"].subject_cn, got["pc-sz-001"].days_left, got["pc-sz-001"].not_after) == (
        "TRADER-1", 5, T0 + timedelta(days=5))
    assert got["pc-sz-002"].thumbprint == "AB" * 20 and got["pc-sz-002"].subject_cn is None


@pytest.mark.parametrize(("cert", "problem"), [
    ({"host": "not-in-the-run", "subject_cn": "X"}, "not in run"),
    ({"host": "pc-sz-001", "pfx_password": "s3cret"}, "unknown certificate fields"),
])
def test_bad_certificate_rows_are_refused_and_nothing_is_written(store: Store, cert: dict[str, Any],
                                                                 problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        store.record_run(golden_run(), certificates=[cert])
    assert store.list_runs() == []  # one transaction: the run was not half-recorded


def test_renewal_rows_must_have_exactly_the_columns(store: Store) -> None:
    row = _renewal_row("renew-1")
    del row["who"]
    with pytest.raises(ValueError, match="renewal row columns"):
        RenewalTable(store).insert([row])
    assert RenewalTable(store).all() == []
