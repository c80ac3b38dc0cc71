"""A small bounded, thread-safe, in-process cache whose entries expire after a TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Maps keys to values for ``ttl_seconds``; the oldest entry goes first once ``max_entries`` is hit."""

    def __init__(
        self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_seconds <= 0 or max_entries < 1:
            raise ValueError("ttl_seconds and max_entries must be positive")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """Return the live value of ``key``, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl_seconds: float | None = None) -> None:
        """Keep ``value`` under ``key`` for ``ttl_seconds`` (default: the cache's TTL)."""
        expires = self._clock() + (self._ttl if ttl_seconds is None else ttl_seconds)
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (expires, value)
            while len(self._entries) > self._max:
                del self._entries[next(iter(self._entries))]

    def __len__(self) -> int:
        return len(self._entries)
