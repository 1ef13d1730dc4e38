"""The examples in fleetcheck.schedule's docstrings (the cron conversion among them) stay true."""

from __future__ import annotations

import doctest

from fleetcheck import schedule as sched


def test_schedule_doctests_pass() -> None:
    result = doctest.testmod(sched, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0
