"""Lifetime maths: remaining time, usability, cache TTLs and presigned URL expiry."""

from __future__ import annotations

from datetime import timedelta

from service.broker import BrokerPolicy
from service.domain.credentials import TemporaryCredentials, presigned_url_expiry
from tests.fakes import T0

CREDENTIALS = TemporaryCredentials("ASIA", "secret", "token", T0 + timedelta(seconds=3600))


def test_credentials_remaining_seconds() -> None:
    assert CREDENTIALS.remaining_seconds(T0 + timedelta(seconds=600)) == 3000


def test_credentials_usable_until_minimum_remaining() -> None:
    assert CREDENTIALS.usable(T0 + timedelta(seconds=2700), 900)
    assert not CREDENTIALS.usable(T0 + timedelta(seconds=2701), 900)


def test_credentials_repr_hides_secrets() -> None:
    assert "secret" not in repr(CREDENTIALS)
    assert "token" not in repr(CREDENTIALS)


def test_presigned_url_expiry_is_requested_when_credentials_outlive_it() -> None:
    assert presigned_url_expiry(T0, 60, CREDENTIALS) == T0 + timedelta(seconds=60)


def test_presigned_url_expiry_is_capped_by_credentials() -> None:
    assert presigned_url_expiry(T0, 604800, CREDENTIALS) == CREDENTIALS.expiration


def test_policy_threshold_scales_down_for_short_durations() -> None:
    policy = BrokerPolicy(3600, 3600, 900, 60)
    assert policy.threshold(3600) == 900
    assert policy.threshold(900) == 450
