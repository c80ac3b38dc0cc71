"""Real processes: after a CreateTokenWithIAM 5xx the retry exchanges; after a lost answer it is a replay."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Stack, running_stack

pytestmark = pytest.mark.e2e
OPERATION = "CreateTokenWithIAM"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A broker of its own: users other tests signed in have sessions the shared broker reuses unexchanged."""
    with running_stack(None, tmp_path_factory.mktemp("exchange-outcomes")) as running:
        yield running


@pytest.fixture
def faults(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.emulator_url, timeout=10) as admin:
        yield admin
        admin.delete("/_emulator/faults")


def _me(stack: Stack, token: str) -> httpx.Response:
    with stack.broker(token) as client:
        return client.get("/v1/me")


def _exchanges(admin: httpx.Client) -> int:
    return len(admin.get("/_emulator/calls", params={"operation": OPERATION}).json())


def test_server_error_leaves_the_token_for_the_retry_the_503_invites(
    stack: Stack, faults: httpx.Client
) -> None:
    token = stack.sign_in("alice")
    faults.post("/_emulator/faults", json={"operation": OPERATION, "error": 500, "count": 1})
    failed = stack.issue(token, "s3://demo-data/users/alice/*", "READ")
    assert failed.status_code == 503, failed.text
    assert failed.json()["code"] == "upstream_unavailable"
    assert int(failed.headers["Retry-After"]) >= 1
    retried = stack.issue(token, "s3://demo-data/users/alice/*", "READ")
    assert retried.status_code == 200, retried.text


def test_answer_lost_to_a_timeout_after_identity_center_acted_is_token_reused(
    stack: Stack, faults: httpx.Client
) -> None:
    token = stack.sign_in("bob")
    before = _exchanges(faults)
    # Held past the broker's 5 s read timeout, then exchanged: the jti is consumed, the answer lost.
    faults.post("/_emulator/faults", json={"operation": OPERATION, "latency_ms": 6500, "count": 1})
    failed = _me(stack, token)
    assert failed.status_code == 503, failed.text
    deadline = time.monotonic() + 10
    while _exchanges(faults) == before and time.monotonic() < deadline:
        time.sleep(0.1)  # the emulator finishes the held exchange after the broker gave up on it
    retried = _me(stack, token)
    assert retried.status_code == 401, retried.text
    assert retried.json()["code"] == "token_reused"
    assert _exchanges(faults) == before + 2  # the retry was sent, and refused as a replay
    again = _me(stack, token)
    assert again.json()["code"] == "token_reused"
    assert _exchanges(faults) == before + 2  # spent: not sent a third time
