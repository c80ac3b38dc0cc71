"""The jti ledger on a real Redis: each CreateTokenWithIAM outcome leaves the ID token retryable or spent."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from service.adapters.aws_errors import translate
from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.redis_cache import RedisCache
from service.broker import Broker
from service.domain.errors import (
    BrokerError,
    InvalidTokenError,
    TokenReusedError,
    UpstreamUnavailableError,
)
from service.domain.identity import IdentityCenterToken
from tests.fakes import FakeClock, FakeIdentityExchanger, FakeRoleAssumer, fake_broker, make_token

OPERATION = "CreateTokenWithIAM"


def _client_error(code: str, status: int) -> BrokerError:
    error = {"Code": code, "Message": "injected"}
    response = ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, OPERATION)
    return translate(response, operation=OPERATION)


def _server_error() -> BrokerError:
    return _client_error("InternalServerException", 500)


def _throttled() -> BrokerError:
    return _client_error("ThrottlingException", 400)


def _read_timeout() -> BrokerError:
    return translate(ReadTimeoutError(endpoint_url="https://oidc.test"), operation=OPERATION)


def _connect_timeout() -> BrokerError:
    return translate(ConnectTimeoutError(endpoint_url="https://oidc.test"), operation=OPERATION)


@pytest.fixture(params=["redis_cache", "cluster_cache"], ids=["redis", "cluster"])
def store(request: pytest.FixtureRequest) -> EncryptedCredentialStore:
    """A store on one Redis server, then on a 3-master cluster (keys spread over slots, hash-tagged)."""
    cache: RedisCache = request.getfixturevalue(request.param)
    key = os.urandom(32)
    return EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key))


def _replicas(
    store: EncryptedCredentialStore, exchanger: FakeIdentityExchanger
) -> tuple[FakeClock, Broker, Broker]:
    clock = FakeClock()
    first = fake_broker(store, clock, exchanger, FakeRoleAssumer(clock))
    second = fake_broker(store, clock, exchanger, FakeRoleAssumer(clock))
    return clock, first, second


@pytest.mark.parametrize(
    "failure",
    [_server_error, _throttled, _read_timeout, _connect_timeout],
    ids=["5xx", "throttled", "read-timeout", "connect-timeout"],
)
async def test_transient_failure_that_did_not_land_leaves_the_token_for_the_retry(
    store: EncryptedCredentialStore, failure: Callable[[], BrokerError]
) -> None:
    exchanger = FakeIdentityExchanger(fail_with=failure())
    _, first, second = _replicas(store, exchanger)
    caller = await first.authenticate(make_token("alice", f"transient-{os.urandom(4).hex()}"))
    with pytest.raises(UpstreamUnavailableError) as refused:
        await first.ensure_session(caller)
    assert refused.value.retry_after_seconds >= 1  # the 503 invites a retry
    exchanger.fail_with = None
    session = await second.ensure_session(caller)  # the retry, on another replica
    assert session.idc_user_id == "idc-alice"
    assert exchanger.attempts == 2
    assert len(exchanger.exchanged) == 1


@pytest.mark.parametrize("failure", [_server_error, _read_timeout], ids=["5xx", "read-timeout"])
async def test_retry_after_an_exchange_that_landed_is_refused_as_a_replay_and_spends_the_token(
    store: EncryptedCredentialStore, failure: Callable[[], BrokerError]
) -> None:
    exchanger = FakeIdentityExchanger(lose_next_answer=failure())
    _, first, second = _replicas(store, exchanger)
    caller = await first.authenticate(make_token("alice", f"landed-{os.urandom(4).hex()}"))
    with pytest.raises(UpstreamUnavailableError):
        await first.ensure_session(caller)
    # The retry is sent, Identity Center refuses it as a replay: the first attempt's session is lost.
    with pytest.raises(TokenReusedError):
        await second.ensure_session(caller)
    assert exchanger.attempts == 2
    # Spent now: later tries fail at once, without asking Identity Center again.
    with pytest.raises(TokenReusedError):
        await first.ensure_session(caller)
    assert exchanger.attempts == 2


async def test_clean_refusal_spends_the_token_and_stays_invalid_token(
    store: EncryptedCredentialStore,
) -> None:
    exchanger = FakeIdentityExchanger(fail_with=InvalidTokenError("Identity Center rejected the token"))
    _, first, second = _replicas(store, exchanger)
    caller = await first.authenticate(make_token("alice", f"refused-{os.urandom(4).hex()}"))
    with pytest.raises(InvalidTokenError):
        await first.ensure_session(caller)
    exchanger.fail_with = None
    with pytest.raises(TokenReusedError):
        await second.ensure_session(caller)
    assert exchanger.attempts == 1


async def test_clear_acceptance_spends_the_token(store: EncryptedCredentialStore) -> None:
    exchanger = FakeIdentityExchanger()
    _, first, second = _replicas(store, exchanger)
    caller = await first.authenticate(make_token("alice", f"accepted-{os.urandom(4).hex()}"))
    await first.ensure_session(caller)
    await store.forget_user(caller.issuer, caller.subject)  # the session ended
    with pytest.raises(TokenReusedError):
        await second.ensure_session(caller)
    assert exchanger.attempts == 1


@dataclass
class FirstCallHeldExchanger(FakeIdentityExchanger):
    """Identity Center whose first CreateTokenWithIAM hangs until released (then lands)."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def exchange_jwt(self, assertion: str, application_arn: str | None = None) -> IdentityCenterToken:
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(timeout=30)
        return super().exchange_jwt(assertion, application_arn)


async def test_exchange_abandoned_at_shutdown_leaves_the_token_for_the_retry(
    store: EncryptedCredentialStore,
) -> None:
    exchanger = FirstCallHeldExchanger()
    _, first, second = _replicas(store, exchanger)
    caller = await first.authenticate(make_token("alice", f"abandoned-{os.urandom(4).hex()}"))
    request = asyncio.ensure_future(first.ensure_session(caller))
    await asyncio.to_thread(exchanger.entered.wait, 30)

    await first.abandon_pending_work()  # the replica's drain ended with the exchange in flight
    with pytest.raises(asyncio.CancelledError):
        await request
    session = await second.ensure_session(caller)  # the retry its 503 invited, on another replica
    exchanger.release.set()

    assert session.idc_user_id == "idc-alice"
    assert exchanger.exchanged == [caller.token]
