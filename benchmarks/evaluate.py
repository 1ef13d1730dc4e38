"""Benchmark: evaluate 1,000 varied hosts against the shipped SCCC pack.

    /work/venv/bin/python benchmarks/evaluate.py [--hosts N] [--profile]

Facts are built first (not timed) with the test host-image builder: a mix of
compliant and broken PCs on Windows 7 / 10 / 11, real certificate blobs (a few
generated certificates reused), several operators. Then the pack is compiled
once and every host is evaluated; the timed part is ``evaluate_host`` only.
The last line is exactly::

    hosts=1000 checks=<findings> seconds=<wall> checks_per_s=<n>

Target: 1,000 hosts in under 1 s. ``--profile`` prints the cProfile top 25.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.policy.loader import load_policy

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "checks"))
# The check tests' fact builders are importable only once their folder is on sys.path.
from case_facts import build_facts, compliant_host  # noqa: E402

NOW = dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ZONES = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2"


def broken(desc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Break one to three things, as real PCs are broken."""
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["zone", "cert_days", "cert_missing", "tokens", "tcp", "activex", "edge", "nouser"])
        if kind == "zone":
            desc["user_registry"][ZONES] = {**desc["user_registry"][ZONES], rng.choice(["1803", "2201", "1004"]): 3}
        elif kind == "cert_days":
            desc["certs"] = [{**c, "days": rng.choice([12, -3])} for c in desc["certs"]]
        elif kind == "cert_missing":
            desc["certs"] = []
        elif kind == "tokens":
            desc["pnp"] = {"096E": [r"USB\VID_096E&PID_0703\5&A&0&1", r"USB\VID_096E&PID_0703\5&B&0&2"]}
        elif kind == "tcp":
            desc["tcp"] = {}
        elif kind == "activex":
            desc["files"][r"C:\Windows\SysWOW64\JITCertEnroll.ocx"] = {"version": "2.0.4.6"}
        elif kind == "edge":
            desc["registry"][r"HKLM\SOFTWARE\Policies\Microsoft\Edge"] = {"DownloadRestrictions": 3}
        elif kind == "nouser":
            desc["profiles"] = []
    return desc


def build_fleet(n: int, request: Any) -> list[tuple[str, Any, dict[str, Any]]]:
    rng = random.Random(20250601)
    fleet = []
    for i in range(n):
        os_kind = rng.choices(["win7", "win10", "win11"], weights=[2, 6, 2])[0]
        cert = rng.choice(["F00504Y0007#0", "F00504Y0008#0", "深圳营业部#0"])
        desc = compliant_host(win7=os_kind == "win7", gateway_cert=cert)
        if os_kind == "win11":
            desc["os"] = {"version": "10.0.22631", "build": 22631}
        if rng.random() < 0.4:
            desc = broken(desc, rng)
        fleet.append((f"PC-{i:04d}", build_facts(request, desc, NOW), {"gateway_cert": cert}))
    return fleet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    policy = load_policy(REPO / "policies" / "sccc-gateway-cert.yaml")
    t0 = time.perf_counter()
    request = compile_request([policy])
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fleet = build_fleet(args.hosts, request)
    build_s = time.perf_counter() - t0
    print(f"compile: {len(request.queries)} queries in {compile_s * 1000:.1f} ms; "
          f"facts for {len(fleet)} hosts built in {build_s:.1f} s (not timed)")

    profiler = cProfile.Profile() if args.profile else None
    statuses: Counter[str] = Counter()
    checks = 0
    if profiler:
        profiler.enable()
    t0 = time.perf_counter()
    for host, facts, host_vars in fleet:
        result = evaluate_host([policy], facts, host_vars=host_vars, now=NOW, host=host)
        checks += len(result.findings)
        for finding in result.findings:
            statuses[finding.status.value] += 1
    wall = time.perf_counter() - t0
    if profiler:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    print("statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(statuses.items())))
    print(f"per host: {wall / max(len(fleet), 1) * 1e6:.0f} µs")
    print(f"hosts={len(fleet)} checks={checks} seconds={wall:.3f} checks_per_s={checks / wall:.0f}")


if __name__ == "__main__":
    main()
