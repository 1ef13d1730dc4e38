"""Sweep benchmark: how close does one controller get to the ideal, and what does it cost?

    python benchmarks/sweep.py --hosts 1000 --forks 50 --latency-ms 20 --agent-ms 1000

1. Writes an office of N compliant Windows 10 PCs (faults latency_ms=L per HTTP
   exchange, agent_ms=A per PowerShell start) and starts ``fleetcheck sim
   serve`` for it in a SEPARATE process, so the simulator's CPU is not counted
   as the controller's.
2. Sweeps the N hosts with the shipped policy pack (one compiled request per
   host) and prints: wall time; the ideal time ceil(N/F) × (HTTP exchanges × L
   + A); their ratio; HTTP requests per host (counted on the client by
   wrapping requests' ``HTTPAdapter.send``, which the NTLM legs go through
   too); this process's own CPU ms per host (sweep + writing hosts.jsonl and
   results.json, as ``fleetcheck scan`` does); peak RSS.
3. Sweeps a subset of hosts the per-task way (one WinRM command per check, a
   fresh shell per command, as Ansible and InSpec do) and prints how many times
   slower that is in hosts/second.
4. ``--profile``: a separate, profiled sweep (cProfile in every worker thread
   and in the evaluating main thread, merged) and the top functions by own time.

The last line is machine-readable:
``ratio=… requests_per_host=… cpu_ms_per_host=… rss_mb=… baseline_ratio=…``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests.adapters

from fleetcheck.agent.contract import ProbeRequest, ProbeResponse
from fleetcheck.inventory import HostSpec, PasswordSources, load_inventory
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.report.results import HostLog, write_results
from fleetcheck.runner import Sweep, SweepJob, ThreadExecutor, policy_sweep, sweep_one
from fleetcheck.transport import Deadline, probe_host

FIRST_ADDRESS = "127.0.128.1"  # a range of its own, away from the demo (127.0.1.x) and the tests


class RequestCounter:
    """Counts every HTTP request this process sends (SOAP and NTLM legs alike)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._original = requests.adapters.HTTPAdapter.send

    def install(self) -> None:
        counter = self
        original = self._original

        def send(adapter: requests.adapters.HTTPAdapter, *args: Any, **kwargs: Any) -> Any:
            with counter._lock:
                counter.count += 1
            return original(adapter, *args, **kwargs)

        requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]

    def take(self) -> int:
        with self._lock:
            value, self.count = self.count, 0
        return value


def write_office(path: Path, hosts: int, latency_ms: int, agent_ms: int) -> None:
    path.write_text(
        "name: sweep benchmark\n"
        f"first_address: {FIRST_ADDRESS}\n"
        "defaults:\n"
        "  credentials: {user: 'BENCH\\fcadmin', password: 'Bench-2026!'}\n"
        "  scheme: http\n"
        f"  faults: {{latency_ms: {latency_ms}, agent_ms: {agent_ms}}}\n"
        "groups:\n"
        "  - name: bench\n"
        "    image: win10-compliant\n"
        f"    count: {hosts}\n"
        "    vars: {hostname: 'BENCH-${n:04}'}\n",
        encoding="utf-8",
    )


def start_simulator(office: Path, inventory: Path, state: Path, hosts: int,
                    timeout_s: float = 180) -> subprocess.Popen[bytes]:
    """``fleetcheck sim serve`` in its own process; returns once the whole inventory is written and hosts listen."""
    cli = shutil.which("fleetcheck", path=str(Path(sys.executable).parent)) or "fleetcheck"
    proc = subprocess.Popen([cli, "sim", "serve", "--office", str(office), "--inventory-out", str(inventory),
                             "--state-dir", str(state)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise SystemExit(f"the simulator exited early:\n{output}")
        if inventory.exists() and inventory.stat().st_size > 0:
            try:
                complete = len(load_inventory(inventory, PasswordSources(literal_ok=True)).hosts) == hosts
                socket.create_connection((FIRST_ADDRESS, 5985), timeout=1).close()
                if complete:
                    return proc
            except (OSError, ValueError):
                pass  # still being written
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the simulator did not start in time")


def per_check_sweep(policies: list[Any], hosts: list[HostSpec], forks: int, timeout_s: float) -> float:
    """The per-task way: every check of every policy is its own WinRM command in a fresh shell."""
    from fleetcheck.evaluate import compile_request

    requests_per_check = [compile_request([_single(policy, check)]) for policy in policies for check in policy.checks]

    def probe_per_check(host: HostSpec, request: ProbeRequest, deadline: Deadline,
                        cancel: threading.Event | None) -> ProbeResponse:
        answer: ProbeResponse | None = None
        for one in requests_per_check:
            answer = probe_host(host, one, deadline, cancel)
        assert answer is not None
        return answer

    began = time.perf_counter()
    executor = ThreadExecutor(forks=forks, probe=probe_per_check)
    jobs = [SweepJob(host=h, request=ProbeRequest(), timeout_s=timeout_s) for h in hosts]
    failed = [r.host for r in executor.run(jobs, threading.Event()) if r.status.value != "ok"]
    if failed:
        print(f"  per-check sweep: {len(failed)} hosts failed ({failed[:3]}…)")
    return time.perf_counter() - began


def _single(policy: Any, check: Any) -> Any:
    """A policy-like object holding one check (what compile_request needs)."""
    return SimpleNamespace(id=policy.id, checks=[check])


def profiled_sweep(policies: list[Any], hosts: list[HostSpec], forks: int, timeout_s: float, top: int,
                   sort: str = "tottime") -> None:
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: threading.Event | None) -> ProbeResponse:
        profile = cProfile.Profile(time.thread_time)  # CPU of this thread, not waiting
        with lock:
            profiles.append(profile)
        profile.enable()
        try:
            return probe_host(host, request, deadline, cancel)
        finally:
            profile.disable()

    sweep: Sweep = policy_sweep(policies, hosts, forks=forks, timeout_s=timeout_s, probe=probe)
    main_profile = cProfile.Profile(time.thread_time)
    main_profile.enable()
    sweep.run()
    main_profile.disable()
    stats = pstats.Stats(main_profile)
    for profile in profiles:
        stats.add(profile)
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(top)
    print(f"\n--- cProfile, thread CPU time (all threads, sorted by {sort}) ---")
    print("\n".join(out.getvalue().splitlines()[:top + 12]))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--agent-ms", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--baseline-hosts", type=int, default=None, help="hosts for the per-check sweep (default: forks)")
    parser.add_argument("--profile", action="store_true", help="also run a profiled sweep and print where CPU goes")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile (tottime, cumulative)")
    args = parser.parse_args()
    if not 1 <= args.hosts <= 5000 or not 1 <= args.forks <= 1000:
        parser.error("--hosts must be 1..5000 and --forks 1..1000")
    return args


@dataclass(frozen=True)
class SweepFigures:
    """What one measured sweep gives: its wall time and the figures printed for it."""

    wall: float
    ratio: float
    requests_per_host: float
    cpu_ms_per_host: float
    rss_mb: float


def measured_sweep(args: argparse.Namespace, policies: list[Any], hosts: list[HostSpec], counter: RequestCounter,
                   out_dir: Path) -> SweepFigures:
    """As `fleetcheck scan` runs it: every host written to hosts.jsonl as it
    finishes, facts not kept in memory, results.json streamed at the end."""
    sweep = policy_sweep(policies, hosts, forks=args.forks, timeout_s=args.timeout)
    out_dir.mkdir()
    log = HostLog(out_dir)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcome = sweep.run(on_result=log.write, retain_facts=False)
    wall = time.perf_counter() - wall0
    log.close()
    write_results(outcome.run, out_dir, host_lines=log.path)
    cpu = time.process_time() - cpu0
    requests_total = counter.take()
    ok = sum(1 for r in outcome.run.hosts if r.status.value == "ok")
    requests_per_host = requests_total / max(1, len(hosts))
    per_host_min = requests_per_host * args.latency_ms / 1000 + args.agent_ms / 1000
    ideal = math.ceil(args.hosts / args.forks) * per_host_min
    figures = SweepFigures(
        wall=wall, ratio=wall / ideal if ideal > 0 else float("nan"), requests_per_host=requests_per_host,
        cpu_ms_per_host=cpu * 1000 / max(1, len(hosts)),
        rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(f"sweep: {ok}/{len(hosts)} hosts ok in {wall:.2f} s ({len(hosts) / wall:.1f} hosts/s)")
    print(f"ideal: ceil({args.hosts}/{args.forks}) × ({requests_per_host:.2f} × {args.latency_ms} ms"
          f" + {args.agent_ms} ms) = {ideal:.2f} s; ratio {figures.ratio:.3f}")
    print(f"requests/host {requests_per_host:.2f}; controller CPU {figures.cpu_ms_per_host:.2f} ms/host;"
          f" peak RSS {figures.rss_mb:.0f} MB")
    return figures


def baseline_ratio(args: argparse.Namespace, policies: list[Any], hosts: list[HostSpec], wall: float) -> float:
    """How many times slower the per-check way sweeps (hosts/s of the sweep over hosts/s of the baseline)."""
    subset = hosts[: args.baseline_hosts or min(len(hosts), args.forks)]
    baseline_wall = per_check_sweep(policies, subset, args.forks, args.timeout * 10)
    checks = sum(len(p.checks) for p in policies)
    baseline_hps = len(subset) / baseline_wall
    ratio = (len(hosts) / wall) / baseline_hps
    print(f"per-check way ({checks} commands/host, fresh shell each): {len(subset)} hosts in"
          f" {baseline_wall:.2f} s ({baseline_hps:.2f} hosts/s) → {ratio:.1f}× slower")
    return ratio


def stop_simulator(sim: subprocess.Popen[bytes]) -> None:
    sim.terminate()
    try:
        sim.wait(timeout=20)
    except subprocess.TimeoutExpired:
        sim.kill()


def main() -> int:
    args = _arguments()
    policies = load_policies(shipped_policy_paths())
    with tempfile.TemporaryDirectory(prefix="fleetcheck-bench-") as tmp:
        work = Path(tmp)
        write_office(work / "office.yaml", args.hosts, args.latency_ms, args.agent_ms)
        started = time.perf_counter()
        sim = start_simulator(work / "office.yaml", work / "inventory.yaml", work / "state", args.hosts)
        try:
            print(f"simulator: {args.hosts} PCs up in {time.perf_counter() - started:.1f} s (separate process)")
            inventory = load_inventory(work / "inventory.yaml", PasswordSources(literal_ok=True))
            hosts = list(inventory.hosts.values())
            counter = RequestCounter()
            counter.install()

            # Warm-up outside the measurement: imports, policy compilation caches, first TLS/NTLM use.
            warm = sweep_one(SweepJob(host=hosts[0], request=ProbeRequest(), timeout_s=args.timeout))
            if warm.status.value != "ok":
                raise SystemExit(f"warm-up probe failed: {warm.error}")
            counter.take()

            figures = measured_sweep(args, policies, hosts, counter, work / "out")
            slower = baseline_ratio(args, policies, hosts, figures.wall)
            if args.profile:
                profiled_sweep(policies, hosts, args.forks, args.timeout, args.top, args.sort)
            print(f"ratio={figures.ratio:.3f} requests_per_host={figures.requests_per_host:.2f}"
                  f" cpu_ms_per_host={figures.cpu_ms_per_host:.2f} rss_mb={figures.rss_mb:.0f}"
                  f" baseline_ratio={slower:.1f}")
        finally:
            stop_simulator(sim)
    return 0


if __name__ == "__main__":
    sys.exit(main())
