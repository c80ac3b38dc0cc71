"""In-process single-flight: concurrent callers asking for the same key share one in-flight call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Coalesces concurrent calls per key; the first caller starts the work, everyone awaits its result.

    The work runs as its own task: a caller that goes away (client disconnect, timeout) cancels only its
    own wait, never the shared work, so the others still get the result and what the work must finish
    (saving the session of a token Identity Center already consumed) is still done.
    """

    def __init__(self, on_wait: Callable[[], object] | None = None) -> None:
        """``on_wait`` is called each time a caller joins work already in flight (a metric)."""
        self._inflight: dict[Hashable, asyncio.Task[T]] = {}
        self._on_wait = on_wait

    async def run(self, key: Hashable, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Return ``work()``'s result, running at most one ``work`` per ``key`` at a time."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(work())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        elif self._on_wait is not None:
            self._on_wait()
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Task[T]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            # Retrieved here so a failure whose every waiter went away is not reported as unhandled.
            task.exception()

    async def cancel_all(self) -> None:
        """Cancel the work still running and wait until it has finished unwinding."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
