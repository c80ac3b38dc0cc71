"""How the use cases call AWS: off the event loop, within the user's budget, waiting politely for peers."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import TypeVar

from service.broker.policy import BrokerPolicy
from service.domain.cache_errors import CacheUnavailableError
from service.domain.errors import RateLimitedError
from service.domain.identity import Caller
from service.domain.ports import Clock, CredentialStore
from service.domain.rate_limit import RetryTally, open_retry_tally, retry_after_seconds, take_retry_tally
from service.metrics import Metrics

T = TypeVar("T")
U = TypeVar("U")

# How long a request waits for another replica doing the same upstream work (an exchange, a
# GetDataAccess) to publish its result before doing it itself or giving up: longer than one exchange can
# take (7 s, never retried) and than a loaded fleet's cold stampede takes to answer (bench/RESULTS.md,
# stampede_cross_replica), shorter than the shutdown drain.
PEER_WAIT_SECONDS = 10.0
# The first poll interval; each wait is half as long again as the last, up to the longest.
PEER_POLL_SECONDS = 0.05
PEER_POLL_LONGEST_SECONDS = 0.25


class Upstream:
    """Runs blocking AWS calls on the bounded thread pool and charges them to the user's budgets."""

    def __init__(
        self,
        *,
        store: CredentialStore,
        clock: Clock,
        policy: BrokerPolicy,
        executor: Executor,
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._clock = clock
        self.policy = policy
        self._executor = executor
        self.metrics = metrics

    def now(self) -> datetime:
        """Return the broker clock's time."""
        return self._clock.now()

    async def offload(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking boto3 call on the bounded AWS thread pool, off the event loop."""
        loop = asyncio.get_running_loop()
        # In the request's context, as asyncio.to_thread does: its log fields and trace span follow the call.
        context = contextvars.copy_context()
        tally = take_retry_tally()  # the copy keeps it: the SDK's retry hook counts into it
        try:
            result = await loop.run_in_executor(self._executor, functools.partial(context.run, fn, *args))
        except Exception:
            await self._charge_retries(tally)
            raise
        await self._charge_retries(tally)
        return result

    async def spend_request(self, caller: Caller) -> None:
        """Take one unit of the user's request budget, when one is configured."""
        if self.policy.requests_per_minute:
            await self._spend(caller, "requests", self.policy.requests_per_minute)

    async def spend_upstream(self, caller: Caller) -> None:
        """Take one unit of the user's budget of AWS calls, when one is configured."""
        if self.policy.upstream_calls_per_minute:
            await self._spend(caller, "upstream", self.policy.upstream_calls_per_minute)
            open_retry_tally(caller.issuer, caller.subject)  # the SDK's retries of the call are charged too

    async def _charge_retries(self, tally: RetryTally | None) -> None:
        """Take the SDK's retries of a call from the user's budget, as far as it goes (never refused)."""
        if tally is None:
            return
        for _ in range(tally.retries):
            try:
                await self._store.spend_budget(
                    "upstream", tally.issuer, tally.subject, self.policy.upstream_calls_per_minute, 1
                )
            except CacheUnavailableError:
                return

    async def _spend(self, caller: Caller, budget: str, per_minute: int) -> None:
        """Take one unit of the user's ``budget``, shared by every replica, or raise 429."""
        wait = await self._store.spend_budget(budget, caller.issuer, caller.subject, per_minute, 1)
        if wait > 0:
            self.metrics.rate_limited.labels(budget=budget).inc()
            what = "calls to AWS" if budget == "upstream" else "requests"
            raise RateLimitedError(
                f"too many {what} for this user (limit {per_minute} per minute); retry later",
                retry_after_seconds=retry_after_seconds(wait),
            )


def peer_deadline() -> float:
    """Return the loop time until which a request waits for a peer doing the same work."""
    return asyncio.get_running_loop().time() + PEER_WAIT_SECONDS


async def poll(probe: Callable[[], Awaitable[U | None]], deadline: float) -> U | None:
    """Return ``probe()``'s first answer, asking at growing intervals until ``deadline`` (loop time)."""
    loop = asyncio.get_running_loop()
    interval = PEER_POLL_SECONDS
    while True:
        found = await probe()
        if found is not None or loop.time() >= deadline:
            return found
        await asyncio.sleep(min(interval, max(0.0, deadline - loop.time())))
        interval = min(interval * 1.5, PEER_POLL_LONGEST_SECONDS)
