"""The ``Cache`` port's contract, run against in-process memory and real Redis in every topology.

Redis topologies: one server, a 3-master cluster, a sentinel-managed master, a TLS server as an ACL user.
"""

from __future__ import annotations

import asyncio

import pytest

from service.adapters.memory_cache import MemoryCache
from service.adapters.redis_cache import RedisCache

TTL = 60
# Guards a re-acquire that would otherwise wait forever on a lock never released (not a timing assert).
NO_HANG_SECONDS = 5

# The port plus the lock both adapters offer for single-flight.
Cache = MemoryCache | RedisCache


@pytest.fixture(params=["memory", "redis", "cluster", "sentinel", "tls-acl"])
def cache(request: pytest.FixtureRequest) -> Cache:
    """Return each adapter in turn, empty (the Redis ones are closed by their own fixtures)."""
    if request.param == "memory":
        return MemoryCache()
    fixture = {"redis": "redis_cache", "cluster": "cluster_cache", "sentinel": "sentinel_cache"}
    adapter: RedisCache = request.getfixturevalue(fixture.get(request.param, "tls_cache"))
    return adapter


async def test_cache_get_returns_stored_value(cache: Cache) -> None:
    await cache.set("tipb:v1:test:a", b"\x00value\xff", TTL)

    assert await cache.get("tipb:v1:test:a") == b"\x00value\xff"


async def test_cache_get_returns_none_when_absent(cache: Cache) -> None:
    assert await cache.get("tipb:v1:test:missing") is None


async def test_cache_set_replaces_existing_value(cache: Cache) -> None:
    await cache.set("tipb:v1:test:a", b"first", TTL)
    await cache.set("tipb:v1:test:a", b"second", TTL)

    assert await cache.get("tipb:v1:test:a") == b"second"


@pytest.mark.parametrize("ttl", [0, -5])
async def test_cache_set_stores_nothing_when_ttl_not_positive(cache: Cache, ttl: int) -> None:
    await cache.set("tipb:v1:test:a", b"value", ttl)

    assert await cache.get("tipb:v1:test:a") is None


async def test_cache_add_stores_and_returns_true_when_absent(cache: Cache) -> None:
    stored = await cache.add("tipb:v1:jti:a", b"first", TTL)

    assert stored is True
    assert await cache.get("tipb:v1:jti:a") == b"first"


async def test_cache_add_returns_false_and_keeps_value_when_present(cache: Cache) -> None:
    await cache.add("tipb:v1:jti:a", b"first", TTL)

    stored = await cache.add("tipb:v1:jti:a", b"second", TTL)

    assert stored is False
    assert await cache.get("tipb:v1:jti:a") == b"first"


@pytest.mark.parametrize("ttl", [0, -5])
async def test_cache_add_returns_false_and_stores_nothing_when_ttl_not_positive(
    cache: Cache, ttl: int
) -> None:
    stored = await cache.add("tipb:v1:jti:a", b"value", ttl)

    assert stored is False
    assert await cache.get("tipb:v1:jti:a") is None


async def test_cache_get_many_returns_values_in_key_order_with_none_for_missing(cache: Cache) -> None:
    await cache.set("tipb:v1:test:a", b"a", TTL)
    await cache.set("tipb:v1:test:c", b"c", TTL)

    values = await cache.get_many(["tipb:v1:test:c", "tipb:v1:test:b", "tipb:v1:test:a"])

    assert values == [b"c", None, b"a"]


async def test_cache_get_many_returns_empty_list_when_no_keys(cache: Cache) -> None:
    assert await cache.get_many([]) == []


async def test_cache_delete_removes_only_given_keys(cache: Cache) -> None:
    for name in ("a", "b", "c"):
        await cache.set(f"tipb:v1:test:{name}", name.encode(), TTL)

    await cache.delete(["tipb:v1:test:a", "tipb:v1:test:c", "tipb:v1:test:missing"])

    assert await cache.get_many(["tipb:v1:test:a", "tipb:v1:test:b", "tipb:v1:test:c"]) == [None, b"b", None]


async def test_cache_delete_does_nothing_when_no_keys(cache: Cache) -> None:
    await cache.set("tipb:v1:test:a", b"a", TTL)

    await cache.delete([])

    assert await cache.get("tipb:v1:test:a") == b"a"


async def test_cache_ping_returns_true_when_store_answers(cache: Cache) -> None:
    assert await cache.ping() is True


async def test_cache_lock_yields_true_when_free(cache: Cache) -> None:
    async with cache.lock("tipb:v1:lock:a", 5) as held:
        assert held is True


async def test_cache_lock_can_be_taken_again_after_release(cache: Cache) -> None:
    async with cache.lock("tipb:v1:lock:a", 5):
        pass

    async with asyncio.timeout(NO_HANG_SECONDS), cache.lock("tipb:v1:lock:a", 5) as held:
        assert held is True


async def test_cache_lock_is_released_when_body_raises(cache: Cache) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with cache.lock("tipb:v1:lock:a", 5):
            raise RuntimeError("boom")

    async with asyncio.timeout(NO_HANG_SECONDS), cache.lock("tipb:v1:lock:a", 5) as held:
        assert held is True


@pytest.mark.parametrize("ttl", [0, -1.0])
async def test_cache_lock_rejects_ttl_when_not_positive(cache: Cache, ttl: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        async with cache.lock("tipb:v1:lock:a", ttl):
            pass


async def test_cache_bump_stamp_only_grows(cache: Cache) -> None:
    first = await cache.bump_stamp("mark", 60)
    second = await cache.bump_stamp("mark", 60)
    assert second > first > 1_700_000_000_000  # milliseconds of a real clock
    assert int(await cache.get("mark") or 0) == second


async def test_cache_spend_takes_until_empty_then_says_how_long_to_wait(cache: Cache) -> None:
    assert [await cache.spend("bucket", 3, 0.05) for _ in range(3)] == [0, 0, 0]
    wait = await cache.spend("bucket", 3, 0.05)
    assert 0 < wait <= 20
    assert await cache.spend("other", 3, 0.05) == 0  # buckets are per key


async def test_cache_spend_takes_nothing_when_the_cost_is_too_high(cache: Cache) -> None:
    assert await cache.spend("bucket", 5, 1.0, cost=4) == 0
    assert await cache.spend("bucket", 5, 1.0, cost=4) > 0
    assert await cache.spend("bucket", 5, 1.0, cost=1) == 0  # the refused call took nothing


async def test_cache_replace_stores_only_over_the_expected_value(cache: Cache) -> None:
    assert await cache.replace("record", None, b"first", 60)  # absent, as expected
    assert not await cache.replace("record", None, b"lost", 60)  # someone wrote it meanwhile
    assert not await cache.replace("record", b"stale", b"lost", 60)
    assert await cache.get("record") == b"first"
    assert await cache.replace("record", b"first", b"second", 60)
    assert await cache.get("record") == b"second"


async def test_cache_replace_of_an_absent_key_expecting_a_value_stores_nothing(cache: Cache) -> None:
    assert not await cache.replace("record", b"gone", b"new", 60)
    assert await cache.get("record") is None
