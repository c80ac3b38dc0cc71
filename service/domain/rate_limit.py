"""Per-user budgets of upstream (AWS) calls: token buckets that refill continuously, and the tally that
lets the retries an SDK makes on its own be charged to the user whose request caused them."""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass

# Buckets of users who stopped calling are dropped once this many exist; a full bucket holds no state.
_PRUNE_ABOVE = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class UpstreamBudget:
    """Allows each user ``per_minute`` upstream calls per minute, in bursts of up to a minute's worth.

    Cache hits never spend from the budget: it bounds what one client can make the broker ask of AWS
    (a batch of a thousand object keys without a covering grant, a token walking random targets).
    A ``per_minute`` of 0 disables the budget.
    """

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._refill_per_second = per_minute / 60.0
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def try_spend(self, user: tuple[str, str], now: float, cost: int = 1) -> float | None:
        """Spend ``cost`` calls; return None when allowed, else the seconds until they are available."""
        if self._capacity <= 0:
            return None
        bucket = self._buckets.get(user)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[user] = _Bucket(self._capacity, now)
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.updated) * self._refill_per_second)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return None
        return (cost - bucket.tokens) / self._refill_per_second

    def _prune(self, now: float) -> None:
        full_after = self._capacity / self._refill_per_second
        self._buckets = {
            user: bucket for user, bucket in self._buckets.items() if now - bucket.updated < full_after
        }


def retry_after_seconds(wait: float) -> int:
    """Return a Retry-After value (whole seconds, at least 1) for a wait."""
    return max(1, math.ceil(wait))


@dataclass(slots=True)
class RetryTally:
    """The retries the SDK made for one upstream call of one user, to be charged to their budget."""

    issuer: str
    subject: str
    retries: int = 0


# Set by the use case that spent the budget for a call, seen by the SDK's hook in the worker thread that
# makes it (the thread runs in a copy of the request's context, and the tally object is shared).
_TALLY: ContextVar[RetryTally | None] = ContextVar("tipb_retry_tally", default=None)


def open_retry_tally(issuer: str, subject: str) -> None:
    """Start counting the retries of the next upstream call of this request for (issuer, subject)."""
    _TALLY.set(RetryTally(issuer, subject))


def take_retry_tally() -> RetryTally | None:
    """Return the open tally and stop counting into it in this context (a copied context keeps it)."""
    tally = _TALLY.get()
    if tally is not None:
        _TALLY.set(None)
    return tally


def count_retry() -> None:
    """Count one retry against the tally of the request this thread works for (none: nobody to charge)."""
    tally = _TALLY.get()
    if tally is not None:
        tally.retries += 1
