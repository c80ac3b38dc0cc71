"""/readyz's share of the doctor: the configuration checks (no user, no chain), run at most once a minute.

A replica is not ready only when a check in ``BLOCKING`` fails: without it no request can succeed
(docs/doctor.md#readiness). A WARN (an AWS read refused to the broker, AWS not answering) never blocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Final

from service.doctor.model import Check, Status, warned
from service.thread_pool import DaemonThreadPool

# Each of these failing breaks every exchange or every GetDataAccess of every user. Location trust,
# the instance in BROKER_ACCESS_GRANTS_ACCOUNT_ID (a fallback when buckets belong to other instances),
# refresh tokens and read_only scopes break only some requests.
BLOCKING: Final = frozenset(
    {
        "application.exists",
        "application.enabled",
        "application.authentication_method",
        "application.grant.jwt_bearer",
        "application.access_scope",
        "issuer.url",
        "issuer.audience",
        "role.exists",
        "role.trust.assume_role",
        "role.trust.set_context",
        "role.max_session_duration",
        "role.policy.get_data_access",
    }
)
CHECKING: Final = "checking"


def readiness_state(checks: Sequence[Check] | None) -> str:
    """Return ``ok``, ``checking`` (no result yet) or ``failing: <ids>`` for the readiness body."""
    if checks is None:
        return CHECKING
    blocking = sorted({check.id for check in checks if check.status is Status.FAIL and check.id in BLOCKING})
    return f"failing: {', '.join(blocking)}" if blocking else "ok"


# One run at a time per replica; its thread never keeps the process alive.
_RUNS = DaemonThreadPool(max_workers=1, thread_name_prefix="doctor")


class ReadinessDoctor:
    """Runs the configuration checks in a thread, shares one run between callers, keeps it a minute."""

    def __init__(
        self,
        run: Callable[[], list[Check]],
        *,
        ttl_seconds: float = 60.0,
        wait_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self._ttl = ttl_seconds
        self._wait = wait_seconds
        self._clock = clock
        self._result: tuple[float, list[Check]] | None = None
        self._task: asyncio.Task[list[Check]] | None = None

    async def checks(self) -> list[Check] | None:
        """Return the last checks younger than the TTL, else run them (waiting at most ``wait_seconds``).

        While a run is slower than the wait, the previous result answers (None before the first).
        """
        if self._result is not None and self._clock() - self._result[0] < self._ttl:
            return self._result[1]
        task = self._task
        if task is None or task.done():
            task = self._task = asyncio.create_task(self._checked(), name="doctor.readiness")
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._wait)
        except TimeoutError:
            return self._result[1] if self._result is not None else None

    async def _checked(self) -> list[Check]:
        try:
            # A daemon thread: a read hung in AWS must not hold the process past its shutdown drain.
            checks = await asyncio.get_running_loop().run_in_executor(_RUNS, self._run)
        except Exception as exc:  # a probe must answer; the failure is a WARN, never a crash
            checks = [warned("doctor", f"the configuration checks could not run ({type(exc).__name__})")]
        self._result = (self._clock(), checks)
        return checks

    async def aclose(self) -> None:
        """Wait out a run still in flight (its thread cannot be cancelled)."""
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=self._wait)
