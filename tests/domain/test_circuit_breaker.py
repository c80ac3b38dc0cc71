"""The circuit breaker's state machine, driven by an injected clock: opening, refusing, probing, closing."""

from __future__ import annotations

import pytest

from service.domain.circuit_breaker import BreakerPolicy, BreakerState, CircuitBreaker, CircuitOpenError

POLICY = BreakerPolicy(failures=3, window_seconds=10.0, open_seconds=30.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, policy: BreakerPolicy = POLICY) -> tuple[CircuitBreaker, list[BreakerState]]:
    changes: list[BreakerState] = []
    return CircuitBreaker("GetDataAccess", policy, clock, changes.append), changes


def _open(breaker: CircuitBreaker) -> None:
    for _ in range(POLICY.failures):
        breaker.before_attempt()
        breaker.record_failure()


def test_breaker_stays_closed_below_the_failure_threshold() -> None:
    breaker, changes = _breaker(Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.before_attempt()
    assert breaker.state is BreakerState.CLOSED
    assert changes == []


def test_breaker_opens_after_threshold_failures_within_the_window() -> None:
    breaker, changes = _breaker(Clock())
    _open(breaker)
    assert breaker.state is BreakerState.OPEN
    assert changes == [BreakerState.OPEN]


def test_breaker_forgets_failures_older_than_the_window() -> None:
    clock = Clock()
    breaker, _ = _breaker(clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 10.5
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_breaker_success_clears_the_failure_count() -> None:
    breaker, _ = _breaker(Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_breaker_refuses_while_open_with_the_remaining_open_time() -> None:
    clock = Clock()
    breaker, _ = _breaker(clock)
    _open(breaker)
    clock.now += 12.2
    with pytest.raises(CircuitOpenError) as refused:
        breaker.before_attempt()
    assert refused.value.retry_after_seconds == 18  # ceil(30 - 12.2)
    assert refused.value.may_have_landed is False
    assert refused.value.code == "upstream_unavailable"
    assert refused.value.status == 503


def test_breaker_retry_after_is_at_least_one_second_near_the_end() -> None:
    clock = Clock()
    breaker, _ = _breaker(clock)
    _open(breaker)
    clock.now += 29.99
    with pytest.raises(CircuitOpenError) as refused:
        breaker.before_attempt()
    assert refused.value.retry_after_seconds == 1


def test_breaker_half_opens_with_one_probe_after_the_open_time() -> None:
    clock = Clock()
    breaker, changes = _breaker(clock)
    _open(breaker)
    clock.now += 30.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_attempt()  # the probe goes
    with pytest.raises(CircuitOpenError) as refused:
        breaker.before_attempt()  # everyone else waits for its answer
    assert refused.value.retry_after_seconds == 1
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN]


def test_breaker_closes_when_the_probe_succeeds() -> None:
    clock = Clock()
    breaker, changes = _breaker(clock)
    _open(breaker)
    clock.now += 30.0
    breaker.before_attempt()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_attempt()
    breaker.before_attempt()
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_breaker_reopens_for_a_full_period_when_the_probe_fails() -> None:
    clock = Clock()
    breaker, changes = _breaker(clock)
    _open(breaker)
    clock.now += 31.0
    breaker.before_attempt()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as refused:
        breaker.before_attempt()
    assert refused.value.retry_after_seconds == 30
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.OPEN]


def test_breaker_replaces_a_probe_that_never_reported_back() -> None:
    clock = Clock()
    breaker, _ = _breaker(clock)
    _open(breaker)
    clock.now += 30.0
    breaker.before_attempt()
    clock.now += 30.0
    breaker.before_attempt()  # the first probe is presumed lost
    with pytest.raises(CircuitOpenError):
        breaker.before_attempt()


def test_breaker_ignores_failures_of_attempts_sent_before_it_opened() -> None:
    clock = Clock()
    breaker, changes = _breaker(clock)
    _open(breaker)
    clock.now += 5.0
    breaker.record_failure()  # an attempt already on the wire when it opened
    clock.now += 25.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert changes == [BreakerState.OPEN]


def test_breaker_with_zero_failures_never_opens() -> None:
    breaker, changes = _breaker(Clock(), BreakerPolicy(failures=0))
    for _ in range(100):
        breaker.record_failure()
        breaker.before_attempt()
    assert breaker.state is BreakerState.CLOSED
    assert changes == []
