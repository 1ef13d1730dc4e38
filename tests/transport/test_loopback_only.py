"""The loopback-only safety switch the test suite runs under."""

from __future__ import annotations

import pytest

from fleetcheck.agent.contract import ProbeRequest
from fleetcheck.inventory import HostSpec
from fleetcheck.transport import ConfigurationError, Deadline, probe_host


@pytest.mark.parametrize("address", ["10.20.1.11", "192.168.1.5", "pc-sz-001.corp.example"])
def test_non_loopback_targets_are_refused_before_any_connection(address: str) -> None:
    host = HostSpec(name="PC-1", address=address, user="admin", password="x")
    with pytest.raises(ConfigurationError) as info:
        probe_host(host, ProbeRequest(), Deadline.after(5))
    assert "FLEETCHECK_LOOPBACK_ONLY=1" in info.value.text.en and address in info.value.text.en
