"""How fast the simulator builds and answers PCs (speed lives here, not in unit tests).

Measures, on this machine:

* instantiating a 500-PC office from the shipped images (each PC its own
  hostname, operator and certificate CN), cold (including the RSA key pool
  and the simulated CA) and in total;
* the real CPU time of one full probe of the shipped SCCC policy through
  SimulatedHost.run (bootstrap + agent check, request parse, execute, JSON
  out), and the agent time the cost model accounts for it.

Run: ``python benchmarks/sim_image.py [--hosts 500]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timezone

from fleetcheck.agent import build_payload, command_line
from fleetcheck.sim.host import SimulatedHost
from fleetcheck.sim.image import instantiate, shipped_images

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def office_vars(index: int) -> dict[str, str]:
    return {
        "hostname": f"TRADE-PC{index:03d}",
        "index": str(index),
        "operator": f"TRADE\\交易员{index:03d}",
        "operator_name": f"交易员{index:03d}",
        "operator_sid": f"S-1-5-21-1004336348-1177238915-682003330-{2000 + index}",
        "gateway_cert": f"F{index:05d}Y0007#0",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    args = parser.parse_args()
    names = shipped_images()

    start = time.perf_counter()
    instantiate("win10-compliant", office_vars(0), NOW)
    cold = time.perf_counter() - start

    start = time.perf_counter()
    images = [instantiate(names[i % len(names)], office_vars(i), NOW) for i in range(args.hosts)]
    total = time.perf_counter() - start
    print(f"instantiate: first PC (cold: key pool + CA) {cold * 1000:.0f} ms")
    print(f"instantiate: {args.hosts} PCs from {len(names)} images in {total:.2f} s "
          f"({total / args.hosts * 1000:.2f} ms per PC)")

    try:
        from fleetcheck.evaluate import compile_request
        from fleetcheck.policy.loader import load_policies, shipped_policy_paths
    except ImportError:
        print("probe: evaluator/policy loader not available, skipped")
        return
    request = compile_request(load_policies(shipped_policy_paths()))
    payload = build_payload(request)
    exe, cmd_args = command_line()
    host_times, agent_ms = [], []
    for image in images[: min(100, len(images))]:
        host = SimulatedHost(image)
        start = time.perf_counter()
        result = host.run(exe, cmd_args, payload)
        host_times.append(time.perf_counter() - start)
        assert result.exit_code == 0, result.stderr
        agent_ms.append(result.agent_ms)
    print(f"probe ({len(request.queries)} queries): simulator CPU median "
          f"{statistics.median(host_times) * 1000:.1f} ms, max {max(host_times) * 1000:.1f} ms per PC")
    reachable = [ms for ms in agent_ms if ms < 5000]
    print(f"probe: accounted agent time median {statistics.median(agent_ms):.0f} ms, "
          f"max (portal reachable) {max(reachable)} ms")


if __name__ == "__main__":
    main()
