"""Two replicas sharing one cache: one token is exchanged once, the other replica waits for its session."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.memory_cache import MemoryCache
from service.adapters.redis_cache import RedisCache
from service.adapters.s3_presigner import SigV4Presigner
from service.broker import Broker, BrokerPolicy
from service.domain.access import DataAccessRequest, Permission, S3Target
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import (
    IdentityNotMappedError,
    SessionRevokedError,
    TokenReusedError,
    UpstreamUnavailableError,
)
from service.domain.identity import IdentitySession
from tests.fakes import (
    LEDGER_BEGAN,
    T0,
    FakeClock,
    FakeDataAccessVendor,
    FakeGrant,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    FakeTokenVerifier,
    fake_broker,
    make_token,
)


@pytest.fixture
async def store() -> EncryptedCredentialStore:
    key = os.urandom(32)
    # Revocation marks on the same clock as the tests' FakeClock, which starts at T0.
    cache = MemoryCache(wall_clock=lambda: T0.timestamp() + 0.5)
    store = EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key))
    await store.open_ledger(LEDGER_BEGAN)  # the replicas were running before the tokens were issued
    return store


def _replica(
    store: EncryptedCredentialStore,
    clock: FakeClock,
    exchanger: FakeIdentityExchanger,
    assumer: FakeRoleAssumer | None = None,
    grants: tuple[FakeGrant, ...] = (),
) -> Broker:
    return fake_broker(store, clock, exchanger, assumer or FakeRoleAssumer(clock), grants=grants)


async def test_replica_waits_for_the_session_a_peer_is_opening(store: EncryptedCredentialStore) -> None:
    clock = FakeClock()
    exchanger = FakeIdentityExchanger()
    replica = _replica(store, clock, exchanger)
    caller = await replica.authenticate(make_token("alice", "shared-jti"))
    assert await store.claim_token(caller, clock.now())

    async def peer_publishes_session() -> None:
        await asyncio.sleep(0.2)
        credentials = TemporaryCredentials("ASIAPEER", "s", "t", clock.now() + timedelta(hours=1))
        session = IdentitySession(
            caller.issuer, caller.subject, "alice", "idc-alice", None, None, credentials
        )
        await store.save_session(session, clock.now())

    session, _ = await asyncio.gather(replica.ensure_session(caller), peer_publishes_session())
    assert session.credentials.access_key_id == "ASIAPEER"
    assert exchanger.exchanged == []


async def test_replica_answers_token_reused_when_peer_completed_without_session(
    store: EncryptedCredentialStore,
) -> None:
    clock = FakeClock()
    first = _replica(store, clock, FakeIdentityExchanger())
    second_exchanger = FakeIdentityExchanger()
    second = _replica(store, clock, second_exchanger)
    caller = await first.authenticate(make_token("alice", "once"))
    await first.ensure_session(caller)
    await store.forget_user(caller.issuer, caller.subject)  # the session expired from the cache
    with pytest.raises(TokenReusedError):
        await second.ensure_session(caller)
    assert second_exchanger.exchanged == []


async def test_sign_out_on_one_replica_refuses_older_tokens_on_another(
    store: EncryptedCredentialStore,
) -> None:
    clock = FakeClock()
    first = _replica(store, clock, FakeIdentityExchanger())
    second_exchanger = FakeIdentityExchanger()
    second = _replica(store, clock, second_exchanger)
    caller = await first.authenticate(make_token("alice", "once"))
    other = await second.authenticate(make_token("alice", "other-device"))
    await second.ensure_session(other)
    await first.end_session(caller)
    for token in (caller, other):
        with pytest.raises(SessionRevokedError):
            await second.ensure_session(token)
    assert len(second_exchanger.exchanged) == 1  # only the other device's token, before the sign-out


async def test_replicas_exchange_one_token_once_when_racing(store: EncryptedCredentialStore) -> None:
    clock = FakeClock()
    exchanger = FakeIdentityExchanger()
    replicas = [_replica(store, clock, exchanger) for _ in range(3)]
    caller = await replicas[0].authenticate(make_token("bob", "race"))
    sessions = await asyncio.gather(*(r.ensure_session(caller) for r in replicas))
    assert len(exchanger.exchanged) == 1
    assert len({s.idc_user_id for s in sessions}) == 1


async def test_replicas_on_redis_make_one_get_data_access_for_one_cold_grant(redis_url: str) -> None:
    key = os.urandom(32)
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock)
    vendor = FakeDataAccessVendor(
        clock, assumer, grants=[FakeGrant("s3://b/team/*", Permission.READ, "ctx-alice")]
    )
    exchanger = FakeIdentityExchanger()
    caches = [RedisCache.from_url(redis_url) for _ in range(2)]
    try:
        replicas = [
            Broker(
                verifier=FakeTokenVerifier(clock),
                exchanger=exchanger,
                assumer=assumer,
                vendor=vendor,
                store=EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key)),
                signer=SigV4Presigner("us-east-1"),
                clock=clock,
                policy=BrokerPolicy(3600, 3600, 900, 60),
                executor=ThreadPoolExecutor(max_workers=4),
            )
            for cache in caches
        ]
        caller = await replicas[0].authenticate(make_token("alice", f"redis-{os.urandom(4).hex()}"))
        await asyncio.gather(*(r.ensure_session(caller) for r in replicas))
        request = DataAccessRequest(S3Target("s3://b/team/report.csv"), Permission.READ, 3600)
        issued = await asyncio.gather(
            *(r.issue_credentials(caller, request) for r in replicas for _ in range(10))
        )
    finally:
        for cache in caches:
            await cache.close()
    assert len(vendor.calls) == 1
    assert len({i.access.credentials.access_key_id for i in issued}) == 1


async def test_failed_assume_role_resumes_with_the_recorded_exchange(store: EncryptedCredentialStore) -> None:
    clock = FakeClock()
    exchanger = FakeIdentityExchanger()
    assumer = FakeRoleAssumer(clock, fail_next=UpstreamUnavailableError("STS is throttling"))
    replica = _replica(store, clock, exchanger, assumer)
    caller = await replica.authenticate(make_token("alice", "resume"))
    with pytest.raises(UpstreamUnavailableError):
        await replica.ensure_session(caller)
    other = _replica(store, clock, exchanger)
    session = await other.ensure_session(caller)
    assert session.idc_user_id == "idc-alice"
    assert len(exchanger.exchanged) == 1


async def test_token_refused_by_identity_center_fails_at_once_on_retry(
    store: EncryptedCredentialStore,
) -> None:
    clock = FakeClock()
    exchanger = FakeIdentityExchanger(fail_with=IdentityNotMappedError("no user for this token"))
    replica = _replica(store, clock, exchanger)
    caller = await replica.authenticate(make_token("alice", "unmapped"))
    with pytest.raises(IdentityNotMappedError):
        await replica.ensure_session(caller)
    exchanger.fail_with = None
    with pytest.raises(TokenReusedError):
        await replica.ensure_session(caller)
    assert exchanger.exchanged == []


async def test_replicas_switching_to_a_new_token_together_both_get_the_session(
    store: EncryptedCredentialStore,
) -> None:
    clock = FakeClock()
    exchanger = FakeIdentityExchanger()
    replicas = [_replica(store, clock, exchanger) for _ in range(2)]
    old = await replicas[0].authenticate(
        make_token("alice", "old", expires_at=clock.now() + timedelta(hours=2))
    )
    await replicas[0].ensure_session(old)
    clock.advance(3000)  # the session now has less than the minimum left
    new = await replicas[0].authenticate(
        make_token("alice", "new", expires_at=clock.now() + timedelta(hours=1))
    )
    sessions = await asyncio.gather(*(r.ensure_session(new) for r in replicas))
    assert len({s.credentials.access_key_id for s in sessions}) == 1
    assert len(exchanger.exchanged) == 2


async def test_fresh_token_does_not_inherit_a_spent_tokens_failure(store: EncryptedCredentialStore) -> None:
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock)
    team = FakeGrant("s3://b/team/*", Permission.READ, "ctx-alice")
    replica = _replica(store, clock, FakeIdentityExchanger(), assumer, grants=(team,))
    old = await replica.authenticate(make_token("alice", "old"))
    await replica.ensure_session(old)
    await replica.end_session(old)
    clock.advance(1)
    new = await replica.authenticate(make_token("alice", "new", issued_at=clock.now()))
    request = DataAccessRequest(S3Target("s3://b/team/x"), Permission.READ, 3600)
    results = await asyncio.gather(
        replica.issue_credentials(old, request),
        replica.issue_credentials(new, request),
        return_exceptions=True,
    )
    assert isinstance(results[0], SessionRevokedError)
    assert not isinstance(results[1], BaseException)


async def test_peer_waits_for_a_slow_assume_role_instead_of_opening_a_second_session(
    store: EncryptedCredentialStore,
) -> None:
    clock = FakeClock()
    exchanger = FakeIdentityExchanger()
    slow = FakeRoleAssumer(clock, delay_seconds=0.3)
    first, second = _replica(store, clock, exchanger, slow), _replica(store, clock, exchanger, slow)
    caller = await first.authenticate(make_token("alice", "slow-sts"))

    async def second_arrives_mid_assume_role() -> IdentitySession:
        await asyncio.sleep(0.1)
        return await second.ensure_session(caller)

    sessions = await asyncio.gather(first.ensure_session(caller), second_arrives_mid_assume_role())
    assert len(slow.calls) == 1
    assert sessions[0] == sessions[1]
