"""Revocation and budgets across replicas sharing a real Redis: sign-out holds, in-flight work stays dead."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.redis_cache import RedisCache
from service.broker import Broker, BrokerPolicy, upstream
from service.broker.data_access import work_key
from service.domain.access import DataAccessRequest, Permission, S3Target
from service.domain.errors import RateLimitedError, SessionRevokedError
from tests.fakes import (
    LEDGER_BEGAN,
    FakeClock,
    FakeGrant,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    fake_broker,
    make_token,
)

TEAM = FakeGrant("s3://b/team/*", Permission.READ, "ctx-alice")
SHARED = FakeGrant("s3://b/shared/*", Permission.READ, "ctx-alice")


@pytest.fixture(params=["redis_cache", "cluster_cache"], ids=["redis", "cluster"])
def store(request: pytest.FixtureRequest) -> EncryptedCredentialStore:
    """A store on one Redis server, then on a 3-master cluster (keys spread over slots, hash-tagged)."""
    cache: RedisCache = request.getfixturevalue(request.param)
    key = os.urandom(32)
    return EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key))


@pytest.fixture(autouse=True)
async def _running_replicas(store: EncryptedCredentialStore) -> None:
    await store.open_ledger(LEDGER_BEGAN)  # the replicas were running before the tokens were issued


def _replica(
    store: EncryptedCredentialStore,
    clock: FakeClock,
    exchanger: FakeIdentityExchanger,
    assumer: FakeRoleAssumer,
    *,
    upstream_calls_per_minute: int = 0,
) -> Broker:
    policy = BrokerPolicy(3600, 3600, 900, 60, upstream_calls_per_minute=upstream_calls_per_minute)
    return fake_broker(store, clock, exchanger, assumer, grants=(TEAM, SHARED), policy=policy)


def _read(scope: str) -> DataAccessRequest:
    return DataAccessRequest(S3Target(scope), Permission.READ, 3600)


def _clock_now_on_redis() -> FakeClock:
    # Tokens are stamped by the fake clock and revocations by Redis's clock: start the fake one at now.
    return FakeClock(datetime.fromtimestamp(int(time.time()), UTC))


def _token(subject: str, jti: str, clock: FakeClock, *, age_seconds: float = 0) -> str:
    issued_at = clock.now() - timedelta(seconds=age_seconds)
    return make_token(subject, jti, issued_at=issued_at, expires_at=issued_at + timedelta(hours=1))


async def test_sign_out_on_one_replica_refuses_older_tokens_on_the_next_request_of_another(
    store: EncryptedCredentialStore,
) -> None:
    clock = _clock_now_on_redis()
    exchanger, assumer = FakeIdentityExchanger(), FakeRoleAssumer(clock)
    first, second = (_replica(store, clock, exchanger, assumer) for _ in range(2))
    laptop = await first.authenticate(_token("alice", "laptop", clock, age_seconds=5))
    phone = await second.authenticate(_token("alice", "phone", clock, age_seconds=5))
    await second.issue_credentials(phone, _read("s3://b/team/x"))  # cached on the shared Redis
    await first.end_session(laptop)
    with pytest.raises(SessionRevokedError):
        await second.issue_credentials(phone, _read("s3://b/team/x"))


async def test_in_flight_session_written_back_after_sign_out_is_dead(store: EncryptedCredentialStore) -> None:
    clock = _clock_now_on_redis()
    exchanger = FakeIdentityExchanger()
    slow = FakeRoleAssumer(clock, delay_seconds=0.4)
    replica = _replica(store, clock, exchanger, slow)
    old = await replica.authenticate(_token("alice", "old", clock, age_seconds=5))

    async def sign_out_mid_assume_role() -> None:
        await asyncio.sleep(0.1)
        await replica.end_session(old)

    await asyncio.gather(replica.ensure_session(old), sign_out_mid_assume_role())
    assert len(slow.calls) == 1  # the in-flight request finished and wrote its session back
    await asyncio.sleep(1.05 - time.time() % 1)
    clock.advance(2)
    new = await replica.authenticate(_token("alice", "new", clock))
    await replica.ensure_session(new)
    assert len(slow.calls) == 2  # the written-back session was not served


async def test_upstream_budget_is_shared_by_replicas(store: EncryptedCredentialStore) -> None:
    clock = _clock_now_on_redis()
    exchanger, assumer = FakeIdentityExchanger(), FakeRoleAssumer(clock)
    first, second = (
        _replica(store, clock, exchanger, assumer, upstream_calls_per_minute=2) for _ in range(2)
    )
    caller = await first.authenticate(_token("alice", "j", clock))
    await first.issue_credentials(caller, _read("s3://b/team/x"))  # exchange + GetDataAccess: 2 calls
    with pytest.raises(RateLimitedError) as refused:
        await second.issue_credentials(caller, _read("s3://b/shared/x"))
    assert refused.value.retry_after_seconds >= 1
    await second.issue_credentials(caller, _read("s3://b/team/y"))  # a cache hit costs nothing


async def test_peer_wait_never_serves_an_entry_written_back_after_a_sign_out(
    store: EncryptedCredentialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream, "PEER_WAIT_SECONDS", 1.0)  # the peer below never answers: wait less
    clock = _clock_now_on_redis()
    exchanger, assumer = FakeIdentityExchanger(), FakeRoleAssumer(clock)
    replica = _replica(store, clock, exchanger, assumer)
    old = await replica.authenticate(_token("alice", "old", clock, age_seconds=5))
    request = _read("s3://b/team/x")
    before = await replica.issue_credentials(old, request)
    stale_book = await store.load_access(old.issuer, old.subject)
    assert stale_book is not None
    await replica.end_session(old)
    await store.save_access(old.issuer, old.subject, stale_book, clock.now())  # an in-flight write-back
    await asyncio.sleep(1.05 - time.time() % 1)
    clock.advance(2)
    new = await replica.authenticate(_token("alice", "new", clock))
    # Another replica holds the GetDataAccess lock: this one waits for a peer's entry, then vends itself.
    async with store.exclusive(new.issuer, new.subject, work_key(request)) as holder:
        assert holder
        after = await replica.issue_credentials(new, request)
    assert after.access.credentials.access_key_id != before.access.credentials.access_key_id
