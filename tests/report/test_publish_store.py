"""report/publish.py through the store's public API: a recorded run keeps its certificates,
a results file never creates a database, a bad results file is a FleetcheckError."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_factory import golden_run  # type: ignore[import-not-found]

from fleetcheck.errors import FleetcheckError
from fleetcheck.readiness import run_certificates
from fleetcheck.renew.records import RenewalLog
from fleetcheck.report.publish import ResultsFileError, load_results, model_for, record_and_report
from fleetcheck.store import Store


def test_record_and_report_stores_the_runs_certificates(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    run = golden_run()
    paths = record_and_report(run, tmp_path / "out", db_url=db)
    assert paths.store_error is None and paths.html.exists()
    with Store.open(db) as store:
        stored = {(c.host, c.thumbprint, c.subject_cn) for c in store.certificates()}
    expected = {(c["host"], c["thumbprint"], c["subject_cn"]) for c in run_certificates(run)}
    assert stored == expected and len(stored) == 6


def test_a_results_file_never_creates_a_database(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(golden_run().model_dump_json(), encoding="utf-8")
    db = tmp_path / "absent" / "h.db"
    model = model_for(run_id=None, results=results, db_url=str(db), lang="en")
    assert [p.run_id for p in model.trend] == [golden_run().run_id]  # only the run itself
    assert not db.exists() and not db.parent.exists()


def test_a_bad_results_file_is_a_fleetcheck_error(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsFileError) as caught:
        load_results(bad)
    assert isinstance(caught.value, FleetcheckError) and caught.value.exit_code == 2
    assert ":1:2:" in str(caught.value) and "不是有效的 JSON" in caught.value.format("zh")


def test_renewal_log_reads_what_it_wrote_through_the_store(tmp_path: Path) -> None:
    with Store.open(str(tmp_path / "h.db")) as store:
        log = RenewalLog(store)
        assert log.all() == [] and log.latest_run_id() is None and log.pending() == []


def test_the_office_before_the_run_is_read_only_when_compared(tmp_path: Path) -> None:
    from datetime import timedelta

    from report_factory import T0  # type: ignore[import-not-found]

    from fleetcheck.report.publish import Retention

    db = f"sqlite:///{tmp_path / 'h.db'}"
    first = record_and_report(golden_run("r1", T0), tmp_path / "a", db_url=db, compare=True)
    assert first.office_before is None and first.office is not None  # the office's first run
    plain = record_and_report(golden_run("r2", T0 + timedelta(days=1)), tmp_path / "b", db_url=db)
    assert plain.office_before is None and plain.office is not None
    compared = record_and_report(golden_run("r3", T0 + timedelta(days=2)), tmp_path / "c", db_url=db,
                                 compare=True, retention=Retention(keep_runs=1))
    assert compared.office_before is not None and {h.host for h in compared.office_before.hosts} == {
        h.host for h in golden_run().hosts}
    with Store.open(db) as store:
        assert [r.run_id for r in store.list_runs()] == ["r3"]  # retention applied after recording
