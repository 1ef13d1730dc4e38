"""The run-history store: record/load round trip, history queries, retention, migrations."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from report_factory import T0, golden_run  # type: ignore[import-not-found]

from fleetcheck.findings import HostStatus, LocalCollection, RunResult
from fleetcheck.readiness import run_certificates
from fleetcheck.store import (
    RunNotFound,
    Store,
    StoreError,
    default_db_url,
    migrations,
    resolve_db_url,
    schema,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests on SQLite and on a real PostgreSQL server (SQLAlchemy Core, one schema)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'h.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    s = Store.open(url)
    yield s
    s.close()


def record(store: Store, run: RunResult) -> str:
    """Record a run as fleetcheck does: with the certificates its findings describe."""
    return store.record_run(run, certificates=run_certificates(run))


def test_round_trip_keeps_every_host_and_finding(store: Store) -> None:
    run = golden_run()
    assert store.record_run(run, certificates=()) == run.run_id
    loaded = store.load_run("latest")
    assert loaded.model_dump() == run.model_dump()


def test_recording_the_same_run_twice_replaces_it(store: Store) -> None:
    record(store, golden_run())
    record(store, golden_run())
    assert [r.run_id for r in store.list_runs()] == ["run-20250303-0930"]
    assert len(store.certificates()) == 6  # 7 probed, pc-sh-005 has no operator


def test_run_counts_and_history_order(store: Store) -> None:
    store.record_run(golden_run("old", T0 - timedelta(days=7)), certificates=())
    store.record_run(golden_run("new", T0), certificates=())
    runs = store.list_runs()
    assert [r.run_id for r in runs] == ["new", "old"]
    new = runs[0]
    assert (new.hosts_total, new.hosts_probed, new.hosts_failed) == (9, 7, 2)
    # pc-sz-001, pc-sz-002 (R14 fails but only that), … compliant = no fail/error/not_evaluated
    assert new.hosts_compliant == 1
    assert new.compliance_pct == round(100 / 7, 1)
    assert store.previous_run("new").run_id == "old"  # type: ignore[union-attr]
    assert store.previous_run("old") is None
    assert [r.run_id for r in store.trend("new")] == ["old", "new"]


def test_certificates_from_certificate_findings_sorted_by_days_left(store: Store) -> None:
    record(store, golden_run())
    certs = store.certificates("latest")
    assert [c.host for c in certs][:3] == ["pc-sh-006", "pc-sz-003", "pc-sz-002"]
    first = certs[0]
    assert first.days_left == -3 and first.kind == "file" and first.has_private_key is True
    assert first.not_after == T0 + timedelta(days=-3)
    assert first.user == "TRADE\\trader006"


def test_host_errors_recorded(store: Store) -> None:
    store.record_run(golden_run(), certificates=())
    errors = store.host_errors()
    assert [(e["host"], e["status"], e["error_class"]) for e in errors] == [
        ("pc-sh-007", "auth_failed", "AuthFailed"),
        ("pc-sz-004", "timeout", "HostTimeout"),
    ]
    assert "NTLM" in errors[0]["message"]["en"]


def test_unknown_run_is_a_clear_error(store: Store) -> None:
    with pytest.raises(RunNotFound) as exc:
        store.load_run("latest")
    assert "fleetcheck scan" in exc.value.text.en
    store.record_run(golden_run(), certificates=())
    with pytest.raises(RunNotFound) as exc2:
        store.load_run("nope")
    assert "fleetcheck history" in exc2.value.text.en and "nope" in exc2.value.text.zh


def test_prune_by_count_and_age(store: Store) -> None:
    for i in range(5):
        record(store, golden_run(f"r{i}", T0 + timedelta(days=i)))
    assert store.prune(keep_runs=3) == ["r1", "r0"]
    now = T0 + timedelta(days=4, hours=1)
    assert store.prune(keep_days=2, now=now) == ["r2"]  # r2 started 2 days 1 hour before now
    assert [r.run_id for r in store.list_runs()] == ["r4", "r3"]
    with sa.create_engine(store.url).connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(schema.findings)).scalar()
        certs = conn.execute(sa.select(sa.func.count()).select_from(schema.certificates)).scalar()
    assert left == 2 * 105 and certs == 2 * 6


def test_no_secret_columns_anywhere() -> None:
    for table in schema.metadata.sorted_tables:
        for column in table.columns:
            assert not any(w in column.name.lower() for w in ("password", "secret", "credential"))


def test_fresh_database_matches_current_schema(store: Store) -> None:
    assert store.schema_version() == migrations.CURRENT_VERSION
    insp = sa.inspect(sa.create_engine(store.url))
    for table in schema.metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}


V1_DDL = """
CREATE TABLE runs (run_id VARCHAR(100) PRIMARY KEY, started DATETIME NOT NULL, finished DATETIME,
  policies JSON NOT NULL, inventory VARCHAR(1000), hosts_total INTEGER NOT NULL,
  hosts_probed INTEGER NOT NULL, hosts_compliant INTEGER NOT NULL, hosts_failed INTEGER NOT NULL,
  findings_fail INTEGER NOT NULL, findings_error INTEGER NOT NULL, recorded DATETIME NOT NULL);
CREATE TABLE hosts (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id VARCHAR(100) NOT NULL REFERENCES runs(run_id),
  position INTEGER NOT NULL, host VARCHAR(300) NOT NULL, address VARCHAR(300), status VARCHAR(40) NOT NULL,
  error_class VARCHAR(200), error JSON, started DATETIME, finished DATETIME, attempts INTEGER NOT NULL,
  operator VARCHAR(300), operator_sid VARCHAR(200), groups JSON NOT NULL);
CREATE TABLE findings (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id VARCHAR(100) NOT NULL,
  host_id INTEGER NOT NULL, position INTEGER NOT NULL, policy_id VARCHAR(200) NOT NULL,
  check_id VARCHAR(200) NOT NULL, check_type VARCHAR(100) NOT NULL, status VARCHAR(40) NOT NULL,
  severity VARCHAR(20) NOT NULL, title JSON NOT NULL, expected TEXT, observed TEXT, source TEXT,
  message JSON, remedy JSON, guide VARCHAR(100), fix VARCHAR(20) NOT NULL, waiver JSON);
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied DATETIME NOT NULL);
INSERT INTO schema_version VALUES (1, '2024-02-01 08:00:00.000000');
INSERT INTO runs VALUES ('v1-run', '2024-02-01 01:30:00.000000', '2024-02-01 01:32:00.000000',
  '["sccc-gateway-cert"]', 'office.yaml', 2, 1, 0, 1, 1, 0, '2024-02-01 01:33:00.000000');
INSERT INTO hosts VALUES (1, 'v1-run', 0, 'pc-old-01', '10.0.0.1', 'ok', NULL, NULL,
  '2024-02-01 01:30:00.000000', '2024-02-01 01:30:02.000000', 1, 'TRADE\\t01', 'S-1-5-21-1', '["traders"]');
INSERT INTO hosts VALUES (2, 'v1-run', 1, 'pc-old-02', NULL, 'timeout', 'HostTimeout',
  '{"zh": "超时", "en": "timed out"}', NULL, NULL, 2, NULL, NULL, '[]');
INSERT INTO findings VALUES (1, 'v1-run', 1, 0, 'sccc-gateway-cert', 'zone2-unsigned-activex',
  'zone_action', 'fail', 'high', '{"zh": "下载未签名的 ActiveX 控件", "en": "Download unsigned ActiveX"}',
  '0', '3', 'HKU\\S-1-5-21-1\\...\\Zones\\2', NULL, '{"zh": "设为 0", "en": "set to 0"}', '一.2', 'auto', NULL);
"""


def test_v1_database_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(V1_DDL)
    with Store.open(str(path)) as store:  # a plain path means a SQLite file
        assert store.schema_version() == migrations.CURRENT_VERSION
        run = store.load_run("v1-run")
        assert run.started == datetime(2024, 2, 1, 1, 30, tzinfo=timezone.utc)
        assert [h.host for h in run.hosts] == ["pc-old-01", "pc-old-02"]
        old = run.hosts[0]
        assert old.operator == "TRADE\\t01" and old.branch is None
        f = old.findings[0]
        assert (f.check_id, f.status.value, f.observed, f.title.en) == (
            "zone2-unsigned-activex", "fail", "3", "Download unsigned ActiveX")
        assert f.details == {} and f.requirement is None
        assert run.hosts[1].status is HostStatus.timeout and run.hosts[1].error.zh == "超时"  # type: ignore[union-attr]
        assert [e["host"] for e in store.host_errors("v1-run")] == ["pc-old-02"]
        # the upgraded database takes new runs with the new columns
        store.record_run(golden_run(), certificates=())
        assert store.load_run("latest").hosts[0].branch == "深圳总部"
        assert [r.run_id for r in store.list_runs()] == ["run-20250303-0930", "v1-run"]
    with Store.open(str(path)) as again:  # reopening does not migrate twice
        assert again.schema_version() == migrations.CURRENT_VERSION


def test_not_a_fleetcheck_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE runs (x INTEGER)")
    with pytest.raises(StoreError) as exc:
        Store.open(str(path))
    assert "--db" in exc.value.text.en


def test_unopenable_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError) as exc:
        Store.open("nosuchdialect://user:s3cret@host/db")
    assert "s3cret" not in exc.value.text.en and "s3cret" not in str(exc.value)


def test_known_dialect_without_driver_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # postgresql:// is a dialect SQLAlchemy knows; its driver is not installed here
    # (and made unimportable in case it ever is): a message, not a traceback.
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(StoreError) as exc:
        Store.open("postgresql+psycopg2://user:s3cret@127.0.0.1:1/db")
    text = exc.value.text
    assert "psycopg2" in text.en and "driver" in text.en and "驱动" in text.zh
    assert "s3cret" not in text.en and "s3cret" not in text.zh and "s3cret" not in str(exc.value)


def test_default_location_is_the_platforms_user_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a Windows controller the store goes to %LOCALAPPDATA%, not a Linux-style ~/.local/share."""
    from fleetcheck.store import engine

    asked: list[tuple[str, object]] = []

    def windows_user_data_dir(appname: str, appauthor: object = None) -> str:
        asked.append((appname, appauthor))
        return r"C:\Users\op\AppData\Local\fleetcheck"

    monkeypatch.setattr(engine.platformdirs, "user_data_dir", windows_user_data_dir)
    assert default_db_url().startswith("sqlite:///C:")
    assert default_db_url().endswith("fleetcheck.db") and ".local" not in default_db_url()
    assert asked[0] == ("fleetcheck", False)


def test_default_location_respects_xdg_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("FLEETCHECK_DB", raising=False)
    assert default_db_url() == f"sqlite:///{tmp_path}/fleetcheck/fleetcheck.db"
    assert resolve_db_url() == default_db_url()
    monkeypatch.setenv("FLEETCHECK_DB", "postgresql://fleet@db/fleetcheck")
    assert resolve_db_url() == "postgresql://fleet@db/fleetcheck"
    assert resolve_db_url("sqlite:///x.db") == "sqlite:///x.db"


def test_prune_never_deletes_the_latest_run_of_an_office(store: Store) -> None:
    for i in range(3):
        store.record_run(golden_run(f"r{i}", T0 + timedelta(days=i)), certificates=())
    assert store.prune(keep_days=0, now=T0 + timedelta(days=10)) == ["r1", "r0"]
    assert store.prune(keep_runs=0) == []
    assert [r.run_id for r in store.list_runs()] == ["r2"]


def test_loading_decodes_each_distinct_text_once(store: Store) -> None:
    """Titles and remedies repeat on every host: one shared Text each, not one per finding."""
    record(store, golden_run())
    run = store.load_run()
    titles = [f.title for h in run.hosts for f in h.findings]
    remedies = [f.remedy for h in run.hosts for f in h.findings if f.remedy is not None]
    assert len(titles) > len(set(titles))  # the office repeats its checks
    assert len({id(t) for t in titles}) == len(set(titles))
    assert len({id(r) for r in remedies}) == len(set(remedies))
    assert run.model_dump() == golden_run().model_dump()  # and nothing else changed


def test_a_locally_collected_host_keeps_its_marker(store: Store) -> None:
    """collect import records hosts answered by file: the run in the store says so (schema v5)."""
    run = golden_run()
    first = run.hosts[0].model_copy(update={"local_collection": LocalCollection(
        file="PC-01-20261201T080000Z.json", collected=datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc), listed=False)})
    run = run.model_copy(update={"hosts": [first, *run.hosts[1:]]})
    record(store, run)
    loaded = store.load_run("latest")
    assert loaded.hosts[0].local_collection == first.local_collection
    assert all(h.local_collection is None for h in loaded.hosts[1:])
