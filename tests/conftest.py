"""Shared test fixtures."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from xdist_support import default_workers, usable_cpus

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The whole suite (plain ``pytest``, the README's and CI's command) runs in parallel
    (tests/xdist_support.py decides how; a chosen file or ``-n`` stays as asked)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    workers = default_workers(
        whole_suite=config.args_source == pytest.Config.ArgsSource.TESTPATHS,
        numprocesses=config.option.numprocesses, usepdb=bool(config.getoption("usepdb", False)) or
        bool(config.getoption("trace", False)), collectonly=bool(config.getoption("collectonly", False)),
        is_worker=hasattr(config, "workerinput"), cpus=usable_cpus())
    if workers:
        config.option.numprocesses = workers
        if config.option.dist == "no":
            config.option.dist = "loadfile"
        config.option.tx = ["popen"] * workers


_FUZZ_FROM_WORKERS: list[bool] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker's fuzz totals (tests/fuzz/conftest.py) come to the controller."""
    totals = getattr(node, "workeroutput", {}).get("fuzz_totals")
    if totals:
        from fuzz.conftest import merge_totals

        merge_totals(totals)
        _FUZZ_FROM_WORKERS.append(True)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _FUZZ_FROM_WORKERS:
        return
    import fuzz.conftest

    if config.pluginmanager.is_registered(fuzz.conftest):
        return  # `pytest tests/fuzz -n 2`: the controller loaded it, and it prints them itself
    for line in fuzz.conftest.summary_lines():
        terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def _private_history_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Scans in tests record into a throwaway store, never the user's real history."""
    # Defence in depth: no test may reach anything but loopback, whatever inventory it is handed.
    os.environ["FLEETCHECK_LOOPBACK_ONLY"] = "1"
    data_home = tmp_path_factory.mktemp("xdg-data")
    os.environ["XDG_DATA_HOME"] = str(data_home)
    os.environ.pop("FLEETCHECK_DB", None)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser screenshots and other artifacts go (kept after the run)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def chromium_path() -> str | None:
    for cand in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(cand):
            return cand
    return None


def _required_in_ci(what: str, how: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI ({how})")
    pytest.skip(f"{what} not available ({how})")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's postgresql package).

    Yields a SQLAlchemy URL prefix ``postgresql+psycopg://postgres@127.0.0.1:PORT/``;
    skipped off-CI when PostgreSQL or psycopg is missing, a failure in CI.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _required_in_ci("psycopg", "pip install '.[test]'")
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        _required_in_ci("PostgreSQL", "apt-get install postgresql")
    bindir = Path(bins[-1]).parent
    # Not under pytest's tmp tree: that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="fleetcheck-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = root / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
                    "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the throwaway server, for one test."""
    import sqlalchemy as sa

    name = f"fc_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_server + "postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\''))
    engine.dispose()
    return postgres_server + name


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium: skipped when absent on a user's machine, a failure in CI."""
    path = chromium_path()
    if path is None:
        _required_in_ci("Chromium", ".ci/run installs Debian's chromium")
    assert path is not None
    return path
