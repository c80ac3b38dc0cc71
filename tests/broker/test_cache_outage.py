"""A Redis outage and restart under a real redis-server (docs/architecture.md#outages).

The replica serves what it mirrors while Redis is down, never sends an ID token Identity Center may have
exchanged already, and keeps serving a live session after Redis comes back empty.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.redis_cache import RedisCache
from service.broker import Broker
from service.domain.access import DataAccessRequest, Permission, S3Target
from service.domain.errors import CacheOutageError, SessionRevokedError
from tests.conftest import StoppableRedis
from tests.fakes import FakeClock, FakeGrant, FakeIdentityExchanger, FakeRoleAssumer, fake_broker, make_token

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


async def test_during_an_outage_only_a_brand_new_sign_in_is_exchanged_and_never_twice(
    stoppable_redis: StoppableRedis,
    replicas: tuple[Replica, Replica],
    clock: FakeClock,
    exchanger: FakeIdentityExchanger,
) -> None:
    replica, _ = replicas
    stoppable_redis.stop()
    token = _token(clock, "bob", "new-sign-in")
    bob_grant = FakeGrant("s3://b/bob/*", Permission.READ, "ctx-bob")
    replica.broker._vendor.grants.append(bob_grant)  # type: ignore[attr-defined]
    request = DataAccessRequest(S3Target("s3://b/bob/x"), Permission.READ, 3600)
    assert await replica.issue(token, request)  # never seen, no session: exchanged once
    assert await replica.issue(token, request)  # then served from the mirror
    assert exchanger.attempts == 1
    # This replica lost the session it opened (an eviction): the token it exchanged is not sent again.
    caller = await replica.broker.authenticate(token)
    await replica.store.forget_user(caller.issuer, caller.subject)
    with pytest.raises(CacheOutageError) as refused:
        await replica.issue(token, request)
    assert refused.value.status == 503
    assert refused.value.code == "cache_unavailable"
    assert exchanger.attempts == 1


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
