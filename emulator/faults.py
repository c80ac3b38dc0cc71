"""Faults injected through the admin API: whether one fires for a call, and the error the service answers."""

from __future__ import annotations

import random
import time

from emulator.routing import PROTOCOLS
from emulator.state import EmulatorState, Fault
from emulator.wire import AwsError

THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "SlowDown",
    "SlowDownException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}


def fault_error(service: str, error: str | int | None) -> AwsError:
    """Build the injected error in the way the service reports it."""
    if isinstance(error, int):
        status = error
        code = (
            "InternalServerException"
            if service == "sso-oidc"
            else ("InternalError" if PROTOCOLS.get(service) == "s3-xml" else "InternalFailure")
        )
        if status == 503:
            code = "SlowDown" if PROTOCOLS.get(service) == "s3-xml" else "ServiceUnavailable"
        return AwsError(code, "Injected fault", status)
    code = error or "InternalError"
    if code in ("InternalError", "InternalServerException", "InternalFailure"):
        if service == "sso-oidc":
            code = "InternalServerException"
        return AwsError(code, "We encountered an internal error. Please try again.", 500)
    if code == "SlowDown":
        return AwsError(code, "Please reduce your request rate.", 503)
    if code in THROTTLING:
        return AwsError(code, "Rate exceeded", 400 if PROTOCOLS.get(service) != "s3-xml" else 503)
    return AwsError(code, "Injected fault", 400)


class FaultInjector:
    """Draws the faults set for an operation: latency, then an error at the configured rate."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._random = random.Random()  # noqa: S311 - fault sampling, not security

    def take(self, operation: str, service: str) -> AwsError | None:
        """Use up one call of the operation's fault, sleeping its latency; return its error if it fires."""
        with self.state.lock:
            fault: Fault | None = self.state.faults.get(operation)
            if fault is None:
                return None
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    del self.state.faults[operation]
                    return None
                fault.remaining -= 1
            fire = fault.error is not None and self._random.random() < fault.error_rate
        if fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
        return fault_error(service, fault.error) if fire else None
