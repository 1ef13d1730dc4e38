"""The suite runs in parallel (pytest-xdist, tests/xdist_support.py): workers never share an
office's loopback address, and plain ``pytest`` spreads the whole suite while a chosen file
runs in one process, as before."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from xdist_support import BASE_OCTET, default_workers, run_octet, worker_address, worker_index

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def test_worker_address_gives_each_worker_its_own_slash16() -> None:
    assert worker_address("127.0.97.1", worker="") == "127.0.97.1"  # not under xdist: as written
    assert worker_address("127.0.97.1", worker="gw0") == "127.0.97.1"
    assert worker_address("127.0.97.1", worker="gw1") == f"127.{BASE_OCTET + 1}.97.1"
    assert worker_address("127.0.153.200", worker="gw3") == f"127.{BASE_OCTET + 3}.153.200"
    moved = [worker_address("127.0.5.1", worker=f"gw{n}") for n in range(1, 80)]
    seconds = {int(a.split(".")[1]) for a in moved}
    # One /16 each, apart from the serial run's 127.0, the doctor tests' 127.7 and tests/sim's 100+.
    assert len(seconds) == 79 and min(seconds) > 7 and max(seconds) < 100


@pytest.mark.parametrize("address", ["127.1.0.1", "10.0.0.1", "::1"])
def test_worker_address_takes_only_127_0(address: str) -> None:
    with pytest.raises(ValueError):
        worker_address(address, worker="gw1")


def test_worker_index() -> None:
    assert [worker_index(w) for w in ("", "gw0", "gw7", "master", "gwx")] == [0, 0, 7, 0, 0]
    with pytest.raises(RuntimeError):
        worker_index("gw80")


def test_run_octet_differs_between_workers_of_one_run() -> None:
    octets = [run_octet(100, 100, worker=f"gw{n}") for n in range(4)]
    assert len(set(octets)) == 4 and all(100 <= o < 200 for o in octets)


def test_default_workers_only_for_the_whole_suite() -> None:
    plain = {"whole_suite": True, "numprocesses": None, "usepdb": False, "collectonly": False,
             "is_worker": False, "cpus": 2}
    assert default_workers(**plain) == 2
    assert default_workers(**{**plain, "cpus": 64}) == 4
    assert default_workers(**{**plain, "cpus": 1}) == 0
    for override in ({"whole_suite": False}, {"numprocesses": 0}, {"numprocesses": 3}, {"usepdb": True},
                     {"collectonly": True}, {"is_worker": True}):
        assert default_workers(**{**plain, **override}) == 0, override


def _pytest(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: the suite runs serially")
def test_plain_pytest_spreads_the_suite_and_a_chosen_file_runs_in_one_process() -> None:
    target = "tests/test_parallel_safety.py::test_worker_index"
    # The whole suite as the README runs it (testpaths), narrowed to one test by -k.
    spread = _pytest("-o", "testpaths=tests/test_parallel_safety.py", "-k", "test_worker_index", "-v")
    assert "2 workers" in spread or "created: 2/2 workers" in spread, spread
    assert "[gw" in spread and "1 passed" in spread
    chosen = _pytest(target, "-v")
    assert "workers" not in chosen and "[gw" not in chosen and "1 passed" in chosen, chosen
    forced = _pytest(target, "-v", "-n", "2")
    assert "[gw" in forced, forced


def _literal(node: ast.expr) -> bool:
    """A string written out (an f-string counts unless a per-process octet, run_octet, is in it)."""
    if isinstance(node, ast.JoinedStr):
        return not any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "run_octet" for n in ast.walk(node))
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _offenders(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "start_office":
                first = [k.value for k in node.keywords if k.arg == "first_address"]
                if not first:
                    found.append(f"line {node.lineno}: start_office without first_address (the office file's block)")
                elif _literal(first[0]):
                    found.append(f"line {node.lineno}: start_office(first_address=<literal>)")
        elif isinstance(node, ast.List | ast.Tuple):
            items = node.elts
            words = [i.value if isinstance(i, ast.Constant) else None for i in items]
            for at, word in enumerate(words):
                if word == "--first-address" and at + 1 < len(items) and _literal(items[at + 1]):
                    found.append(f"line {node.lineno}: --first-address <literal>")
            argv = any(isinstance(w, str) and w.startswith("--") for w in words)
            if argv and "demo" in words and "--first-address" not in words:
                found.append(f"line {node.lineno}: demo without --first-address (the demo office's block)")
    return found


def test_no_test_starts_an_office_on_a_literal_address() -> None:
    """Offices (and demos) listen on their own addresses at fixed ports: a literal block is the
    same in every xdist worker, so it goes through worker_address (or next_block)."""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for where in _offenders(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            offenders.append(f"{path.relative_to(REPO)} {where}")
    assert offenders == []


def test_the_guard_sees_literal_blocks() -> None:
    bad = ast.parse('start_office(spec, s, first_address="127.0.9.1")\nstart_office(spec, s)\n'
                    'run(["demo", "--out", "x"])\nrun(["demo", "--first-address", "127.0.9.1"])\nrun(["demo", "--first-address", f"127.0.{n}.1"])\n')
    assert len(_offenders(bad)) == 5
    good = ast.parse('start_office(spec, s, first_address=worker_address("127.0.9.1"))\n'
                     'run(["demo", "--first-address", worker_address("127.0.9.1")])\n'
                     'start_office(spec, s, first_address=f"127.{run_octet(200, 50)}.97.1")\n'
                     'COMMANDS = ["audit", "demo", "scan"]\n')
    assert _offenders(good) == []
