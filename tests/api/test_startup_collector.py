"""Start-up ends with the heap frozen and the young generation's collection threshold raised."""

from __future__ import annotations

import gc

from service.app import GC_YOUNG_THRESHOLD
from tests.api.conftest import build_world


async def test_start_up_freezes_the_heap_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, *before[1:])  # CPython's default, as a fresh process starts
    try:
        async with build_world() as world, world.app.router.lifespan_context(world.app):
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
            assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
