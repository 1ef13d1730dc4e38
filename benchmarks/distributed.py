"""Distributed sweep benchmark: the controller's CPU per host and the wall time, Celery workers vs local threads.

    python benchmarks/distributed.py --hosts 200 --workers 2 --concurrency 25 --forks 50

In one run, on the same simulated office:

1. the office (N compliant Windows 10 PCs with the demo office's variables,
   ``latency_ms``/``agent_ms`` faults, branch 深圳)
   is served by ``fleetcheck sim serve`` in a SEPARATE process, a throwaway
   ``redis-server`` listens on a free 127.0.0.1 port, and W ``fleetcheck
   worker`` processes (thread pool of C each) serve the office's queue — none
   of their CPU is the controller's;
2. a local sweep (``ThreadExecutor``, F threads) and a Celery sweep
   (``CeleryExecutor`` over that Redis) each sweep the N hosts with the shipped
   policy pack, evaluating on the controller as ``fleetcheck scan`` does
   (facts not kept), alternately, ``--rounds`` times;
3. for each path: wall time and this process's CPU time (``resource.getrusage
   (RUSAGE_SELF)``, user + system, every thread) per host, best round. The
   Celery path's controller CPU is sending the jobs, polling the result
   backend, decoding results and evaluating; the local path's also includes
   all the WinRM work.

4. the controller alone: the workers are stopped and a stand-in process
   answers each Celery job at once with the result its host gave in step 2
   (:func:`replay_worker`); the controller's CPU per host is then its own cost,
   without the workers and the simulator competing for the same CPUs (on a
   real deployment they run in the branches).

The target (issue 18): ≤ 3 ms controller CPU per host on the Celery path. The
last line is machine-readable: ``celery_cpu_ms_per_host=… local_cpu_ms_per_host=…
alone_cpu_ms_per_host=… celery_wall_s=… local_wall_s=…``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep import stop_simulator

from fleetcheck.distributed.app import make_app
from fleetcheck.distributed.executor import CeleryExecutor
from fleetcheck.errors import FleetcheckError
from fleetcheck.heap import frozen_heap
from fleetcheck.inventory import HostSpec, PasswordSources, load_inventory
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.runner import SweepExecutor, ThreadExecutor, policy_sweep

START_S = 60.0
FIRST_ADDRESS = "127.0.129.1"  # a range of its own (benchmarks/sweep.py uses 127.0.128.x)


def write_office(path: Path, hosts: int, latency_ms: int, agent_ms: int) -> None:
    """N compliant Windows 10 PCs with the variables the shipped policies use (as the demo office sets them).

    Without ``gateway_cert``/``operator`` every host's templates would take the evaluator's
    error path (an undefined variable), which is not what a configured office costs.
    """
    path.write_text(
        "name: distributed benchmark\n"
        f"first_address: {FIRST_ADDRESS}\n"
        "defaults:\n"
        "  credentials: {user: 'BENCH\\fcadmin', password: 'Bench-2026!'}\n"
        "  scheme: http\n"
        f"  faults: {{latency_ms: {latency_ms}, agent_ms: {agent_ms}}}\n"
        "  vars:\n"
        "    operator_name: 交易员${index:02}\n"
        "    operator: 'TRADE\\${operator_name}'\n"
        "    operator_sid: S-1-5-21-1004336348-1177238915-682003330-1${index:03}\n"
        "    gateway_cert: 'F00504Y${index:04}#0'\n"
        "    cert_kind: file\n"
        "    branch: 深圳\n"
        "groups:\n"
        "  - name: bench\n"
        "    image: win10-compliant\n"
        f"    count: {hosts}\n"
        "    vars: {hostname: 'BENCH-${n:04}'}\n",
        encoding="utf-8",
    )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_simulator(office: Path, inventory: Path, state: Path, hosts: int) -> subprocess.Popen[bytes]:
    """``fleetcheck sim serve`` in its own process; returns once the whole inventory is written and hosts listen."""
    import socket

    cli = shutil.which("fleetcheck", path=str(Path(sys.executable).parent)) or "fleetcheck"
    proc = subprocess.Popen([cli, "sim", "serve", "--office", str(office), "--inventory-out", str(inventory),
                             "--state-dir", str(state)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ends = time.monotonic() + 3 * START_S
    while time.monotonic() < ends and proc.poll() is None:
        try:
            if len(load_inventory(inventory, PasswordSources(literal_ok=True)).hosts) == hosts:
                socket.create_connection((FIRST_ADDRESS, 5985), timeout=1).close()
                return proc
        except (OSError, FleetcheckError):
            pass  # not written yet, or half written
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the simulator did not start in time")


def start_redis(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH (Debian: apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", "",
                             "--appendonly", "no", "--logfile", str(root / "redis.log")])
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    ends = time.monotonic() + START_S
    while time.monotonic() < ends:
        try:
            if client.ping():
                return proc, f"redis://127.0.0.1:{port}/0"
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("redis-server did not start")


def start_workers(broker: str, inventory: Path, count: int, concurrency: int, root: Path) -> list[subprocess.Popen[bytes]]:
    cli = shutil.which("fleetcheck", path=str(Path(sys.executable).parent)) or "fleetcheck"
    workers = []
    for i in range(count):
        with (root / f"worker-{i}.log").open("wb") as log:
            workers.append(subprocess.Popen([cli, "--lang", "en", "worker", "--broker", broker, "-i", str(inventory),
                                             "--concurrency", str(concurrency), "--name", f"bench{i}"],
                                            stdout=log, stderr=subprocess.STDOUT))
    app = make_app(broker)
    ends = time.monotonic() + START_S
    while time.monotonic() < ends:
        if len(app.control.ping(timeout=0.5) or []) >= count:
            return workers
    raise SystemExit(f"the {count} workers did not answer in {START_S:.0f} s (see {root}/worker-*.log)")


def measured(label: str, policies: list[Any], hosts: list[HostSpec], executor: SweepExecutor,
             timeout_s: float, answers: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(wall s, controller CPU s, hosts ok) of one sweep evaluated on this process, facts not kept.

    ``answers`` (when given) collects each host's result as a worker returns it (before evaluation).
    """
    sweep = policy_sweep(policies, hosts, timeout_s=timeout_s, executor=executor)

    def keep(result: Any) -> None:
        if answers is not None:
            answers[result.host] = result.model_copy(update={"findings": [], "operator": None,
                                                             "operator_sid": None}).model_dump_json()

    cpu0, wall0 = _cpu_s(), time.perf_counter()
    with frozen_heap():  # as fleetcheck scan sweeps (fleetcheck.heap)
        outcome = sweep.run(on_result=keep if answers is not None else None, retain_facts=False)
    wall, cpu = time.perf_counter() - wall0, _cpu_s() - cpu0
    ok = sum(1 for r in outcome.run.hosts if r.status.value == "ok")
    print(f"  {label:6s}: {ok}/{len(hosts)} ok in {wall:6.2f} s; controller CPU {cpu * 1000 / len(hosts):6.2f} ms/host")
    return wall, cpu, ok


def replay_worker(broker: str, answers: Path, queues: list[str]) -> None:
    """A stand-in worker in its own process: answers each job at once with the host's recorded result.

    Reads jobs straight off the Redis lists (kombu's message: JSON, body base64) and writes
    Celery's result record; no WinRM, no simulator: what is left of the controller's CPU per host
    is its own, without the co-located workers and simulator competing for the same CPUs.
    """
    import base64
    import json

    import redis

    recorded = json.loads(answers.read_text(encoding="utf-8"))
    client = redis.Redis.from_url(broker)
    ends = time.monotonic() + 600
    while time.monotonic() < ends:
        item = client.brpop(queues, timeout=1)
        if item is None:
            continue
        message = json.loads(item[1])
        task_id = message["headers"]["id"]
        payload = json.loads(base64.b64decode(message["body"]))[0][0]
        meta = {"status": "SUCCESS", "result": recorded[payload["host"]["name"]], "traceback": None,
                "children": [], "date_done": None, "task_id": task_id}
        client.set(f"celery-task-meta-{task_id}", json.dumps(meta), ex=3600)


def replayed(policies: list[Any], hosts: list[HostSpec], broker: str, answers: dict[str, str], root: Path,
             timeout_s: float) -> float:
    """Controller CPU per host (ms) of the Celery path against :func:`replay_worker` (no contention)."""
    import json

    path = root / "answers.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    queues = sorted({"fleetcheck." + str(h.host_vars.get("queue") or h.host_vars.get("branch") or "default")
                     for h in hosts})
    proc = subprocess.Popen([sys.executable, __file__, "--replay-worker", broker, str(path), *queues])
    try:
        _, cpu, ok = measured("replay", policies, hosts, CeleryExecutor(make_app(broker)), timeout_s)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if ok != len(hosts):
        print(f"  warning: {len(hosts) - ok} hosts not ok in the replay")
    return cpu * 1000 / len(hosts)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--forks", type=int, default=50, help="local threads")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=25, help="threads per worker")
    parser.add_argument("--latency-ms", type=int, default=2)
    parser.add_argument("--agent-ms", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--rounds", type=int, default=2)
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    policies = load_policies(shipped_policy_paths())
    root = Path(tempfile.mkdtemp(prefix="fleetcheck-bench-distributed-"))
    office, inventory = root / "office.yaml", root / "inventory.yaml"
    write_office(office, args.hosts, args.latency_ms, args.agent_ms)
    sim = start_simulator(office, inventory, root / "sim", args.hosts)
    redis_proc: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        redis_proc, broker = start_redis(root)
        workers = start_workers(broker, inventory, args.workers, args.concurrency, root)
        hosts = list(load_inventory(inventory, PasswordSources(literal_ok=True)).hosts.values())
        print(f"{len(hosts)} hosts; local: {args.forks} threads; celery: {args.workers} workers × "
              f"{args.concurrency} threads over {broker}; {os.cpu_count()} CPUs, load average "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        best: dict[str, tuple[float, float]] = {}
        answers: dict[str, str] = {}
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_}:")
            for label, executor in (("local", ThreadExecutor(forks=args.forks)),
                                    ("celery", CeleryExecutor(make_app(broker)))):
                wall, cpu, ok = measured(label, policies, hosts, executor, args.timeout,
                                         answers if label == "celery" else None)
                if ok != len(hosts):
                    print(f"  warning: {len(hosts) - ok} hosts not ok on the {label} path")
                previous = best.get(label)
                best[label] = (min(wall, previous[0]), min(cpu, previous[1])) if previous else (wall, cpu)
        for worker in workers:
            worker.terminate()
        print("the controller alone (workers stopped; a stand-in answers each job with its recorded result):")
        alone_ms = min(replayed(policies, hosts, broker, answers, root, args.timeout) for _ in range(args.rounds))
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=30)
        stop_simulator(sim)
        shutil.rmtree(root, ignore_errors=True)
    n = len(hosts)
    celery_ms, local_ms = best["celery"][1] * 1000 / n, best["local"][1] * 1000 / n
    print(f"best: celery {celery_ms:.2f} ms CPU/host, {best['celery'][0]:.2f} s; "
          f"local {local_ms:.2f} ms CPU/host, {best['local'][0]:.2f} s; controller alone {alone_ms:.2f} ms CPU/host")
    print(f"target ≤ 3 ms/host on the Celery path: {'met' if celery_ms <= 3.0 else 'NOT met'} with the workers "
          f"and simulator on the same {os.cpu_count()} CPUs, {'met' if alone_ms <= 3.0 else 'NOT met'} alone")
    print(f"celery_cpu_ms_per_host={celery_ms:.2f} local_cpu_ms_per_host={local_ms:.2f} "
          f"alone_cpu_ms_per_host={alone_ms:.2f} "
          f"celery_wall_s={best['celery'][0]:.2f} local_wall_s={best['local'][0]:.2f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--replay-worker":
        replay_worker(sys.argv[2], Path(sys.argv[3]), sys.argv[4:])
        sys.exit(0)
    sys.exit(main())
