"""Fixtures for the WS-Management simulator tests: offices on private loopback ranges."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import winrm
from xdist_support import run_octet

from fleetcheck.agent import build_payload, command_line
from fleetcheck.agent.contract import ProbeRequest
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office

PASSWORD = "Demo-2026!"
USER = "TRADE\\fcadmin"

# Each test process uses its own 127.x.y.0/24 blocks so xdist workers, parallel runs and a demo
# never collide (second octets 100-199: tests/xdist_support.py).
_SECOND_OCTET = run_octet(100, 100)
_blocks = itertools.count(1)


def next_block() -> str:
    """A fresh first address for one office (127.<pid-based>.<n>.1)."""
    block = next(_blocks)
    return f"127.{_SECOND_OCTET + block // 250}.{block % 250}.1"


def office_spec(groups: list[dict[str, Any]], **defaults: Any) -> OfficeSpec:
    base = {"credentials": {"user": USER, "password": PASSWORD}}
    base.update(defaults)
    return OfficeSpec.model_validate({"name": "test", "defaults": base, "groups": groups})


@pytest.fixture
def make_office(tmp_path: Path) -> Iterator[Any]:
    """Start offices for one test; every one is stopped at teardown."""
    started: list[RunningOffice] = []

    def make(groups: list[dict[str, Any]], *, record_wire: bool = False, **defaults: Any) -> RunningOffice:
        office = start_office(
            office_spec(groups, **defaults), tmp_path / f"state{len(started)}",
            first_address=next_block(), record_wire=record_wire,
        )
        started.append(office)
        return office

    yield make
    for office in started:
        office.stop()


def protocol(office: RunningOffice, name: str, *, password: str = PASSWORD, user: str = USER,
             transport: str = "ntlm", op_timeout: int = 5, **kwargs: Any) -> winrm.Protocol:
    """An unmodified pywinrm client for one simulated PC."""
    host = office.hosts[name]
    scheme = host.plan.scheme
    if scheme == "https":
        kwargs.setdefault("server_cert_validation", "validate")
        kwargs.setdefault("ca_trust_path", str(office.ca_pem_path))
    else:
        kwargs.setdefault("ca_trust_path", None)  # no TLS; keeps pywinrm from reading env CA bundles
    kwargs.setdefault("read_timeout_sec", op_timeout + 3)
    return winrm.Protocol(
        f"{scheme}://{host.address}:{host.port}/wsman", transport=transport, username=user,
        password=password, operation_timeout_sec=op_timeout, **kwargs,
    )


def run_agent(p: winrm.Protocol, *, codepage: int = 65001, request: ProbeRequest | None = None,
              max_receives: int = 500) -> tuple[bytes, bytes, int, int]:
    """The runner's sequence: shell, bootstrap command, payload on stdin, Receive until done.

    Returns (stdout, stderr, exit code, number of Receive answers with data).
    """
    shell = p.open_shell(codepage=codepage)
    try:
        exe, args = command_line()
        cid = p.run_command(shell, exe, args)
        p.send_command_input(shell, cid, build_payload(request or ProbeRequest()), end=True)
        out, err = [], []
        for receives in range(1, max_receives + 1):
            try:
                o, e, rc, done = p.get_command_output_raw(shell, cid)
            except winrm.exceptions.WinRMOperationTimeoutError:
                continue
            out.append(o)
            err.append(e)
            if done:
                p.cleanup_command(shell, cid)
                return b"".join(out), b"".join(err), rc, receives
        raise AssertionError("command did not finish")
    finally:
        p.close_shell(shell, close_session=False)
