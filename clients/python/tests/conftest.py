"""Real processes for the client's tests: the emulator (demo scenario) and brokers against it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from jose import jwt
from moto.utilities.utils import load_resource

from bench import stack as processes

BrokerFactory = Callable[..., AbstractContextManager[processes.Broker]]


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("client-logs")


@pytest.fixture(scope="session")
def emulator(logs: Path) -> Iterator[processes.Emulator]:
    with processes.emulator(log_dir=logs) as running:
        yield running


@pytest.fixture(scope="session")
def emulator_url(emulator: processes.Emulator) -> str:
    return emulator.url


@pytest.fixture(scope="session")
def broker_url(emulator: processes.Emulator, logs: Path) -> Iterator[str]:
    """The broker most tests share (in-process cache: a sign-out reaches no other broker)."""
    with processes.broker(emulator, log_dir=logs) as running:
        yield running.url


@pytest.fixture(scope="session")
def start_broker(emulator: processes.Emulator, logs: Path) -> BrokerFactory:
    """Return a context manager starting one more broker against the emulator (``extra_env`` settings)."""

    def start(**extra_env: str) -> AbstractContextManager[processes.Broker]:
        return processes.broker(emulator, log_dir=logs, extra_env=extra_env)

    return start


@pytest.fixture
def sign_in(emulator: processes.Emulator) -> Callable[[str], str]:
    """Return a function signing a demo user in at the emulator's Cognito (a fresh ID token each time)."""
    return emulator.sign_in


@pytest.fixture
def expired_token(emulator: processes.Emulator) -> str:
    """Return alice's ID token as her IdP would have issued it two hours ago: signed, valid, expired.

    The emulator's Cognito (moto) signs with the key it ships; only the times and the jti change.
    """
    claims: dict[str, Any] = jwt.get_unverified_claims(emulator.sign_in("alice"))
    now = int(time.time())
    claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600, jti=str(uuid.uuid4()))
    key = load_resource("cognitoidp/resources/jwks-private.json")
    return str(jwt.encode(claims, key, algorithm="RS256", headers={"kid": key["kid"]}))


@pytest.fixture
def unused_url() -> str:
    """Return the URL of a loopback port nothing listens on (a broker that is down)."""
    return f"http://127.0.0.1:{processes.free_port()}"
