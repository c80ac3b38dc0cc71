"""A Redis outage and restart under a real redis-server (docs/architecture.md#outages).

The replica serves what it mirrors while Redis is down, never sends an ID token Identity Center may have
exchanged already, and keeps serving a live session after Redis comes back empty.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bench.fleet import StoppableRedis
from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.redis_cache import RedisCache
from service.broker import Broker
from service.domain.access import DataAccessRequest, Permission, S3Target
from service.domain.errors import CacheOutageError, SessionRevokedError, TokenStateLostError
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
REPORT = DataAccessRequest(S3Target("s3://b/team/report.csv"), Permission.READ, 3600)
OTHER = DataAccessRequest(S3Target("s3://b/team/other.csv"), Permission.READ, 1800)
KEY = os.urandom(32)


class Replica:
    """One broker replica: its own Redis client and credential store (and mirror), fake AWS."""

    def __init__(self, url: str, clock: FakeClock, exchanger: FakeIdentityExchanger) -> None:
        # A short timeout, as in production: a stopped server refuses connections at once anyway.
        self.cache = RedisCache.from_url(url, socket_timeout=0.25)
        self.store = EncryptedCredentialStore(self.cache, CacheSealer(KEY), KeyHasher(KEY))
        self.broker: Broker = fake_broker(self.store, clock, exchanger, FakeRoleAssumer(clock), grants=[TEAM])

    async def issue(self, token: str, request: DataAccessRequest = REPORT) -> str:
        caller = await self.broker.authenticate(token)
        issued = await self.broker.issue_credentials(caller, request)
        return issued.access.credentials.access_key_id


@pytest.fixture
def clock() -> FakeClock:
    # The wall clock: Redis TTLs and the mirror's expiry run on it.
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def exchanger() -> FakeIdentityExchanger:
    return FakeIdentityExchanger()  # refuses a second exchange of one token, as Identity Center does


@pytest.fixture
async def replicas(
    stoppable_redis: StoppableRedis, clock: FakeClock, exchanger: FakeIdentityExchanger
) -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = (
        Replica(stoppable_redis.url, clock, exchanger),
        Replica(stoppable_redis.url, clock, exchanger),
    )
    for replica in (first, second):
        await replica.store.open_ledger(LEDGER_BEGAN)  # the replicas were running before these sign-ins
    yield first, second
    await first.cache.close()
    await second.cache.close()


def _token(clock: FakeClock, subject: str, jti: str) -> str:
    now = clock.now()
    return make_token(subject, jti, expires_at=now + timedelta(hours=1), issued_at=now - timedelta(seconds=5))


async def test_a_live_session_keeps_getting_credentials_while_redis_is_down(
    stoppable_redis: StoppableRedis,
    replicas: tuple[Replica, Replica],
    clock: FakeClock,
    exchanger: FakeIdentityExchanger,
) -> None:
    replica, _ = replicas
    token = _token(clock, "alice", "signed-in")
    assert await replica.issue(token)
    stoppable_redis.stop()
    for _ in range(3):
        assert await replica.issue(token)  # the cached entry, from the mirror
    assert await replica.issue(token, OTHER)  # a new entry: the mirrored session asks S3 Access Grants
    # Another device of the same user: its session is mirrored, so its token is not exchanged.
    assert await replica.issue(_token(clock, "alice", "second-device"))
    assert exchanger.attempts == 1


async def test_the_mirror_applies_the_marks_it_last_saw(
    stoppable_redis: StoppableRedis,
    replicas: tuple[Replica, Replica],
    clock: FakeClock,
) -> None:
    replica, _ = replicas
    old = _token(clock, "alice", "before-sign-out")
    assert await replica.issue(old)
    await replica.broker.end_session(await replica.broker.authenticate(old))
    clock.advance(10)
    fresh = _token(clock, "alice", "after-sign-out")
    assert await replica.issue(fresh)
    stoppable_redis.stop()
    with pytest.raises(SessionRevokedError):
        await replica.issue(old)
    assert await replica.issue(fresh)


async def test_during_an_outage_no_token_is_sent_to_identity_center(
    stoppable_redis: StoppableRedis,
    replicas: tuple[Replica, Replica],
    clock: FakeClock,
    exchanger: FakeIdentityExchanger,
) -> None:
    # A sign-in this replica never saw may still have been exchanged by another one: its ledger state
    # cannot be read, so it is not sent (docs/architecture.md#the-jti-ledger).
    replica, _ = replicas
    stoppable_redis.stop()
    with pytest.raises(CacheOutageError) as refused:
        await replica.issue(_token(clock, "bob", "new-sign-in"))
    assert (refused.value.status, refused.value.code) == (503, "cache_unavailable")
    assert exchanger.attempts == 0


async def test_after_redis_restarts_empty_a_token_issued_before_is_not_sent(
    stoppable_redis: StoppableRedis,
    replicas: tuple[Replica, Replica],
    clock: FakeClock,
    exchanger: FakeIdentityExchanger,
) -> None:
    replica, other = replicas
    token = _token(clock, "alice", "exchanged-before-restart")
    assert await replica.issue(token)
    stoppable_redis.stop()
    stoppable_redis.start()  # empty: the ledger that recorded the exchange is gone
    clock.advance(2)
    # The replica that never saw alice cannot tell the token was exchanged: it says so, sends nothing.
    with pytest.raises(TokenStateLostError) as lost:
        await other.issue(token)
    assert (lost.value.status, lost.value.code) == (401, "token_state_lost")
    assert exchanger.attempts == 1
    # A fresh ID token from the identity provider is served.
    fresh = make_token("alice", "fresh", expires_at=clock.now() + timedelta(hours=1), issued_at=clock.now())
    assert await other.issue(fresh)
    assert exchanger.attempts == 2


async def test_a_mirrored_session_survives_redis_coming_back_empty(
    stoppable_redis: StoppableRedis,
    replicas: tuple[Replica, Replica],
    clock: FakeClock,
    exchanger: FakeIdentityExchanger,
) -> None:
    replica, other = replicas
    token = _token(clock, "alice", "before-restart")
    assert await replica.issue(token)
    stoppable_redis.stop()
    assert await replica.issue(token)
    stoppable_redis.start()  # empty: the ledger, the session and the marks are gone
    assert await replica.issue(token, OTHER)  # no token_reused: the mirror's session, written back
    assert await other.issue(token, OTHER)  # another replica finds it in Redis again
    assert exchanger.attempts == 1
