"""Dashboard test fixtures (helpers in dashboard_support.py, importable from the tests)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_support import Office, _office_fixture


@pytest.fixture()
def office(tmp_path: Path) -> Iterator[Office]:
    """A fresh 4-PC office (fixes change it) with one scan recorded in a fresh store."""
    yield from _office_fixture(tmp_path)
