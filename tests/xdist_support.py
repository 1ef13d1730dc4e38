"""What the suite needs to run in parallel (pytest-xdist): how many workers by default, and
loopback addresses that stay apart.

The README's test command, plain ``pytest``, runs the whole suite (pyproject's testpaths) in
:func:`default_workers` processes, one test file per worker at a time (``--dist loadfile``:
a module's fixtures are built once); ``pytest some/test_file.py`` and ``-n``, ``--pdb``,
``--collect-only`` stay as the developer asked (tests/conftest.py, pytest_cmdline_main).


A simulated PC listens on a fixed port (5985 or 5986) of its own loopback address, so two
offices that run at the same time may share no address. Serially, every test module that
starts an office picks its own literal 127.0.X.1 block (a few modules reuse a block: they
never run at the same time in one process). Under pytest-xdist every worker is a process of
its own, so each worker gets its own 127.W.0.0/16: :func:`worker_address` moves a 127.0.X.Y
address into it (unchanged outside xdist and on the first worker, gw0). Blocks chosen per
process (:func:`run_octet`) differ between the workers of one run, and by the run's process
id between runs on one machine.

tests/test_parallel_safety.py checks that no test starts an office on a literal address that
does not go through :func:`worker_address`.
"""

from __future__ import annotations

import ipaddress
import os
import re

#: Worker gwN (N >= 1) owns 127.(BASE + N).0.0/16; 127.0/16 is the serial run's and gw0's.
#: Second octets 100 and up are the per-process blocks of tests/sim (:func:`run_octet`),
#: 127.7/16 the doctor tests': BASE + N stays in 21..99.
BASE_OCTET = 20
MAX_WORKERS = 80

#: More processes than this only start more PostgreSQL servers and browsers, for little gain.
DEFAULT_MAX_WORKERS = 4

_WORKER = re.compile(r"gw(\d+)")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers(*, whole_suite: bool, numprocesses: object, usepdb: bool, collectonly: bool,
                    is_worker: bool, cpus: int) -> int:
    """How many xdist workers a run gets when the command line does not say (0: no xdist).

    Only a run of the whole suite (no paths on the command line) is spread; a chosen file,
    an explicit ``-n``, ``--pdb``/``--trace`` (xdist refuses them) and ``--collect-only`` are
    left alone, as is every worker's own configuration.
    """
    if not whole_suite or numprocesses is not None or usepdb or collectonly or is_worker:
        return 0
    workers = min(cpus, DEFAULT_MAX_WORKERS)
    return workers if workers >= 2 else 0


def worker_index(worker: str | None = None) -> int:
    """This process's pytest-xdist worker number (``PYTEST_XDIST_WORKER=gwN``), 0 when not under xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "") if worker is None else worker
    match = _WORKER.fullmatch(name)
    if not match:
        return 0
    index = int(match.group(1))
    if index >= MAX_WORKERS:
        raise RuntimeError(f"pytest-xdist worker {name}: at most {MAX_WORKERS} workers have address blocks")
    return index


def worker_address(address: str, worker: str | None = None) -> str:
    """``address`` (in 127.0.0.0/16) moved into this worker's 127.W.0.0/16 (see the module doc)."""
    parts = ipaddress.IPv4Address(address).packed
    if parts[0] != 127 or parts[1] != 0:
        raise ValueError(f"{address}: a test office's literal address is in 127.0.0.0/16")
    index = worker_index(worker)
    if index == 0:
        return address
    return f"127.{BASE_OCTET + index}.{parts[2]}.{parts[3]}"


def run_octet(low: int, span: int, worker: str | None = None) -> int:
    """A second octet in [low, low + span): distinct for the workers of one run (their
    controller's process id plus the worker number), and varying with the process id between
    runs, so two runs on one machine seldom meet."""
    index = worker_index(worker)
    seed = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
    return low + (seed + index) % span
