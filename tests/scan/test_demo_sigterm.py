"""``demo --keep-running`` stopped with SIGTERM removes its temporary folder (the simulated CA's key)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from xdist_support import worker_address

READY = "the simulated office is running"


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")
def test_sigterm_removes_the_demo_temporary_folder(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-c", "from fleetcheck.cli import main; main()", "--lang", "en", "demo",
            "--keep-running", "--out", str(tmp_path / "out"), "--first-address", worker_address("127.0.157.1")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        assert proc.stdout is not None
        seen = ""
        deadline = time.monotonic() + 240
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while READY not in seen and time.monotonic() < deadline and proc.poll() is None:
                if sel.select(timeout=1.0):
                    seen += proc.stdout.readline()
        assert READY in seen, seen[-2000:]
        held = [p.name for p in tmp.iterdir() if p.name.startswith("fleetcheck-demo-")]
        assert held, "the demo keeps its state in a temporary folder while it runs"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        left = [p.name for p in tmp.iterdir() if p.name.startswith("fleetcheck-demo-")]
        assert left == [], left
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
