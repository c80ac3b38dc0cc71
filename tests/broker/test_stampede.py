"""A cold stampede across replicas sharing a real Redis: one GetDataAccess per user and scope."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.redis_cache import RedisCache
from service.domain.access import DataAccessRequest, Permission, S3Target
from tests.fakes import (
    FakeClock,
    FakeDataAccessVendor,
    FakeGrant,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    fake_broker,
    make_token,
)

REPLICAS = 4
REQUESTS_PER_REPLICA = 8
USERS = ("alice", "bob")
# Two scopes under two grants: their entries share the user's one access record, which replicas vending
# both at once must not overwrite with each other's copy.
SCOPES = ("s3://b/team/report.csv", "s3://b/plans/q3.csv")


@pytest.fixture(params=["redis_cache", "cluster_cache"], ids=["redis", "cluster"])
def stores(request: pytest.FixtureRequest) -> Callable[[], EncryptedCredentialStore]:
    """Make each replica's store on one Redis server, then on a 3-master cluster (one shared key)."""
    cache: RedisCache = request.getfixturevalue(request.param)
    key = os.urandom(32)
    return lambda: EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key))


@pytest.mark.parametrize("assume_role_seconds", [0.0, 0.12], ids=["warm-sts", "slow-sts"])
async def test_cold_stampede_across_replicas_makes_one_get_data_access_per_user_and_scope(
    stores: Callable[[], EncryptedCredentialStore], assume_role_seconds: float
) -> None:
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock, delay_seconds=assume_role_seconds)
    grants = [
        FakeGrant(scope.rsplit("/", 1)[0] + "/*", Permission.READ, f"ctx-{user}")
        for user in USERS
        for scope in SCOPES
    ]
    # A small delay keeps each GetDataAccess in flight while the other replicas arrive.
    vendor = FakeDataAccessVendor(clock, assumer, grants=grants, delay_seconds=0.03)
    exchanger = FakeIdentityExchanger()
    replicas = [fake_broker(stores(), clock, exchanger, assumer, vendor=vendor) for _ in range(REPLICAS)]
    callers = [
        await replicas[0].authenticate(make_token(user, f"{user}-{os.urandom(4).hex()}")) for user in USERS
    ]

    async def request(replica_index: int, n: int) -> str:
        caller = callers[n % len(callers)]
        scope = SCOPES[(n // len(callers)) % len(SCOPES)]
        await asyncio.sleep(0.01 * (n % 5))  # arrivals spread over the first GetDataAccess
        issued = await replicas[replica_index].issue_credentials(
            caller, DataAccessRequest(S3Target(scope), Permission.READ, 3600)
        )
        return issued.access.credentials.access_key_id

    keys = await asyncio.gather(
        *(request(r, n) for r in range(REPLICAS) for n in range(REQUESTS_PER_REPLICA))
    )
    per_scope = Counter(r.target.uri for r in vendor.calls)
    assert len(exchanger.exchanged) == len(USERS)
    assert per_scope == {scope: len(USERS) for scope in SCOPES}  # once per (user, scope)
    assert len(set(keys)) == len(USERS) * len(SCOPES)
