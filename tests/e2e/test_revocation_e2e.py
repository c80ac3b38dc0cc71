"""Two broker processes sharing one Redis: a sign-out on one refuses the user's older tokens on the other."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from bench import stack as processes
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
TARGET = {"target": "s3://demo-data/users/bob/*", "permission": "READ"}


@pytest.fixture(scope="module")
def replicas(stack: Stack, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    shared = {"BROKER_CACHE_KEY": base64.b64encode(os.urandom(32)).decode()}
    with (
        processes.broker(
            stack.emulator, redis_url=redis_url, log_dir=tmp_path_factory.mktemp("a"), extra_env=shared
        ) as first,
        processes.broker(
            stack.emulator, redis_url=redis_url, log_dir=tmp_path_factory.mktemp("b"), extra_env=shared
        ) as second,
    ):
        yield [first.url, second.url]


def _credentials(url: str, token: str) -> tuple[int, str]:
    response = httpx.post(
        f"{url}/v1/credentials", json=TARGET, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code, response.json().get("code", "")


def test_sign_out_on_one_replica_refuses_older_tokens_on_the_other(stack: Stack, replicas: list[str]) -> None:
    first, second = replicas
    # The stack's own broker serves alice meanwhile (its teardown checks it issued something).
    assert stack.issue(stack.sign_in("alice"), "s3://demo-data/users/alice/*", "READ").status_code == 200
    laptop, phone = stack.sign_in("bob"), stack.sign_in("bob")
    assert _credentials(first, laptop) == (200, "")
    assert _credentials(second, phone) == (200, "")  # the session the first replica cached in Redis
    signed_out = httpx.delete(f"{first}/v1/session", headers={"Authorization": f"Bearer {laptop}"})
    assert signed_out.status_code == 204
    assert _credentials(second, phone) == (401, "session_revoked")  # the very next request
    assert _credentials(second, laptop) == (401, "session_revoked")
    time.sleep(1.05 - time.time() % 1)  # a token issued in the sign-out's second is refused too
    assert _credentials(second, stack.sign_in("bob")) == (200, "")
