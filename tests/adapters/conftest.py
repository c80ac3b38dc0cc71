"""Shared fixtures of the AWS adapter tests: one boto3 session, and a Stubber around each module's client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    # One session: it caches service models, so each test's fresh client is cheap.
    return boto3.session.Session(
        aws_access_key_id="AKIDBROKERTEST000000",
        aws_secret_access_key="broker-secret",
        region_name="us-east-1",
    )


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    """Pin the exact requests a test expects on the module's ``client`` fixture."""
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()
