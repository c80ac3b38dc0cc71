"""An identity session near its end is renewed with the Identity Center refresh token, not the ID token."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from bench import stack as processes

pytestmark = pytest.mark.e2e

# Sessions of 900 s that count as ending once less than 899 s remain: every call after the first
# second needs a renewed session, which exercises the refresh path without waiting an hour.
SHORT_SESSIONS = {"BROKER_SESSION_DURATION_SECONDS": "900", "BROKER_MIN_REMAINING_SECONDS": "899"}


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[processes.Emulator, str]]:
    logs = tmp_path_factory.mktemp("renewal")
    with (
        processes.emulator(log_dir=logs) as emulator,
        processes.broker(emulator, log_dir=logs, extra_env=SHORT_SESSIONS) as broker,
    ):
        yield emulator, broker.url


def _me(broker_url: str, token: str) -> httpx.Response:
    return httpx.get(f"{broker_url}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_ending_session_is_renewed_with_the_refresh_token(
    short_lived: tuple[processes.Emulator, str],
) -> None:
    emulator, broker_url = short_lived
    token = emulator.sign_in("alice")
    first = _me(broker_url, token)
    assert first.status_code == 200, first.text
    calls_before = httpx.get(
        f"{emulator.url}/_emulator/calls", params={"operation": "CreateTokenWithIAM"}
    ).json()
    time.sleep(2)
    second = _me(broker_url, token)
    assert second.status_code == 200, second.text
    assert second.json()["session_expiration"] > first.json()["session_expiration"]
    calls = httpx.get(f"{emulator.url}/_emulator/calls", params={"operation": "CreateTokenWithIAM"}).json()
    # One more allowed exchange: the refresh_token grant. The ID token itself was claimed by the first
    # exchange, so without a refresh token the broker would have answered 401 token_reused instead.
    assert len(calls) == len(calls_before) + 1
    assert calls[-1]["decision"] == "Allow"


def test_refresh_without_identity_context_falls_back_to_the_id_token_or_is_token_reused(
    short_lived: tuple[processes.Emulator, str],
) -> None:
    emulator, broker_url = short_lived
    spent = emulator.sign_in("bob")
    assert _me(broker_url, spent).status_code == 200
    httpx.post(f"{emulator.url}/_emulator/application", json={"refresh_identity_context": False})
    try:
        time.sleep(2)
        # The refresh answer has no identity context and this ID token was exchanged already.
        reused = _me(broker_url, spent)
        assert reused.status_code == 401, reused.text
        assert reused.json()["code"] == "token_reused"
        # A fresh ID token is exchanged instead: the user signs in again and goes on.
        fresh = _me(broker_url, emulator.sign_in("bob"))
        assert fresh.status_code == 200, fresh.text
    finally:
        httpx.post(f"{emulator.url}/_emulator/application", json={"refresh_identity_context": True})
