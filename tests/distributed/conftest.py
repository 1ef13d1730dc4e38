"""Real servers on loopback for the distributed tests: Debian's redis-server, Celery workers, sim offices.

Every server is started here, in a temporary folder, on a free 127.0.0.1 port,
and stopped at the end (never the machine's own Redis). Without ``redis-server``
or Celery the tests are skipped on a developer's machine and fail in CI
(``CI=true``), like the PostgreSQL and browser tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from distributed_support import (
    RedisServer,
    TwoBranchOffice,
    Worker,
    demo_spec_by_branch,
)
from xdist_support import worker_address

from fleetcheck.sim.office import start_office


def _required_in_ci(what: str, how: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI ({how})")
    pytest.skip(f"{what} not available ({how})")


@pytest.fixture(scope="session")
def redis_binary() -> str:
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        _required_in_ci("Celery", "pip install '.[test]' (the distributed extra)")
    binary = shutil.which("redis-server")
    if binary is None:
        _required_in_ci("redis-server", ".ci/run installs Debian's redis-server")
    assert binary is not None
    return binary


@pytest.fixture
def redis_server(redis_binary: str) -> Iterator[RedisServer]:
    """A fresh Redis for one test (its keys are the test's evidence)."""
    root = Path(tempfile.mkdtemp(prefix="fleetcheck-redis-"))
    server = RedisServer(redis_binary, root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Any]:
    """Start ``fleetcheck worker`` subprocesses; each is stopped (or killed) at the end."""
    started: list[Worker] = []

    def start(broker: str, inventory: Path, *queues: str, concurrency: int = 20,
              visibility_timeout_s: float = 300.0, name: str | None = None) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        argv = [sys.executable, "-c", "from fleetcheck.cli import main; main()", "--lang", "en", "worker",
                "--broker", broker, "-i", str(inventory), "--concurrency", str(concurrency),
                "--visibility-timeout", str(visibility_timeout_s), "--name", name or f"w{len(started)}"]
        for queue in queues:
            argv += ["--queue", queue]
        with log.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
        worker = Worker(process, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def demo_two_ranges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoBranchOffice]:
    from ruamel.yaml import YAML

    state = tmp_path_factory.mktemp("demo-two-ranges")
    now = datetime.now(timezone.utc)
    south = demo_spec_by_branch({"深圳"})
    north = demo_spec_by_branch({"上海", "北京"})
    with start_office(south, state / "south", now=now, first_address=worker_address("127.0.161.1")) as a, \
            start_office(north, state / "north", now=now, first_address=worker_address("127.0.162.1")) as b:
        children = {**a.inventory()["all"]["children"], **b.inventory()["all"]["children"]}
        path = state / "inventory.yaml"
        yaml = YAML()
        yaml.allow_unicode = True
        with path.open("w", encoding="utf-8") as handle:
            yaml.dump({"all": {"children": children}}, handle)
        yield TwoBranchOffice(path, [*a.hosts, *b.hosts])
