"""Figures for the real Windows hives in tests/data/real-hives: read, mount, scan.

    python benchmarks/real_hives.py

For each hive: keys and values, the first (uncached) read time, the notes
(lossy or odd data). For each image of tests/sim_core/test_real_hives.py: the
build time, the probe's simulated elapsed_ms, and what the shipped pack said
(finding counts by status, failing checks, error findings on the real-data PC
and on the same PC without it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.sim import regimport
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import instantiate

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# The test module's cases are importable only once the checkout is on sys.path.
from tests.sim_core.test_real_hives import CASES, COUNTS, HIVES, _image_text  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def main() -> None:
    for name in sorted(COUNTS):
        start = time.perf_counter()
        hive = regimport.read_hive(HIVES / name)
        seconds = time.perf_counter() - start
        print(f"{name}: keys={hive.keys} values={hive.values} read_s={seconds:.2f} "
              f"odd_values={len(hive.notes)}")
        for line in hive.notes.lines()[:5]:
            print("    " + line[:150])
    policies = load_policies(shipped_policy_paths())
    request = compile_request(policies)
    with tempfile.TemporaryDirectory() as tmp:
        for case, (imports, drop) in sorted(CASES.items()):
            findings = {}
            for label, entries, hive_dir in (("real", imports, HIVES), ("control", [], None)):
                path = Path(tmp) / f"{case}-{label}.yaml"
                path.write_text(_image_text(entries, drop, hive_dir), encoding="utf-8")
                start = time.perf_counter()
                image = instantiate(path, now=NOW)
                built = time.perf_counter() - start
                response, _ = execute(image, request)
                evaluation = evaluate_host(policies, response,
                                           host_vars={"gateway_cert": "F00504Y0007#0"}, now=NOW)
                findings[label] = evaluation.findings
                if label == "real":
                    print(f"{case}: build_s={built:.2f} probe_elapsed_ms={response.elapsed_ms} "
                          f"statuses={dict(Counter(f.status.value for f in evaluation.findings))}")
                    print("    fail: " + ", ".join(
                        f.check_id for f in evaluation.findings if f.status.value == "fail"))
            for label in ("real", "control"):
                errors = [f"{f.check_id}: {(f.message.en if f.message else '')[:90]}"
                          for f in findings[label] if f.status.value == "error"]
                print(f"    errors ({label}): {errors or 'none'}")


if __name__ == "__main__":
    main()
