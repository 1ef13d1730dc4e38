"""Benchmark: one host's timeline (``fleetcheck host NAME``, the dashboard host page) from a long history.

Run: ``python benchmarks/timeline.py [RUNS] [HOSTS] [CHECKS] [LAST]`` (default 60 × 2000 × 3, last 20).
Records RUNS sweeps of a synthetic office into a throwaway SQLite file (not
timed), then times :meth:`Store.host_timeline` + :func:`build_timeline` for
one host. The query finds the host's rows by name: its cost grows with the
hosts table (RUNS × HOSTS rows) unless ``hosts.host`` is indexed. The last
line is machine-readable: ``runs=… hosts=… host_rows=… last=… ms=…``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "report"))

from report_factory import T0, big_run

from fleetcheck.report.timeline import build_timeline
from fleetcheck.store import Store

REPEAT = 10


def main() -> None:
    given = [int(a) for a in sys.argv[1:5]]
    runs, hosts, checks, last = given + [60, 2000, 3, 20][len(given):]
    base = big_run(hosts, checks, "bench")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'timeline.db'}"
        with Store.open(url) as store:
            for i in range(runs):
                when = T0 + timedelta(days=i)
                store.record_run(base.model_copy(update={
                    "run_id": f"bench-{i:04}", "started": when,
                    "hosts": [h.model_copy(update={"started": when, "finished": when}) for h in base.hosts],
                }), certificates=())
            name = base.hosts[len(base.hosts) // 2].host
            build_timeline(store.host_timeline(name, last), last)  # warm the connection pool and page cache
            t0 = time.perf_counter()
            for _ in range(REPEAT):
                timeline = build_timeline(store.host_timeline(name, last), last)
            ms = (time.perf_counter() - t0) / REPEAT * 1000
    print(f"{len(timeline.entries)} entries of {name}")
    print(f"runs={runs} hosts={hosts} host_rows={runs * hosts} last={last} ms={ms:.1f}")


if __name__ == "__main__":
    main()
