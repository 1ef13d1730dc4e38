"""The heap a long sweep does not need the garbage collector to walk again and again.

A sweep makes thousands of short-lived objects per host (an agent answer of
~25 KB of JSON is ~170 KB of objects), so the collector runs its generations
often; each full collection also walks everything alive before the sweep
started (policies, the inventory, pydantic's and Celery's module state), which
never becomes garbage during it. ``benchmarks/distributed.py`` measured that
walk at about a third of the controller's CPU per host on the Celery path.

:func:`frozen_heap` freezes what is alive (:func:`gc.freeze`: later
collections skip it; it is still freed normally when unreferenced) and
unfreezes at the end. It does not collect first: a full collection costs tens
of milliseconds, and garbage in cycles frozen with the rest waits for the first
collection after the block. For one-shot command-line processes (``scan``); the
dashboard manages its own frozen view (:mod:`fleetcheck.web.officeview`), so
this does nothing while something else holds objects frozen.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["frozen_heap"]


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Within the block, garbage collections skip the objects alive when it began."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
