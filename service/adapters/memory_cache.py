"""In-process adapter for the ``Cache`` port: the embedded default for a single broker replica.

Same semantics as ``RedisCache`` (TTLs, SET NX, prefix delete, lock) without a server; expiry is lazy on
read, and a full cache drops expired entries first, then the oldest.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class MemoryCache:
    """``Cache`` held in a dict of key -> (expires_at, value), bounded by ``max_entries``."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._wall_clock = wall_clock
        self._max_entries = max_entries
        # Evicting a tenth at a time keeps the O(n) sweep of a full cache off most inserts.
        self._eviction_batch = max(1, max_entries // 10)
        # Insertion-ordered: the first entries are the oldest writes.
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        """Return the value or None when absent or expired."""
        # Yield once, as a network cache would: a warm request that never suspends runs start to finish
        # while other connections wait, and under 64-connection load that tripled p99 (bench/RESULTS.md).
        await asyncio.sleep(0)
        return self._live(key, self._clock())

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order."""
        await asyncio.sleep(0)  # as ``get``: one suspension, as a network cache would
        now = self._clock()
        return [self._live(key, now) for key in keys]

    async def get_many_checked(self, keys: list[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order: an in-process cache is never unavailable."""
        return await self.get_many(keys)

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store ``value`` for ``ttl_seconds``; a TTL of zero or less stores nothing."""
        if ttl_seconds <= 0:
            return
        self._store(key, value, ttl_seconds)

    async def add(self, key: str, value: bytes, ttl_seconds: int) -> bool:
        """Store only if absent or expired; return whether this call stored it."""
        if ttl_seconds <= 0 or self._live(key, self._clock()) is not None:
            return False
        self._store(key, value, ttl_seconds)
        return True

    async def replace(self, key: str, expected: bytes | None, value: bytes, ttl_seconds: int) -> bool:
        """Store ``value`` only while ``key`` holds ``expected`` (None: absent); return whether it did."""
        if self._live(key, self._clock()) != expected:
            return False
        self._store(key, value, max(1, ttl_seconds))
        return True

    async def bump_stamp(self, key: str, ttl_seconds: int) -> int:
        """Set ``key`` to a millisecond instant of the wall clock above its current value; return it."""
        current = self._live(key, self._clock())
        stamp = max(int(current or 0) + 1, int(self._wall_clock() * 1000))
        self._store(key, str(stamp).encode(), max(1, ttl_seconds))
        return stamp

    async def spend(self, key: str, capacity: int, per_second: float, cost: int = 1) -> float:
        """Take ``cost`` from the token bucket ``key``; return 0 when taken, else the seconds to wait."""
        now = self._clock()
        value = self._live(key, now)
        tokens, updated = (float(capacity), now) if value is None else map(float, value.split())
        tokens = min(float(capacity), tokens + max(0.0, now - updated) * per_second)
        wait = 0.0
        if tokens >= cost:
            tokens -= cost
        else:
            wait = (cost - tokens) / per_second
        self._store(key, f"{tokens:.6f} {now:.6f}".encode(), math.ceil(capacity / per_second) + 1)
        return wait

    async def delete(self, keys: list[str]) -> None:
        """Remove ``keys``."""
        for key in keys:
            self._entries.pop(key, None)

    async def ping(self) -> bool:
        """Return True: memory always answers."""
        return True

    @asynccontextmanager
    async def lock(self, key: str, ttl_seconds: float) -> AsyncIterator[bool]:
        """Hold the in-process lock ``key``, waiting for any current holder; always yields True.

        ``ttl_seconds`` is accepted for parity with ``RedisCache``: a holder in this process always
        releases on exit, so no expiry is needed.
        """
        if ttl_seconds <= 0:
            raise ValueError("lock ttl_seconds must be positive")
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield True
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def close(self) -> None:
        """Drop every entry."""
        self._entries.clear()

    def _live(self, key: str, now: float) -> bytes | None:
        """Return the unexpired value of ``key``, dropping it if it has expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= now:
            del self._entries[key]
            return None
        return value

    def _store(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Write ``key`` as the newest entry, making room first when the cache is full."""
        now = self._clock()
        self._entries.pop(key, None)
        if len(self._entries) >= self._max_entries:
            self._evict(now)
        self._entries[key] = (now + ttl_seconds, value)

    def _evict(self, now: float) -> None:
        """Drop expired entries, then the oldest until a batch of room is free."""
        for key in [key for key, (expires_at, _) in self._entries.items() if expires_at <= now]:
            del self._entries[key]
        excess = len(self._entries) - (self._max_entries - self._eviction_batch)
        for key in list(self._entries)[: max(0, excess)]:
            del self._entries[key]
