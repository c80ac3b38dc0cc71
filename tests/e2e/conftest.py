"""Real processes on loopback ports: redis-server, `python -m emulator` and the broker under uvicorn."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from service.adapters.aws_clients import strip_account_prefix

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ok(url: str, process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{name} not ready after {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Stack:
    """The running emulator and broker, and helpers to act as a user would."""

    emulator_url: str
    broker_url: str
    config: dict[str, Any]
    handed_out: list[str]

    @property
    def region(self) -> str:
        return str(self.config["region"])

    def password_of(self, username: str) -> str:
        return next(u["password"] for u in self.config["users"] if u["username"] == username)

    def sign_in(self, username: str) -> str:
        """Return a fresh Cognito ID token via cognito-idp InitiateAuth (USER_PASSWORD_AUTH)."""
        client = boto3.client(
            "cognito-idp",
            region_name=self.region,
            endpoint_url=self.emulator_url,
            aws_access_key_id="unused",
            aws_secret_access_key="unused",
        )
        result = client.initiate_auth(
            ClientId=self.config["cognito"]["client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": self.password_of(username)},
        )
        token: str = result["AuthenticationResult"]["IdToken"]
        return token

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
            region_name=self.region,
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
            region_name=self.region,
            endpoint_url=self.emulator_url,
            aws_access_key_id=admin["access_key_id"],
            aws_secret_access_key=admin["secret_access_key"],
        )
        if service == "s3control":
            client.meta.events.register("before-sign.s3-control", strip_account_prefix)
        return client

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = httpx.get(f"{self.emulator_url}/_emulator/calls/counts", timeout=5).json()
        return counts


@pytest.fixture(scope="session")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    emulator_port, broker_port = free_port(), free_port()
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    emulator_log = logs / "emulator.log"
    with emulator_log.open("wb") as out:
        emulator = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "emulator", "--host", "127.0.0.1", "--port", str(emulator_port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ok(f"{emulator_url}/_emulator/config", emulator, "emulator", emulator_log)
        config = httpx.get(f"{emulator_url}/_emulator/config", timeout=5).json()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))},
            **config["broker_env"],
            "BROKER_REDIS_URL": redis_url,
            "BROKER_CACHE_KEY": base64.b64encode(os.urandom(32)).decode(),
            "BROKER_LOG_LEVEL": "INFO",
        }
        broker_url = f"http://127.0.0.1:{broker_port}"
        broker_log = logs / "broker.log"
        with broker_log.open("wb") as out:
            broker = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(broker_port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_ok(f"{broker_url}/readyz", broker, "broker", broker_log)
            handed_out: list[str] = []
            yield Stack(emulator_url, broker_url, config, handed_out)
        finally:
            stop(broker)
            text = broker_log.read_text()
            assert "credentials.issued" in text
            assert not [secret for secret in handed_out if secret in text], "a vended secret reached the log"
    finally:
        stop(emulator)
