"""Acceptance 1 and 3 of issue 18: the demo office through two branch workers over a real Redis.

The demo office is served as two branch networks on two loopback ranges
(深圳 on 127.0.161.x; 上海 and 北京 on 127.0.162.x); one worker serves the
深圳 queue, the other the 上海 and 北京 queues. The same sweep through the
CeleryExecutor gives each host the verdict of the local sweep, and Redis —
every command it received during the sweep (MONITOR) and every key left
after it — holds the WinRM password in no form.
"""

from __future__ import annotations

import base64
import codecs
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from distributed_support import RedisServer, TwoBranchOffice, wait_for_workers

from fleetcheck.distributed.app import make_app
from fleetcheck.distributed.executor import CeleryExecutor
from fleetcheck.findings import HostResult, RunResult
from fleetcheck.inventory import load_inventory
from fleetcheck.policy.loader import load_policy_files
from fleetcheck.runner import policy_sweep

pytestmark = pytest.mark.sim

DEMO_PASSWORDS = ("Demo-2026!", "Old-Password-2025")
TIMEOUT_S = 30.0


def verdicts(run: RunResult) -> dict[str, tuple[Any, ...]]:
    """Per host: status, error class, compliance and every finding's (check, status, observed)."""
    def one(r: HostResult) -> tuple[Any, ...]:
        findings = sorted((f.policy_id, f.check_id, f.status.value, f.observed) for f in r.findings)
        return (r.status.value, r.error_class, r.compliant, r.branch, tuple(findings))
    return {r.host: one(r) for r in run.hosts}


class Monitor:
    """Every command Redis executes, from a MONITOR connection, until stopped (bounded)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"MONITOR\r\n")
        self.sock.settimeout(0.2)
        self.data = bytearray()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        ends = time.monotonic() + 300
        while not self.stopping.is_set() and time.monotonic() < ends:
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                return
            self.data += chunk

    def stop(self) -> bytes:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()
        return bytes(self.data)


def monitored_arguments(raw: bytes) -> Iterator[bytes]:
    """The arguments of every MONITOR line, unescaped (Redis prints them as quoted, \\xNN-escaped strings)."""
    for line in raw.split(b"\r\n"):
        for quoted in re.findall(rb'"((?:[^"\\]|\\.)*)"', line):
            yield codecs.escape_decode(quoted)[0]


def every_value(client: Any) -> Iterator[bytes]:
    """Every key and every value of every key in the database (strings, lists, hashes, sets, sorted sets)."""
    for key in client.scan_iter(count=1000):
        yield key
        kind = client.type(key).decode()
        if kind == "string":
            yield client.get(key)
        elif kind == "list":
            yield from client.lrange(key, 0, -1)
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                yield field
                yield value
        elif kind == "set":
            yield from client.smembers(key)
        elif kind == "zset":
            yield from client.zrange(key, 0, -1)


def forms(secret: str) -> list[bytes]:
    """``secret`` as it could appear: plain, UTF-16 (LE/BE), and base64 of each at all three alignments."""
    plain = [secret.encode("utf-8"), secret.encode("utf-16-le"), secret.encode("utf-16-be")]
    found = list(plain)
    for raw in plain:
        for skip in range(3):
            # base64 of the secret preceded by `skip` bytes: the stable middle part of its encoding.
            encoded = base64.b64encode(b"\0" * skip + raw)[4 if skip else 0:]
            found.append(encoded[: len(encoded) - 4])
    return [f for f in found if len(f) >= 6]


def decoded(blob: bytes) -> list[bytes]:
    """``blob`` and every base64 run inside it decoded (kombu sends message bodies as base64)."""
    out = [blob]
    for run in re.findall(rb"[A-Za-z0-9+/]{16,}={0,2}", blob):
        try:
            out.append(base64.b64decode(run + b"=" * (-len(run) % 4)))
        except ValueError:
            continue
    return out


def leaks(blobs: list[bytes], secrets: tuple[str, ...]) -> list[str]:
    needles = [(s, f) for s in secrets for f in forms(s)]
    found = []
    for blob in blobs:
        for part in decoded(blob):
            for secret, needle in needles:
                if needle in part:
                    found.append(f"{secret!r} as {needle!r} in {part[:80]!r}")
    return found


def test_leak_finder_sees_every_form() -> None:
    """The password finder itself: plain, UTF-16 and base64 (any alignment) are all caught."""
    secret = "Demo-2026!"
    for blob in (b"x" + secret.encode(), secret.encode("utf-16-le"),
                 base64.b64encode(b"ab" + secret.encode()), base64.b64encode(secret.encode("utf-16-le")),
                 b'{"body": "' + base64.b64encode(b'{"password": "Demo-2026!"}') + b'"}'):
        assert leaks([blob], (secret,)), blob
    assert not leaks([b"**********", base64.b64encode(b"nothing here")], (secret,))


def test_two_branch_workers_match_local_sweep_and_redis_holds_no_password(
        demo_two_ranges: TwoBranchOffice, redis_server: RedisServer, start_worker: Any) -> None:
    inventory = load_inventory(demo_two_ranges.inventory)
    hosts = list(inventory.hosts.values())
    assert {h.branch for h in hosts} == {"深圳", "上海", "北京"}
    policies = load_policy_files(())

    local = policy_sweep(policies, hosts, timeout_s=TIMEOUT_S).run()

    monitor = Monitor(redis_server.port)
    start_worker(redis_server.url, demo_two_ranges.inventory, "深圳", name="sz")
    start_worker(redis_server.url, demo_two_ranges.inventory, "上海", "北京", name="north")
    wait_for_workers(redis_server.url, 2)
    executor = CeleryExecutor(make_app(redis_server.url))
    remote = policy_sweep(policies, hosts, timeout_s=TIMEOUT_S, executor=executor).run()
    commands = monitor.stop()

    assert not remote.interrupted
    assert sorted(r.host for r in remote.run.hosts) == sorted(demo_two_ranges.hosts)  # each host once
    assert verdicts(remote.run) == verdicts(local.run)
    # Every host went through a worker: its own branch's (the addresses prove which range).
    assert len(executor.sent) == len(hosts)
    ok = [r for r in remote.run.hosts if r.facts is not None]
    assert len(ok) >= 30  # the password was resolved by the workers: NTLM and Basic logons worked
    # Acceptance 3: no password in any message, command or key.
    assert b"LPUSH" in commands.upper() or b"lpush" in commands  # the monitor saw the jobs being sent
    blobs = list(monitored_arguments(commands)) + list(every_value(redis_server.client()))
    assert blobs
    assert leaks(blobs, DEMO_PASSWORDS) == []


def test_the_passwords_searched_for_are_the_demo_office_ones() -> None:
    """The leak search looks for the passwords the workers really used (else it would prove nothing)."""
    from distributed_support import DEMO

    text = DEMO.read_text(encoding="utf-8")
    assert all(password in text for password in DEMO_PASSWORDS)
