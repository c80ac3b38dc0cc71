"""Renewing an identity session with the Identity Center refresh token, in every shape AWS answers it."""

from __future__ import annotations

import os

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.memory_cache import MemoryCache
from service.broker import BrokerPolicy
from service.domain.errors import IdentityConflictError, TokenReusedError
from service.domain.identity import IdentitySession
from tests.fakes import (
    T0,
    FakeClock,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    fake_broker,
    make_token,
)

SESSION_SECONDS = 3600
MIN_REMAINING = 900
# Past this many seconds the session has less than MIN_REMAINING left: it must be renewed, still valid.
RENEW_AFTER = SESSION_SECONDS - MIN_REMAINING


class World:
    """One broker over fakes, and a signed-in alice whose session is about to need renewal."""

    def __init__(self) -> None:
        key = os.urandom(32)
        cache = MemoryCache(wall_clock=lambda: T0.timestamp() + 0.5)
        self.clock = FakeClock()
        self.exchanger = FakeIdentityExchanger(refresh_enabled=True)
        self.assumer = FakeRoleAssumer(self.clock)
        store = EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key))
        policy = BrokerPolicy(SESSION_SECONDS, 3600, MIN_REMAINING, 60)
        self.broker = fake_broker(store, self.clock, self.exchanger, self.assumer, policy=policy)
        # Tokens live longer than sessions here, so the same ID token can come back after renewal time.
        self.exp = T0.replace(hour=20)

    async def session(self, jti: str) -> IdentitySession:
        caller = await self.broker.authenticate(make_token("alice", jti, expires_at=self.exp))
        return await self.broker.whoami(caller)


@pytest.fixture
async def world() -> World:
    world = World()
    first = await world.session("jti-1")
    assert first.idc_user_id == "idc-alice"
    world.clock.advance(RENEW_AFTER + 1)
    return world


async def test_session_is_renewed_ahead_of_expiry_not_after() -> None:
    world = World()
    first = await world.session("jti-1")
    world.clock.advance(RENEW_AFTER - 1)
    assert (await world.session("jti-1")).credentials == first.credentials
    assert world.exchanger.refreshed == 0

    world.clock.advance(2)  # MIN_REMAINING - 1 seconds left: still valid, but renewed now
    assert first.credentials.remaining_seconds(world.clock.now()) > 0
    renewed = await world.session("jti-1")

    assert world.exchanger.refreshed == 1
    assert renewed.credentials.expiration > first.credentials.expiration


async def test_refresh_answer_without_a_user_keeps_the_sessions_user(world: World) -> None:
    world.exchanger.refresh_names_user = False

    renewed = await world.session("jti-1")

    assert renewed.idc_user_id == "idc-alice"
    assert renewed.identity_store_arn == "arn:aws:identitystore::111122223333:identitystore/d-1234567890"
    assert renewed.refresh_token == "refresh-alice"
    assert world.exchanger.refreshed == 1
    assert world.assumer.calls[-1][1] == "tip-idc-alice"


async def test_refresh_answer_naming_another_user_is_an_identity_conflict(world: World) -> None:
    world.exchanger.refresh_user_id = "idc-mallory"

    with pytest.raises(IdentityConflictError):
        await world.session("jti-1")


async def test_refresh_without_identity_context_falls_back_to_an_unused_id_token(world: World) -> None:
    world.exchanger.refresh_has_context = False

    renewed = await world.session("jti-2")

    assert world.exchanger.refreshed == 1
    assert world.exchanger.exchanged[-1].split(".")[2] == "jti-2"
    assert renewed.credentials.usable(world.clock.now(), MIN_REMAINING)


async def test_refresh_without_identity_context_and_a_spent_id_token_is_token_reused(world: World) -> None:
    world.exchanger.refresh_has_context = False

    with pytest.raises(TokenReusedError):
        await world.session("jti-1")


async def test_refused_refresh_token_falls_back_to_an_unused_id_token(world: World) -> None:
    world.exchanger.refresh_enabled = False  # the adapter's answer to InvalidGrant / ExpiredToken

    renewed = await world.session("jti-2")

    assert world.exchanger.exchanged[-1].split(".")[2] == "jti-2"
    assert renewed.credentials.usable(world.clock.now(), MIN_REMAINING)
    world.clock.advance(RENEW_AFTER + 1)
    with pytest.raises(TokenReusedError):
        await world.session("jti-1")
