"""The per-user upstream budget: bursts, refill, independence of users, and the disabled setting."""

from __future__ import annotations

from service.domain.rate_limit import UpstreamBudget, retry_after_seconds

ALICE = ("iss", "alice")
BOB = ("iss", "bob")


def test_upstream_budget_allows_a_minute_of_calls_in_a_burst() -> None:
    budget = UpstreamBudget(per_minute=3)
    assert [budget.try_spend(ALICE, 0.0) for _ in range(3)] == [None, None, None]
    assert budget.try_spend(ALICE, 0.0) == 20.0


def test_upstream_budget_refills_continuously() -> None:
    budget = UpstreamBudget(per_minute=60)
    for _ in range(60):
        budget.try_spend(ALICE, 0.0)
    assert budget.try_spend(ALICE, 0.5) is not None
    assert budget.try_spend(ALICE, 1.5) is None


def test_upstream_budget_is_per_user() -> None:
    budget = UpstreamBudget(per_minute=1)
    assert budget.try_spend(ALICE, 0.0) is None
    assert budget.try_spend(BOB, 0.0) is None
    assert budget.try_spend(ALICE, 0.0) is not None


def test_upstream_budget_zero_disables() -> None:
    budget = UpstreamBudget(per_minute=0)
    assert all(budget.try_spend(ALICE, 0.0) is None for _ in range(1000))


def test_retry_after_seconds_rounds_up_to_at_least_one() -> None:
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(2.1) == 3
