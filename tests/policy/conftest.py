"""Fixtures for policy tests: a test-only check type, registered for the duration of the tests.

The real check types (fleetcheck/checks/*.py) are loaded too; ``fixture_control``
exists so the invalid-policy cases do not depend on those types' parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from fleetcheck.checks import REGISTRY, load_all
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, register
from fleetcheck.checks.common import Clsid, VersionSpecField
from fleetcheck.findings import FindingStatus

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
INVALID = HERE / "invalid"
FIXTURE_TYPE = "fixture_control"


class FixtureControl(CheckBase):
    """A test-only check type: an ActiveX-like control with a templated owner."""

    templated_fields: ClassVar[frozenset[str]] = frozenset({"owner"})

    type: Literal["fixture_control"]
    clsid: Clsid
    version: VersionSpecField | None = None
    owner: str | None = None
    enabled: bool = True
    retries: int = 0
    aliases: str | list[str] | None = None


def _describe(spec: FixtureControl) -> Description:
    return Description(
        where=[rf"HKLM\SOFTWARE\Classes\CLSID\{spec.clsid}\InprocServer32"],
        expected=f"version {spec.version.text if spec.version else 'any'}",
    )


def _evaluate(spec: FixtureControl, ctx: EvalContext) -> Outcome:
    return Outcome(FindingStatus.passed)


@pytest.fixture(autouse=True, scope="package")
def fixture_check_type() -> Iterator[str]:
    load_all()
    previous = REGISTRY.get(FIXTURE_TYPE)
    register(FIXTURE_TYPE, FixtureControl, lambda spec: [], _evaluate, _describe)
    yield FIXTURE_TYPE
    if previous is None:
        REGISTRY.pop(FIXTURE_TYPE, None)
    else:
        REGISTRY[FIXTURE_TYPE] = previous
