"""Real processes on loopback ports (redis-server, `python -m emulator`, the broker under uvicorn) and a
user's view of them; the processes are started by ``bench.stack``, shared with the benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from bench import stack as processes
from service.adapters.aws_clients import strip_account_prefix


@dataclass
class Stack:
    """The running emulator and broker, and helpers to act as a user would."""

    emulator: processes.Emulator
    broker_url: str
    broker_pid: int
    handed_out: list[str] = field(default_factory=list)
    broker_log: Path | None = None

    @property
    def emulator_url(self) -> str:
        return self.emulator.url

    @property
    def config(self) -> dict[str, Any]:
        return self.emulator.config

    def sign_in(self, username: str) -> str:
        """Return a fresh Cognito ID token via cognito-idp InitiateAuth (USER_PASSWORD_AUTH)."""
        return self.emulator.sign_in(username)

    def counts(self) -> dict[str, int]:
        return self.emulator.counts()

    def issue(self, token: str, target: str, permission: str) -> httpx.Response:
        """POST /v1/credentials and remember the secrets handed out (they must never reach a log)."""
        with self.broker(token) as client:
            response = client.post("/v1/credentials", json={"target": target, "permission": permission})
        if response.status_code == 200:
            self.handed_out += [response.json()["secret_access_key"], response.json()["session_token"]]
        return response

    def broker(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.broker_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def s3_with(self, credentials: dict[str, Any]) -> Any:
        return boto3.client(
            "s3",
            region_name=self.emulator.region,
            endpoint_url=self.emulator_url,
            aws_access_key_id=credentials["access_key_id"],
            aws_secret_access_key=credentials["secret_access_key"],
            aws_session_token=credentials["session_token"],
            config=Config(
                signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
            ),
        )

    def admin_client(self, service: str) -> Any:
        admin = self.config["admin"]
        client = boto3.client(
            service,
            region_name=self.emulator.region,
            endpoint_url=self.emulator_url,
            aws_access_key_id=admin["access_key_id"],
            aws_secret_access_key=admin["secret_access_key"],
        )
        if service == "s3control":
            client.meta.events.register("before-sign.s3-control", strip_account_prefix)
        return client


@contextmanager
def running_stack(redis_url: str | None, logs: Path) -> Iterator[Stack]:
    """Start an emulator and a broker; on exit, check the broker's log kept the audit trail and no secret."""
    with (
        processes.emulator(log_dir=logs) as emulator,
        processes.broker(emulator, redis_url=redis_url, log_level="INFO", log_dir=logs) as broker,
    ):
        running = Stack(emulator, broker.url, broker.pid, broker_log=broker.log)
        yield running
    text = broker.log.read_text()
    if running.handed_out:  # the audit trail of what was handed out reached the log
        assert "credentials.issued" in text
    assert not [secret for secret in running.handed_out if secret in text], "a vended secret reached the log"


@pytest.fixture(scope="session")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(redis_url, tmp_path_factory.mktemp("e2e-logs")) as running:
        yield running
