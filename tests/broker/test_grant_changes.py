"""A grant change kills cached data access, not the identity session: the broker asks GetDataAccess again."""

from __future__ import annotations

import os

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.memory_cache import MemoryCache
from service.domain.access import DataAccessRequest, Permission, S3Target
from service.domain.errors import AccessDeniedError
from tests.fakes import (
    FakeClock,
    FakeDataAccessVendor,
    FakeGrant,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    fake_broker,
    make_token,
)

TEAM = FakeGrant("s3://b/team/*", Permission.READ, "ctx-alice")
READ_TEAM = DataAccessRequest(S3Target("s3://b/team/x"), Permission.READ, 3600)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.exchanger = FakeIdentityExchanger()
        self.assumer = FakeRoleAssumer(self.clock)
        self.vendor = FakeDataAccessVendor(self.clock, self.assumer, grants=[TEAM])
        key = os.urandom(32)
        # Marks come from the cache's own (real) clock; tokens are stamped by the fake one, years ago.
        self.store = EncryptedCredentialStore(MemoryCache(), CacheSealer(key), KeyHasher(key))
        self.broker = fake_broker(self.store, self.clock, self.exchanger, self.assumer, vendor=self.vendor)

    def calls(self) -> tuple[int, int, int]:
        return len(self.exchanger.exchanged), len(self.assumer.calls), len(self.vendor.calls)


@pytest.fixture
def world() -> World:
    return World()


async def test_grant_change_kills_cached_access_but_not_the_session(world: World) -> None:
    caller = await world.broker.authenticate(make_token("alice", "j1"))
    first = await world.broker.issue_credentials(caller, READ_TEAM)
    assert (await world.broker.issue_credentials(caller, READ_TEAM)).layer == "cache"
    assert world.calls() == (1, 1, 1)

    await world.store.grants_changed()

    again = await world.broker.issue_credentials(caller, READ_TEAM)  # same token: not signed out
    assert again.layer == "upstream"
    assert again.access.credentials != first.access.credentials
    assert world.calls() == (1, 1, 2)  # no new exchange or AssumeRole, one new GetDataAccess
    assert (await world.broker.issue_credentials(caller, READ_TEAM)).layer == "cache"  # fresh entry lives
    assert world.calls() == (1, 1, 2)


async def test_deleted_grant_is_refused_after_the_change_without_signing_out(world: World) -> None:
    caller = await world.broker.authenticate(make_token("alice", "j1"))
    await world.broker.issue_credentials(caller, READ_TEAM)
    world.vendor.grants.remove(TEAM)
    assert (await world.broker.issue_credentials(caller, READ_TEAM)).layer == "cache"  # not told yet

    await world.store.grants_changed()

    with pytest.raises(AccessDeniedError):
        await world.broker.issue_credentials(caller, READ_TEAM)
    assert world.calls() == (1, 1, 2)
    assert (await world.broker.whoami(caller)).idc_user_id == "idc-alice"  # still signed in
    assert world.calls() == (1, 1, 2)
