"""One circuit breaker per AWS operation, fed by every attempt a botocore client makes (retries included).

``before-send`` runs before each attempt and refuses it while the operation's breaker is open (a retry
that goes is counted for the caller's budget, ``service.domain.rate_limit.count_retry``); ``needs-retry``
runs after each attempt and reports a throttle, a server error or a lost connection as a
failure, anything else as a success (docs/operations.md#upstream-circuit-breakers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError

from service.adapters.aws_errors import SERVER_ERROR_CODES, THROTTLING_CODES
from service.domain.circuit_breaker import BreakerPolicy, BreakerState, CircuitBreaker
from service.domain.rate_limit import count_retry


class BreakerObserver(Protocol):
    """Where state changes and refusals go (``service.metrics.Metrics``)."""

    def breaker_changed(self, operation: str, state: BreakerState) -> None: ...

    def breaker_refused(self, operation: str) -> None: ...


class UpstreamBreakers:
    """The breakers of one process, by operation name, and the botocore handlers that drive them."""

    def __init__(
        self,
        policy: BreakerPolicy,
        observer: BreakerObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._observer = observer
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def breaker(self, operation: str) -> CircuitBreaker:
        """Return the breaker of ``operation``, creating it (closed) on first use."""
        found = self._breakers.get(operation)
        if found is not None:
            return found
        with self._lock:
            found = self._breakers.get(operation)
            if found is None:
                found = self._breakers[operation] = CircuitBreaker(
                    operation, self._policy, self._clock, self._listener(operation)
                )
                if self._observer is not None:
                    self._observer.breaker_changed(operation, BreakerState.CLOSED)
        return found

    def register(self, events: Any) -> None:
        """Guard every attempt of the clients created from (or owning) ``events``."""
        events.register("before-send", self._before_send, unique_id="tipb-breaker-gate")
        events.register("needs-retry", self._after_attempt, unique_id="tipb-breaker-outcome")

    def _listener(self, operation: str) -> Callable[[BreakerState], None] | None:
        observer = self._observer
        if observer is None:
            return None
        return lambda state: observer.breaker_changed(operation, state)

    def _before_send(self, event_name: str, request: Any = None, **_: Any) -> None:
        operation = _operation(event_name)
        try:
            self.breaker(operation).before_attempt()
        except Exception:
            if self._observer is not None:
                self._observer.breaker_refused(operation)
            raise
        context = getattr(request, "context", None) or {}
        if context.get("retries", {}).get("attempt", 1) > 1:
            count_retry()  # the first attempt was spent from the budget before the call

    def _after_attempt(
        self,
        event_name: str,
        response: tuple[Any, dict[str, Any]] | None = None,
        caught_exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        breaker = self.breaker(_operation(event_name))
        if caught_exception is not None:
            # A refusal by the gate above, or a request that could not be built: AWS saw nothing.
            if isinstance(caught_exception, (BotocoreConnectionError, HTTPClientError)):
                breaker.record_failure()
            return
        if response is None:
            return
        http_response, parsed = response
        code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        status = int(getattr(http_response, "status_code", 0) or 0)
        if code in THROTTLING_CODES or code in SERVER_ERROR_CODES or status == 429 or status >= 500:
            breaker.record_failure()
        else:
            breaker.record_success()


def _operation(event_name: str) -> str:
    # before-send.<service-id>.<Operation> / needs-retry.<service-id>.<Operation>
    return event_name.rsplit(".", 1)[-1]
