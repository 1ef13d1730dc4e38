"""Acceptance 2 of issue 18: a worker SIGKILLed mid-sweep, the broker restarted mid-sweep.

Six slow simulated PCs (each answer takes ~2 s) in one queue served by two
workers. Killing one worker while it sweeps hosts: its jobs were never
acknowledged, so Redis gives them to the other worker after the visibility
timeout; every host still ends with exactly one result, and the killed
worker's hosts are swept by the survivor. Restarting Redis (append-only
persistence, as a broker should run) in the middle of a sweep: the workers
and the controller reconnect and the sweep completes, each host once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from distributed_support import RedisServer, wait_for_workers
from xdist_support import worker_address

from fleetcheck.distributed.app import make_app
from fleetcheck.distributed.executor import CeleryExecutor
from fleetcheck.findings import HostStatus
from fleetcheck.inventory import load_inventory
from fleetcheck.runner import Sweep, SweepOutcome, policy_sweep
from fleetcheck.sim.office import OfficeSpec, start_office

pytestmark = pytest.mark.sim

VISIBILITY_S = 8.0  # above a slow host's run even on a loaded CI machine (else it is handed out twice)
HOSTS = 6
TIMEOUT_S = 20.0
WAIT_S = 90.0


@pytest.fixture(scope="module")
def slow_office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Fault-Secret-77"}, "scheme": "http",
                     "faults": {"latency_ms": 1, "agent_ms": 2000}},
        "groups": [{"name": "slow", "image": "win10-compliant", "count": HOSTS,
                    "vars": {"hostname": "PC-SLOW-${n}", "queue": "faults"}}],
    })
    state = tmp_path_factory.mktemp("slow-office")
    with start_office(spec, state, first_address=worker_address("127.0.163.1"), now=datetime.now(timezone.utc)) as office:
        yield office.write_inventory(state / "inventory.yaml")


def started_by(client: Any, prefix: str) -> set[str]:
    """Task ids whose current delivery runs on a worker named ``prefix@…`` (state STARTED in the backend)."""
    found = set()
    for key in client.scan_iter(match="celery-task-meta-*"):
        raw = client.get(key)
        meta = json.loads(raw) if raw else {}
        info = meta.get("result")
        if meta.get("status") == "STARTED" and isinstance(info, dict) and str(info.get("worker", "")).startswith(prefix + "@"):
            found.add(key.decode().removeprefix("celery-task-meta-"))
    return found


def sweep_in_background(sweep: Sweep) -> tuple[threading.Thread, list[SweepOutcome]]:
    outcomes: list[SweepOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(sweep.run()), daemon=True)
    thread.start()
    return thread, outcomes


def wait_until(predicate: Any, timeout_s: float) -> Any:
    ends = time.monotonic() + timeout_s
    while time.monotonic() < ends:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s")


def test_worker_killed_mid_host_its_jobs_are_redelivered_and_each_host_recorded_once(
        slow_office: Path, redis_server: RedisServer, start_worker: Any) -> None:
    hosts = list(load_inventory(slow_office).hosts.values())
    doomed = start_worker(redis_server.url, slow_office, "faults", concurrency=3,
                          visibility_timeout_s=VISIBILITY_S, name="doomed")
    start_worker(redis_server.url, slow_office, "faults", concurrency=3, visibility_timeout_s=VISIBILITY_S,
                 name="survivor")
    wait_for_workers(redis_server.url, 2)
    executor = CeleryExecutor(make_app(redis_server.url, visibility_timeout_s=VISIBILITY_S))
    thread, outcomes = sweep_in_background(policy_sweep([], hosts, timeout_s=TIMEOUT_S, executor=executor))

    client = redis_server.client()
    in_flight = wait_until(lambda: started_by(client, "doomed"), 30)
    doomed.kill()  # SIGKILL: no warm shutdown, no acknowledgement, no result
    thread.join(WAIT_S)
    assert not thread.is_alive()
    run = outcomes[0].run
    names = [r.host for r in run.hosts]
    assert sorted(names) == sorted(h.name for h in hosts)  # every host, exactly once
    assert all(r.status is HostStatus.ok for r in run.hosts), [(r.host, r.error_class, r.error) for r in run.hosts]
    lost_hosts = {executor.sent[t] for t in in_flight}
    assert lost_hosts  # the killed worker was mid-host: those hosts were swept again, by the survivor
    assert not outcomes[0].interrupted


def test_broker_restarted_mid_sweep_the_sweep_completes(
        slow_office: Path, redis_server: RedisServer, start_worker: Any) -> None:
    hosts = list(load_inventory(slow_office).hosts.values())
    start_worker(redis_server.url, slow_office, "faults", concurrency=2, visibility_timeout_s=VISIBILITY_S, name="a")
    start_worker(redis_server.url, slow_office, "faults", concurrency=2, visibility_timeout_s=VISIBILITY_S, name="b")
    wait_for_workers(redis_server.url, 2)
    lost: list[Any] = []
    executor = CeleryExecutor(make_app(redis_server.url, visibility_timeout_s=VISIBILITY_S),
                              broker_outage_s=30, on_broker_lost=lost.append)
    began = time.monotonic()
    thread, outcomes = sweep_in_background(policy_sweep([], hosts, timeout_s=TIMEOUT_S, executor=executor))
    client = redis_server.client()
    wait_until(lambda: started_by(client, "a") or started_by(client, "b"), 30)
    redis_server.stop()  # SIGTERM: Redis writes its append-only file and exits
    time.sleep(1.0)
    redis_server.start()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    outcome = outcomes[0]
    names = [r.host for r in outcome.run.hosts]
    assert len(names) == len(set(names))  # never a host twice
    assert executor.outages >= 1  # the controller did see the broker go away
    if lost:  # the allowed other ending: a clear error, within the outage bound, finished hosts kept
        assert outcome.interrupted and "broker" in lost[0].en
        assert time.monotonic() - began < WAIT_S
    else:
        assert sorted(names) == sorted(h.name for h in hosts)
        assert all(r.status is HostStatus.ok for r in outcome.run.hosts), [(r.host, r.error) for r in outcome.run.hosts]
