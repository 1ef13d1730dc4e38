"""Benchmark: build the view model and render the HTML report for a large synthetic office.

Run: ``python benchmarks/report.py [HOSTS] [CHECKS]`` (default 5000 × 15).
Budget (issue): under 3 s and under 15 MB. The last line is machine-readable:
``hosts=5000 checks=15 seconds=… html_mb=…`` (seconds = model + HTML render;
building the synthetic RunResult is not counted).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "report"))

from report_factory import big_run

from fleetcheck.report.model import build_report
from fleetcheck.report.render import render_csv, render_html, render_json, render_junit


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    checks = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    run = big_run(hosts, checks)
    render_html(build_report(big_run(10, checks)))  # warm the template cache
    t0 = time.perf_counter()
    model = build_report(run)
    t1 = time.perf_counter()
    html = render_html(model).encode("utf-8")
    t2 = time.perf_counter()
    others = {}
    for name, fn in (("json", render_json), ("csv", render_csv), ("junit", render_junit)):
        s = time.perf_counter()
        data = fn(model)
        others[name] = (time.perf_counter() - s, len(data) / 1e6)
    print(f"model {t1 - t0:.2f}s, html render {t2 - t1:.2f}s")
    for name, (sec, mb) in others.items():
        print(f"{name}: {sec:.2f}s {mb:.1f} MB(chars)")
    print(f"hosts={hosts} checks={checks} seconds={t2 - t0:.2f} html_mb={len(html) / 1e6:.2f}")


if __name__ == "__main__":
    main()
