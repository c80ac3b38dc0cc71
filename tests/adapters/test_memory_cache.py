"""MemoryCache specifics: expiry on an injected clock, bounded size, in-process lock serialisation."""

from __future__ import annotations

import asyncio

import pytest

from service.adapters.memory_cache import MemoryCache

# Guards waits that would otherwise hang on a lock never released (not a timing assert).
NO_HANG_SECONDS = 5


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_memory_cache_get_returns_value_when_ttl_not_yet_elapsed(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", 10)

    clock.now += 9.9

    assert await cache.get("k") == b"v"


async def test_memory_cache_get_returns_none_when_ttl_elapsed(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", 10)

    clock.now += 10

    assert await cache.get("k") is None


async def test_memory_cache_get_drops_entry_when_ttl_elapsed(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", 10)
    clock.now += 10

    await cache.get("k")

    assert len(cache) == 0


async def test_memory_cache_get_many_returns_none_for_expired_keys(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("short", b"s", 1)
    await cache.set("long", b"l", 100)

    clock.now += 5

    assert await cache.get_many(["short", "long"]) == [None, b"l"]


async def test_memory_cache_add_stores_when_previous_entry_expired(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.add("k", b"old", 10)
    clock.now += 10

    stored = await cache.add("k", b"new", 10)

    assert (stored, await cache.get("k")) == (True, b"new")


async def test_memory_cache_set_evicts_oldest_entry_when_full(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock, max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode(), 60)

    await cache.set("d", b"d", 60)

    assert await cache.get_many(["a", "b", "c", "d"]) == [None, b"b", b"c", b"d"]


async def test_memory_cache_set_evicts_expired_entries_before_oldest_when_full(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock, max_entries=3)
    await cache.set("a", b"a", 60)
    await cache.set("b", b"b", 1)
    await cache.set("c", b"c", 60)
    clock.now += 5

    await cache.set("d", b"d", 60)

    assert await cache.get_many(["a", "b", "c", "d"]) == [b"a", None, b"c", b"d"]


async def test_memory_cache_set_never_exceeds_max_entries(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock, max_entries=50)

    for i in range(500):
        await cache.set(f"k{i}", b"v", 60)

    assert len(cache) <= 50
    assert await cache.get("k499") == b"v"


async def test_memory_cache_set_keeps_rewritten_key_when_full(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock, max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode(), 60)

    await cache.set("a", b"a2", 60)
    await cache.set("d", b"d", 60)

    assert await cache.get_many(["a", "b", "c", "d"]) == [b"a2", None, b"c", b"d"]


def test_memory_cache_rejects_max_entries_when_below_one() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)


async def test_memory_cache_lock_makes_second_holder_wait_for_first() -> None:
    cache = MemoryCache()
    order: list[str] = []
    first_holds = asyncio.Event()

    async def first() -> None:
        async with cache.lock("k", 5):
            first_holds.set()
            await asyncio.sleep(0)
            order.append("first done")

    async def second() -> None:
        await first_holds.wait()
        async with cache.lock("k", 5) as held:
            order.append(f"second held={held}")

    async with asyncio.timeout(NO_HANG_SECONDS):
        await asyncio.gather(first(), second())

    assert order == ["first done", "second held=True"]


async def test_memory_cache_lock_does_not_block_other_keys() -> None:
    cache = MemoryCache()

    async with cache.lock("a", 5), asyncio.timeout(NO_HANG_SECONDS), cache.lock("b", 5) as held:
        assert held is True


async def test_memory_cache_close_drops_entries() -> None:
    cache = MemoryCache()
    await cache.set("k", b"v", 60)

    await cache.close()

    assert await cache.get("k") is None
