"""Shared fixtures of the AWS adapter tests: one boto3 session, and a Stubber around each module's client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
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


@pytest.fixture
def broker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Give the broker's default credential chain static keys and nothing else (no files, no IMDS)."""
    for name in (
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_S3_CONTROL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDBROKERCHAIN00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "broker-chain-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # AwsClients must force regional STS endpoints whatever the environment says.
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class Capture:
    """A ``before-send`` handler that records each request and answers ``body`` without any network."""

    def __init__(self, body: bytes) -> None:
        self.requests: list[AWSRequest] = []
        self.body = body

    def __call__(self, request: AWSRequest, **_: Any) -> AWSResponse:
        self.requests.append(request)
        return AWSResponse(str(request.url), 200, HTTPHeaders(), _Body(self.body))

    def header(self, name: str) -> str:
        value = self.requests[-1].headers[name]
        return value.decode() if isinstance(value, bytes) else str(value)
