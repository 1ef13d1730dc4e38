"""PostgreSQL as the meeting point of several controllers (issue 18): migrations run from every
node at once, concurrent writers, and a run recorded twice at the same moment stays one run."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta

from report_factory import T0, golden_run  # type: ignore[import-not-found]

from fleetcheck.readiness import run_certificates
from fleetcheck.store import Store, migrations

OPEN = "import sys; from fleetcheck.store import Store; Store.open(sys.argv[1]).close(); print('ok')"


def test_nodes_migrating_a_fresh_database_at_once_all_succeed(postgres_url: str) -> None:
    nodes = [subprocess.Popen([sys.executable, "-c", OPEN, postgres_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outcomes = [node.communicate(timeout=120) for node in nodes]
    assert [n.returncode for n in nodes] == [0, 0, 0, 0], [err for _, err in outcomes]
    with Store.open(postgres_url) as store, store.engine.connect() as conn:
        versions = [row[0] for row in conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, migrations.CURRENT_VERSION + 1))  # each migration applied once


def test_concurrent_writers_and_a_run_recorded_twice_at_once(postgres_url: str) -> None:
    Store.open(postgres_url).close()
    runs = [golden_run(f"run-{i}", T0 + timedelta(hours=i)) for i in range(4)]
    same = golden_run("same", T0 + timedelta(hours=9))
    errors: list[BaseException] = []
    barrier = threading.Barrier(6, timeout=30)

    def write(run: object) -> None:
        try:
            with Store.open(postgres_url) as store:
                barrier.wait()
                store.record_run(run, certificates=run_certificates(run))  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(run,)) for run in [*runs, same, same]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with Store.open(postgres_url) as store:
        assert sorted(r.run_id for r in store.list_runs()) == ["run-0", "run-1", "run-2", "run-3", "same"]
        assert [h.host for h in store.load_run("same").hosts] == [h.host for h in same.hosts]  # once each
        assert len(store.certificates("same")) == len(run_certificates(same))
