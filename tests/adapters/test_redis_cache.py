"""RedisCache against a real Redis server: TTLs, SCAN batches, the cross-replica lock and outages."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from service.adapters.redis_cache import RedisCache
from service.domain.cache_errors import CacheUnavailableError

# Guards calls that must not hang during an outage; generous, and never asserted as a timing.
NO_HANG_SECONDS = 5


def closed_port() -> int:
    """Return a loopback port nobody listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def raw_redis(redis_url: str, redis_cache: RedisCache) -> AsyncIterator[redis.Redis]:
    """Yield a plain client on the same (already flushed) database, to inspect what the adapter wrote."""
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def second_replica(redis_url: str, redis_cache: RedisCache) -> AsyncIterator[RedisCache]:
    """Yield another RedisCache on the same server, as a second broker replica would hold."""
    cache = RedisCache.from_url(redis_url, socket_timeout=2.0)
    yield cache
    await cache.close()


@pytest.fixture
async def unreachable_cache() -> AsyncIterator[RedisCache]:
    """Yield a RedisCache pointing at a loopback port where nothing listens."""
    cache = RedisCache.from_url(f"redis://127.0.0.1:{closed_port()}/0")
    yield cache
    await cache.close()


@pytest.fixture
async def silent_server_url() -> AsyncIterator[str]:
    """Yield the URL of a server that accepts connections and never answers (a hung Redis)."""
    released = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def hold_open(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await released.wait()
        writer.close()

    server = await asyncio.start_server(hold_open, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    released.set()
    server.close()
    await server.wait_closed()
    for writer in writers:
        writer.close()


async def test_redis_cache_set_applies_ttl_in_seconds(
    redis_cache: RedisCache, raw_redis: redis.Redis
) -> None:
    await redis_cache.set("tipb:v1:test:a", b"v", 30)

    assert 29_000 < await raw_redis.pttl("tipb:v1:test:a") <= 30_000


async def test_redis_cache_add_applies_ttl_in_seconds(
    redis_cache: RedisCache, raw_redis: redis.Redis
) -> None:
    await redis_cache.add("tipb:v1:jti:a", b"v", 30)

    assert 29_000 < await raw_redis.pttl("tipb:v1:jti:a") <= 30_000


async def test_redis_cache_get_returns_none_when_ttl_elapsed(redis_cache: RedisCache) -> None:
    await redis_cache.set("tipb:v1:test:a", b"v", 1)

    for _ in range(30):
        if await redis_cache.get("tipb:v1:test:a") is None:
            break
        await asyncio.sleep(0.1)

    assert await redis_cache.get("tipb:v1:test:a") is None


async def test_redis_cache_lock_yields_false_when_another_replica_holds_it(
    redis_cache: RedisCache, second_replica: RedisCache
) -> None:
    async with (
        redis_cache.lock("tipb:v1:lock:a", 5) as first,
        second_replica.lock("tipb:v1:lock:a", 5) as second,
    ):
        assert (first, second) == (True, False)


async def test_redis_cache_lock_yields_true_when_other_replica_released_it(
    redis_cache: RedisCache, second_replica: RedisCache
) -> None:
    async with redis_cache.lock("tipb:v1:lock:a", 5):
        pass

    async with second_replica.lock("tipb:v1:lock:a", 5) as held:
        assert held is True


async def test_redis_cache_lock_expires_after_ttl(redis_cache: RedisCache, raw_redis: redis.Redis) -> None:
    async with redis_cache.lock("tipb:v1:lock:a", 2.5):
        assert 2_000 < await raw_redis.pttl("tipb:v1:lock:a") <= 2_500


async def test_redis_cache_lock_release_leaves_other_holder_lock(
    redis_cache: RedisCache, second_replica: RedisCache, raw_redis: redis.Redis
) -> None:
    async with redis_cache.lock("tipb:v1:lock:a", 5) as held:
        assert held is True
        # This holder's lock expired meanwhile and another replica took it.
        await raw_redis.delete("tipb:v1:lock:a")
        await raw_redis.set("tipb:v1:lock:a", b"other-holder-token", ex=5)

    assert await raw_redis.get("tipb:v1:lock:a") == b"other-holder-token"


async def test_redis_cache_lock_yields_true_when_redis_unavailable(unreachable_cache: RedisCache) -> None:
    async with asyncio.timeout(NO_HANG_SECONDS), unreachable_cache.lock("tipb:v1:lock:a", 5) as held:
        assert held is True


async def test_redis_cache_get_returns_none_when_redis_unavailable(unreachable_cache: RedisCache) -> None:
    async with asyncio.timeout(NO_HANG_SECONDS):
        assert await unreachable_cache.get("tipb:v1:test:a") is None


async def test_redis_cache_get_many_returns_all_none_when_redis_unavailable(
    unreachable_cache: RedisCache,
) -> None:
    async with asyncio.timeout(NO_HANG_SECONDS):
        assert await unreachable_cache.get_many(["tipb:v1:test:a", "tipb:v1:test:b"]) == [None, None]


async def test_redis_cache_get_many_checked_tells_an_outage_from_a_miss(
    unreachable_cache: RedisCache, redis_cache: RedisCache
) -> None:
    async with asyncio.timeout(NO_HANG_SECONDS):
        with pytest.raises(CacheUnavailableError):
            await unreachable_cache.get_many_checked(["tipb:v1:test:a"])
        # Coalesced with a checked read in the same tick, a plain read still answers a miss.
        plain, checked = await asyncio.gather(
            unreachable_cache.get_many(["tipb:v1:test:a"]),
            unreachable_cache.get_many_checked(["tipb:v1:test:a"]),
            return_exceptions=True,
        )
        assert plain == [None]
        assert isinstance(checked, CacheUnavailableError)
        await redis_cache.set("tipb:v1:test:b", b"b", 60)
        assert await redis_cache.get_many_checked(["tipb:v1:test:a", "tipb:v1:test:b"]) == [None, b"b"]
        assert await redis_cache.get_many_checked([]) == []


async def test_redis_cache_set_swallows_error_when_redis_unavailable(unreachable_cache: RedisCache) -> None:
    async with asyncio.timeout(NO_HANG_SECONDS):
        await unreachable_cache.set("tipb:v1:test:a", b"v", 60)


async def test_redis_cache_delete_swallows_error_when_redis_unavailable(
    unreachable_cache: RedisCache,
) -> None:
    async with asyncio.timeout(NO_HANG_SECONDS):
        await unreachable_cache.delete(["tipb:v1:test:a"])


async def test_redis_cache_add_raises_cache_unavailable_when_redis_unavailable(
    unreachable_cache: RedisCache,
) -> None:
    async with asyncio.timeout(NO_HANG_SECONDS):
        with pytest.raises(CacheUnavailableError):
            await unreachable_cache.add("tipb:v1:jti:a", b"v", 60)


async def test_redis_cache_ping_returns_false_when_redis_unavailable(unreachable_cache: RedisCache) -> None:
    async with asyncio.timeout(NO_HANG_SECONDS):
        assert await unreachable_cache.ping() is False


async def test_redis_cache_outage_log_names_operation_not_key(
    unreachable_cache: RedisCache, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.adapters.redis_cache"):
        await unreachable_cache.get("tipb:v1:test:secret-looking-key")

    [record] = caplog.records
    assert (record.getMessage(), getattr(record, "cache_operation", None)) == ("cache.unavailable", "get")
    assert "secret-looking-key" not in repr(record.__dict__)


async def test_redis_cache_get_returns_none_when_server_never_answers(silent_server_url: str) -> None:
    cache = RedisCache.from_url(silent_server_url, socket_timeout=0.1)
    try:
        async with asyncio.timeout(NO_HANG_SECONDS):
            assert await cache.get("tipb:v1:test:a") is None
    finally:
        await cache.close()


async def test_redis_cache_rejects_client_when_it_decodes_responses(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisCache(client)
    finally:
        await client.aclose()


async def test_redis_cache_concurrent_gets_share_one_mget(redis_cache: RedisCache, redis_url: str) -> None:
    await redis_cache.set("tipb:test:a", b"1", 60)
    admin = redis.Redis.from_url(redis_url)
    try:
        await admin.config_resetstat()
        values = await asyncio.gather(*(redis_cache.get(f"tipb:test:{k}") for k in "aab" * 20))
        stats = await admin.info("commandstats")
    finally:
        await admin.aclose()
    assert values == [b"1", b"1", None] * 20
    assert stats["cmdstat_mget"]["calls"] == 1
    assert "cmdstat_get" not in stats
