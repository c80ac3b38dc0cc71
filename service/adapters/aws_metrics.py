"""Upstream latency of every AWS call a botocore client makes, by operation and outcome (botocore events).

``before-call`` and ``after-call`` bracket the whole call, botocore's retries included; ``after-call-error``
ends one that got no answer at all (connection refused, timeouts).
"""

from __future__ import annotations

import re
import time
from typing import Any, Final, Protocol

_STARTED: Final = "tipb_started"
# An error code is a short identifier in AWS's answers; anything else (an odd proxy, a broken emulator)
# must not become a label value of its own.
_CODE: Final = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")


class UpstreamObserver(Protocol):
    """Where the durations go (``service.metrics.Metrics``)."""

    def observe_upstream(self, service: str, operation: str, outcome: str, seconds: float) -> None: ...


def outcome_label(code: object) -> str:
    """Return an error code fit for a label: itself when it looks like one, else ``other``."""
    return code if isinstance(code, str) and _CODE.fullmatch(code) else "other"


class AwsCallTimer:
    """Handlers for a botocore event emitter (a session's or a client's ``meta.events``)."""

    def __init__(self, observer: UpstreamObserver) -> None:
        self._observer = observer

    def register(self, events: Any) -> None:
        """Time every call of the clients created from (or owning) ``events``."""
        events.register("before-call", self._started, unique_id="tipb-aws-timer-start")
        events.register("after-call", self._answered, unique_id="tipb-aws-timer-answer")
        events.register("after-call-error", self._failed, unique_id="tipb-aws-timer-error")

    @staticmethod
    def _started(model: Any, context: dict[str, Any], **_: Any) -> None:
        # after-call-error names no operation: it travels in the call's context with the start time.
        context[_STARTED] = (model.service_model.service_name, model.name, time.perf_counter())

    def _answered(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        if http_response.status_code < 300:
            outcome = "ok"
        else:
            code = context.get("error_code_override") or parsed.get("Error", {}).get("Code")
            outcome = outcome_label(code)
        self._finish(context, outcome)

    def _failed(self, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        self._finish(context, outcome_label(type(exception).__name__))

    def _finish(self, context: dict[str, Any], outcome: str) -> None:
        started = context.pop(_STARTED, None)
        if started is None:
            return  # answered by a before-call handler that ran first (a Stubber): no AWS call was made
        service, operation, at = started
        self._observer.observe_upstream(service, operation, outcome, time.perf_counter() - at)
