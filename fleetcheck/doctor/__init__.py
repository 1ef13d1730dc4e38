"""``fleetcheck doctor``: walk the path to a PC step by step and name the first step that fails.

:func:`diagnose` (the walk, :mod:`fleetcheck.doctor.walk`) returns a
:class:`Diagnosis`: one :class:`StepResult` per step of :data:`STEP_ORDER`,
each failure with a bilingual cause and remedy (:mod:`fleetcheck.doctor.judge`).
"""

from fleetcheck.doctor.model import (
    MARKS,
    STEP_ORDER,
    STEP_TITLES,
    Diagnosis,
    StepId,
    StepResult,
    StepStatus,
    overall_exit_code,
)
from fleetcheck.doctor.walk import WalkOptions, diagnose

__all__ = [
    "MARKS",
    "STEP_ORDER",
    "STEP_TITLES",
    "Diagnosis",
    "StepId",
    "StepResult",
    "StepStatus",
    "WalkOptions",
    "diagnose",
    "overall_exit_code",
]
