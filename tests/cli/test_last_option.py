"""``--last N`` (the newest N) for ``history`` and ``audit show``; the old ``--limit N`` still works, with a note."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from report_factory import T0, golden_run  # type: ignore[import-not-found]

RUNS = ("run-1", "run-2", "run-3")
DEPRECATED = "--limit 2 is deprecated here, use --last 2"


@pytest.fixture()
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store.open(url) as store:
        for day, run_id in enumerate(RUNS):
            store.record_run(golden_run(run_id, T0 + timedelta(days=day)), certificates=())
        log = AuditLog(store)
        for n in range(1, 5):
            log.append("admin", f"PC-{n}", "applied", result="ok")
    return url


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--lang", "en", *args])
    return result.exit_code, result.stdout, result.stderr


def test_history_last_n_shows_the_newest_n_runs(db: str) -> None:
    code, out, err = invoke("history", "--db", db, "--last", "2")
    assert code == 0 and not err
    assert "run-3" in out and "run-2" in out and "run-1" not in out
    code, out, err = invoke("history", "--db", db)  # default: 20
    assert code == 0 and all(r in out for r in RUNS)


def test_history_old_limit_spelling_works_with_a_deprecation_note(db: str) -> None:
    code, out, err = invoke("history", "--db", db, "--limit", "2")
    assert code == 0 and "run-3" in out and "run-2" in out and "run-1" not in out
    assert DEPRECATED in err and "--limit" not in out
    zh = CliRunner().invoke(main, ["history", "--db", db, "--limit", "2"])
    assert "已弃用，请改用 --last 2" in zh.stderr
    quiet = CliRunner().invoke(main, ["-q", "history", "--db", db, "--limit", "2"])
    assert quiet.exit_code == 0 and not quiet.stderr  # -q: no note
    code, _, err = invoke("history", "--db", db, "--limit", "2", "--last", "1")
    assert code == 2 and "--limit is the old spelling of --last" in err
    assert "--limit" not in CliRunner().invoke(main, ["history", "--help"]).stdout  # hidden


def test_audit_show_last_n_and_the_old_spelling(db: str) -> None:
    code, out, err = invoke("audit", "show", "--db", db, "--last", "2", "--format", "json")
    assert code == 0 and not err
    assert [e["host"] for e in json.loads(out)] == ["PC-3", "PC-4"]
    code, out, err = invoke("audit", "show", "--db", db, "--limit", "2", "--format", "json")
    assert code == 0 and [e["host"] for e in json.loads(out)] == ["PC-3", "PC-4"] and DEPRECATED in err
    code, out, _ = invoke("audit", "show", "--db", db, "--format", "json")
    assert len(json.loads(out)) == 4  # no --last: every entry


def test_limit_stays_a_host_pattern_elsewhere() -> None:
    for command in ("scan", "fix", "renew"):
        help_text = CliRunner().invoke(main, [command, "--help"]).stdout
        assert "--limit TEXT" in help_text and "host pattern" in help_text, command
