"""Redis adapter for the ``Cache`` port: the cache shared by broker replicas.

An outage degrades to "miss" (every method but ``add``, ``get_many_checked``, ``bump_stamp`` and ``spend``
logs and swallows errors) so that requests fall through to AWS; timeouts are short so the cache never
makes a request slower than calling AWS.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final, cast

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from service.adapters import redis_scripts as scripts
from service.adapters.redis_topology import RedisClient, connect
from service.domain.cache_errors import CacheUnavailableError
from service.domain.redis_url import RedisOptions

logger = logging.getLogger(__name__)


class _Unavailable:
    """What a coalesced read hands its waiters when Redis could not answer."""


_UNAVAILABLE: Final = _Unavailable()
_Value = bytes | None | _Unavailable

# OSError covers socket failures redis-py lets through unwrapped; TimeoutError covers asyncio timeouts;
# RedisClusterException (not a RedisError) is a cluster with no reachable node or an uncovered slot.
_FAILURES: Final = (RedisError, RedisClusterException, OSError, TimeoutError)


class RedisCache:
    """``Cache`` backed by one Redis client: a server, a Sentinel-managed master or a Redis Cluster.

    Every command and script touches one key or keys of one hash slot, except the coalesced read, which a
    cluster client splits into one MGET per slot (docs/architecture.md#cache-keys).
    """

    def __init__(self, client: RedisClient, close: Callable[[], Awaitable[None]] | None = None) -> None:
        if isinstance(client, RedisCluster):
            connection_kwargs = client.get_connection_kwargs()
        else:
            connection_kwargs = client.connection_pool.connection_kwargs
        if connection_kwargs.get("decode_responses"):
            raise ValueError("RedisCache needs a client with decode_responses=False: values are bytes")
        self._client = client
        self._close = close or client.aclose
        self._release_lock = client.register_script(scripts.RELEASE_LOCK)
        self._bump_stamp = client.register_script(scripts.BUMP_STAMP)
        self._spend = client.register_script(scripts.SPEND)
        self._replace = client.register_script(scripts.REPLACE)
        # Keys asked for during the current event-loop tick; one MGET answers them all.
        self._pending: dict[str, list[asyncio.Future[_Value]]] | None = None
        self._fetches: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        options: RedisOptions | None = None,
        socket_timeout: float = 0.25,
        max_connections: int = 64,
    ) -> RedisCache:
        """Build a cache for ``url``: any form ``redis_topology`` reads (one server, Sentinel, Cluster)."""
        client, close = connect(
            url, options or RedisOptions(), socket_timeout=socket_timeout, max_connections=max_connections
        )
        return cls(client, close)

    async def get(self, key: str) -> bytes | None:
        """Return the value or None when absent, expired or the store is unavailable."""
        (value,) = await self.get_many([key])
        return value

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order; all None when the store is unavailable.

        Concurrent reads are coalesced: every key asked for in the same event-loop tick is fetched by one
        MGET. Under load a round trip costs ~100 µs of client work, so one per request would dominate.
        """
        values = await self._read(keys)
        return [None if isinstance(value, _Unavailable) else value for value in values]

    async def get_many_checked(self, keys: list[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order, coalesced like ``get_many``.

        Raises:
            CacheUnavailableError: Redis could not answer (a miss is None, an outage is this error).
        """
        values = await self._read(keys)
        found: list[bytes | None] = []
        for value in values:
            if isinstance(value, _Unavailable):
                raise CacheUnavailableError("cache unavailable for get")
            found.append(value)
        return found

    async def _read(self, keys: list[str]) -> list[_Value]:
        loop = asyncio.get_running_loop()
        if self._pending is None:
            self._pending = {}
            loop.call_soon(self._flush)
        # One future per caller and key: a caller that goes away cancels only its own wait.
        waiters: list[asyncio.Future[_Value]] = []
        for key in keys:
            waiter: asyncio.Future[_Value] = loop.create_future()
            self._pending.setdefault(key, []).append(waiter)
            waiters.append(waiter)
        return [await waiter for waiter in waiters]

    def _flush(self) -> None:
        pending, self._pending = self._pending or {}, None
        task = asyncio.get_running_loop().create_task(self._fetch(pending))
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)

    async def _fetch(self, pending: dict[str, list[asyncio.Future[_Value]]]) -> None:
        if not pending:
            return
        values: list[_Value] = [_UNAVAILABLE] * len(pending)
        try:
            keys = list(pending)
            # A cluster answers MGET only for keys of one slot: its client sends one per slot, pipelined.
            if isinstance(self._client, RedisCluster):
                found = await self._client.mget_nonatomic(keys)
            else:
                found = await self._client.mget(keys)
            values = list(cast("list[bytes | None]", found))
        except _FAILURES as error:
            _log_unavailable("get", error)
        finally:
            # Whatever happened (even cancellation at shutdown), no request is left waiting: an outage,
            # which ``get_many`` answers as a miss.
            for waiters, value in zip(pending.values(), values, strict=True):
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(value)

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store ``value`` for ``ttl_seconds``; a TTL of zero or less stores nothing."""
        if ttl_seconds <= 0:
            return
        try:
            await self._client.set(key, value, ex=ttl_seconds)
        except _FAILURES as error:
            _log_unavailable("set", error)

    async def add(self, key: str, value: bytes, ttl_seconds: int) -> bool:
        """Store only if absent (SET NX EX); return whether this call stored it.

        Raises:
            CacheUnavailableError: Redis could not answer.
        """
        if ttl_seconds <= 0:
            return False
        try:
            stored = await self._client.set(key, value, ex=ttl_seconds, nx=True)
        except _FAILURES as error:
            _log_unavailable("add", error)
            raise CacheUnavailableError("cache unavailable for add") from error
        return bool(stored)

    async def replace(self, key: str, expected: bytes | None, value: bytes, ttl_seconds: int) -> bool:
        """Store ``value`` only while ``key`` holds ``expected`` (None: absent); return whether it did.

        Raises:
            CacheUnavailableError: Redis could not answer.
        """
        digest = "" if expected is None else hashlib.sha1(expected, usedforsecurity=False).hexdigest()
        try:
            return bool(await self._replace(keys=[key], args=[digest, value, max(1, ttl_seconds)]))
        except _FAILURES as error:
            _log_unavailable("replace", error)
            raise CacheUnavailableError("cache unavailable for replace") from error

    async def bump_stamp(self, key: str, ttl_seconds: int) -> int:
        """Set ``key`` to a millisecond instant of Redis's clock above its current value; return it.

        Raises:
            CacheUnavailableError: Redis could not answer.
        """
        try:
            return int(await self._bump_stamp(keys=[key], args=[max(1, ttl_seconds)]))
        except _FAILURES as error:
            _log_unavailable("bump_stamp", error)
            raise CacheUnavailableError("cache unavailable for bump_stamp") from error

    async def spend(self, key: str, capacity: int, per_second: float, cost: int = 1) -> float:
        """Take ``cost`` from the token bucket ``key``; return 0 when taken, else the seconds to wait.

        Raises:
            CacheUnavailableError: Redis could not answer.
        """
        try:
            return float(await self._spend(keys=[key], args=[capacity, per_second, cost]))
        except _FAILURES as error:
            _log_unavailable("spend", error)
            raise CacheUnavailableError("cache unavailable for spend") from error

    async def delete(self, keys: list[str]) -> None:
        """Remove ``keys``; a failure is logged, not raised."""
        if not keys:
            return
        try:
            await self._client.unlink(*keys)
        except _FAILURES as error:
            _log_unavailable("delete", error)

    async def ping(self) -> bool:
        """Return whether Redis answers PING."""
        try:
            return bool(await self._client.ping())
        except _FAILURES as error:
            _log_unavailable("ping", error)
            return False

    @asynccontextmanager
    async def lock(self, key: str, ttl_seconds: float) -> AsyncIterator[bool]:
        """Try once to take the cross-replica lock ``key`` for at most ``ttl_seconds``.

        Yields True when this caller holds the lock (or Redis is down: no coordination then), False when
        another holder has it; the lock is released on exit only if this caller still holds it.
        """
        if ttl_seconds <= 0:
            raise ValueError("lock ttl_seconds must be positive")
        token = secrets.token_hex(16)
        try:
            acquired = bool(await self._client.set(key, token, px=max(1, int(ttl_seconds * 1000)), nx=True))
        except _FAILURES as error:
            _log_unavailable("lock", error)
            degraded = True
        else:
            degraded = False
        if degraded:
            yield True
            return
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    await self._release_lock(keys=[key], args=[token])
                except _FAILURES as error:
                    # The lock expires on its own after ttl_seconds.
                    _log_unavailable("unlock", error)

    async def close(self) -> None:
        """Close the client and its connection pool."""
        await self._close()


def _log_unavailable(operation: str, error: BaseException) -> None:
    """Log a degraded cache operation without keys or values."""
    logger.warning(
        "cache.unavailable",
        extra={"cache_operation": operation, "error_type": type(error).__name__},
    )
