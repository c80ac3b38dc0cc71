"""The client's exceptions follow the broker's spec: one class per stable code, Retry-After read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tip_broker_client import (
    ERRORS_BY_CODE,
    AuthenticationError,
    BrokerError,
    PermissionDeniedError,
    RequestError,
    RetryableError,
)
from tip_broker_client.errors import retry_after_seconds

SPEC = Path(__file__).resolve().parents[3] / "openapi" / "openapi.json"


def test_every_code_of_the_spec_has_its_own_exception() -> None:
    codes = json.loads(SPEC.read_text())["components"]["schemas"]["ProblemCode"]["enum"]
    assert sorted(ERRORS_BY_CODE) == sorted(codes)
    for code, cls in ERRORS_BY_CODE.items():
        assert code == cls.CODE
        assert cls is not BrokerError


@pytest.mark.parametrize(
    ("status", "group"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (422, RequestError), (503, RetryableError)],
)
def test_codes_of_a_status_share_the_group_a_caller_catches(status: int, group: type[BrokerError]) -> None:
    spec = json.loads(SPEC.read_text())
    examples = spec["paths"]["/v1/credentials"]["post"]["responses"][str(status)]["content"]
    codes = examples["application/problem+json"]["examples"]
    assert codes
    for code in codes:
        assert issubclass(ERRORS_BY_CODE[code], group), code


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
