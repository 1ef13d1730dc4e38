"""fleetcheck.heap.frozen_heap: collections skip what was alive before the block, and only within it."""

from __future__ import annotations

import gc

from fleetcheck.heap import frozen_heap


def test_the_heap_is_frozen_inside_the_block_only() -> None:
    gc.unfreeze()  # a large dashboard view built earlier in this process may have frozen it (web.officeview)
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        inner = [object() for _ in range(10)]  # made inside: not frozen, collectable as usual
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    assert len(inner) == 10


def test_someone_elses_frozen_heap_and_a_disabled_collector_are_left_alone() -> None:
    gc.unfreeze()
    gc.freeze()
    try:
        with frozen_heap():
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # not unfrozen by us (the count itself drops as frozen objects die)
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with frozen_heap():
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()
