"""A circuit breaker for one upstream operation: closed, open after repeated failures, half open to probe.

Plain state machine with an injected clock; the botocore hooks that feed it live in
``service/adapters/upstream_breakers.py`` (docs/operations.md#upstream-circuit-breakers).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from service.domain.errors import UpstreamUnavailableError


class BreakerState(IntEnum):
    """Where a breaker is; the value is what the state gauge reports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and for how long: ``failures`` within ``window_seconds``; 0 failures: never."""

    failures: int = 5
    window_seconds: float = 10.0
    open_seconds: float = 30.0


class CircuitOpenError(UpstreamUnavailableError):
    """The operation's breaker is open: the attempt was never sent, so AWS did not act on it."""

    def __init__(self, operation: str, retry_after_seconds: int) -> None:
        super().__init__(
            f"{operation} is failing or throttled at AWS; the broker stopped calling it for a while",
            retry_after_seconds,
            may_have_landed=False,
        )


StateListener = Callable[[BreakerState], None]


class CircuitBreaker:
    """Counts an operation's failures and refuses attempts while it is open; safe across threads.

    Closed: every attempt goes; ``failures`` failures within ``window_seconds`` open it. Open: every attempt
    is refused (``CircuitOpenError`` with the remaining open time) until ``open_seconds`` pass. Half open:
    one attempt (the probe) goes, the others are refused; its success closes the breaker, its failure
    opens it again. A probe that never reports back is replaced after ``open_seconds``.
    """

    def __init__(
        self,
        operation: str,
        policy: BreakerPolicy,
        clock: Callable[[], float],
        on_change: StateListener | None = None,
    ) -> None:
        self.operation = operation
        self._policy = policy
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probe_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """Return the current state (an open breaker whose time is up reads as half open)."""
        with self._lock:
            if self._state is BreakerState.OPEN and self._remaining(self._clock()) <= 0:
                return BreakerState.HALF_OPEN
            return self._state

    def before_attempt(self) -> None:
        """Let one attempt go, or refuse it.

        Raises:
            CircuitOpenError: the breaker is open, or half open with its probe already out.
        """
        if self._policy.failures <= 0:
            return
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.CLOSED:
                return
            if self._state is BreakerState.OPEN:
                remaining = self._remaining(now)
                if remaining > 0:
                    raise CircuitOpenError(self.operation, max(1, math.ceil(remaining)))
                self._set(BreakerState.HALF_OPEN)
            if self._probe_at is None or now - self._probe_at >= self._policy.open_seconds:
                self._probe_at = now
                return
            raise CircuitOpenError(self.operation, 1)

    def record_success(self) -> None:
        """Count an attempt AWS answered normally (any answer but a throttle or a server error)."""
        with self._lock:
            self._failures.clear()
            self._probe_at = None
            if self._state is not BreakerState.CLOSED:
                self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """Count an attempt that was throttled, failed on AWS's side or got no answer."""
        if self._policy.failures <= 0:
            return
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.HALF_OPEN:
                self._open(now)
                return
            if self._state is BreakerState.OPEN:
                return  # an attempt sent before the breaker opened
            self._failures.append(now)
            while self._failures and now - self._failures[0] > self._policy.window_seconds:
                self._failures.popleft()
            if len(self._failures) >= self._policy.failures:
                self._open(now)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._probe_at = None
        self._failures.clear()
        self._set(BreakerState.OPEN)

    def _remaining(self, now: float) -> float:
        return self._opened_at + self._policy.open_seconds - now

    def _set(self, state: BreakerState) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
