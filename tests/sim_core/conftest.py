"""Fixtures for the simulated-PC tests: a fixed clock and fresh images."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from fleetcheck.sim.image import HostImage, instantiate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
OPERATOR_SID = "S-1-5-21-1004336348-1177238915-682003330-1105"
ADMIN_SID = "S-1-5-21-1004336348-1177238915-682003330-1110"


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def win10() -> HostImage:
    return instantiate("win10-compliant", now=NOW)


@pytest.fixture
def win7() -> HostImage:
    return instantiate("win7-compliant", now=NOW)
