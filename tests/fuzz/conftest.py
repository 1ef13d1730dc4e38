"""Budgets and helpers of the standing fuzz suite (issue 13).

Every fuzz case must end as a model or a positioned error — never a
traceback — within :data:`CASE_SECONDS` and :data:`CASE_MEMORY` bytes.
Memory is enforced with an address-space limit (``RLIMIT_AS``) raised only
:data:`CASE_MEMORY` above what the process already uses, so a case that
tries to allocate more gets MemoryError (and fails) instead of swapping the
machine. Time is checked per case (a case that hangs past the budget fails).

The number of cases is ``FLEETCHECK_FUZZ_SCALE`` (default 1.0) times the
per-test counts; CI runs the default, a long local session raises it.
"""

from __future__ import annotations

import gc
import os
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CASE_SECONDS = 2.0
CASE_MEMORY = 500 * 1024 * 1024
HANG_SECONDS = 30.0
SCALE = float(os.environ.get("FLEETCHECK_FUZZ_SCALE", "1.0"))


def examples(count: int) -> int:
    """The number of cases for a test that runs ``count`` at the default scale."""
    return max(1, int(count * SCALE))


def _vm_size() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.fixture()
def memory_budget() -> Iterator[None]:
    """Cap the address space at the current size plus :data:`CASE_MEMORY` while the test runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + CASE_MEMORY
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    gc.freeze()  # the heap so far is never collected again: no long GC pause inside a case
    try:
        yield
    finally:
        gc.unfreeze()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _user_cpu() -> float:
    """This thread's user CPU seconds (Linux ``RUSAGE_THREAD``; elsewhere the process's)."""
    who = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
    return resource.getrusage(who).ru_utime


class CaseLog:
    """Counts cases and the slowest one; asserts the time budget per case."""

    def __init__(self) -> None:
        self.count = 0
        self.slowest = 0.0
        self.slowest_sample = ""
        self.outcomes: dict[str, int] = {}

    def run(self, what: str, case: Callable[[], str], sample: Any = None) -> str:
        """Run one case; its CPU time must stay within :data:`CASE_SECONDS`.

        User CPU time of this thread, not wall time: the suite runs on shared CI
        machines, where wall time measures the neighbours. Not kernel time either:
        inside a pytest-xdist worker a case sometimes spends seconds in page
        faults (millions of minor faults returning and re-mapping the memory a
        1 MB mutation churns through), which is the allocator and the machine,
        not our parsers; an algorithmic blow-up in our code is user time. A case stuck
        waiting (no CPU) is caught by :data:`HANG_SECONDS` of wall time.
        """
        start, wall = _user_cpu(), time.monotonic()
        outcome = case()
        elapsed, waited = _user_cpu() - start, time.monotonic() - wall
        self.count += 1
        if elapsed > self.slowest:
            self.slowest, self.slowest_sample = elapsed, f"{sample!r:.200}"
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        assert elapsed <= CASE_SECONDS, f"{what}: a case took {elapsed:.2f} s of CPU (budget {CASE_SECONDS} s): {sample!r:.300}"
        assert waited <= HANG_SECONDS, f"{what}: a case hung for {waited:.1f} s: {sample!r:.300}"
        return outcome


_TOTALS: dict[str, CaseLog] = {}


@pytest.fixture()
def case_log(request: pytest.FixtureRequest) -> CaseLog:
    log = _TOTALS.setdefault(request.node.name, CaseLog())
    return log


def merge_totals(totals: dict[str, dict[str, Any]]) -> None:
    """Add a pytest-xdist worker's totals (:func:`pytest_sessionfinish`) to this process's."""
    for name, part in totals.items():
        log = _TOTALS.setdefault(name, CaseLog())
        log.count += part["count"]
        if part["slowest"] > log.slowest:
            log.slowest, log.slowest_sample = part["slowest"], part["sample"]
        for outcome, n in part["outcomes"].items():
            log.outcomes[outcome] = log.outcomes.get(outcome, 0) + n


def summary_lines() -> list[str]:
    if not _TOTALS:
        return []
    total = sum(log.count for log in _TOTALS.values())
    slowest = max(log.slowest for log in _TOTALS.values())
    lines = [f"fuzz: {total} cases in {len(_TOTALS)} tests, slowest case {slowest:.2f} s of CPU"]
    for name, log in sorted(_TOTALS.items()):
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(log.outcomes.items()))
        lines.append(f"  {name}: {log.count} ({kinds}); slowest {log.slowest:.2f} s: {log.slowest_sample}")
    return lines


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker: hand the totals to the controller (tests/conftest.py prints them)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and _TOTALS:
        workeroutput["fuzz_totals"] = {
            name: {"count": log.count, "slowest": log.slowest, "sample": log.slowest_sample,
                   "outcomes": dict(log.outcomes)} for name, log in _TOTALS.items()}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in summary_lines():
        terminalreporter.write_line(line)
