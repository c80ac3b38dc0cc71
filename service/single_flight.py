"""In-process single-flight: concurrent callers asking for the same key share one in-flight call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Coalesces concurrent calls per key; the first caller runs the work, the rest await its result."""

    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """Return ``work()``'s result, running it at most once at a time per ``key``."""
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await work()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            # Waiters re-raise it; mark it retrieved so an unawaited failure does not warn.
            future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[key]
