"""A presign batch resolves data access once per folder, and never signs a key outside its own grant."""

from __future__ import annotations

import os

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.memory_cache import MemoryCache
from service.broker.presigning import PresignItem, PresignResult
from service.domain.access import Permission
from service.domain.errors import AccessDeniedError
from tests.fakes import (
    LEDGER_BEGAN,
    FakeClock,
    FakeDataAccessVendor,
    FakeGrant,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    fake_broker,
    make_token,
)

GRANTS = [
    FakeGrant("s3://bkt/team/*", Permission.READ, "ctx-alice"),
    FakeGrant("s3://bkt/shared/a.csv", Permission.READ, "ctx-alice"),  # one object of its folder
    FakeGrant("s3://bkt/pub/x*", Permission.READ, "ctx-alice"),  # keys starting with x only
]


async def test_batch_asks_once_per_folder_and_signs_each_key_under_its_own_grant() -> None:
    clock = FakeClock()
    key = os.urandom(32)
    store = EncryptedCredentialStore(MemoryCache(), CacheSealer(key), KeyHasher(key))
    await store.open_ledger(LEDGER_BEGAN)
    assumer = FakeRoleAssumer(clock)
    vendor = FakeDataAccessVendor(clock, assumer, grants=GRANTS)
    broker = fake_broker(store, clock, FakeIdentityExchanger(), assumer, vendor=vendor)
    caller = await broker.authenticate(make_token("alice", "batch"))
    keys = [f"team/report-{n}.csv" for n in range(50)]
    keys += ["shared/a.csv", "shared/b.csv", "pub/x1", "pub/y1", "pub/x2"]

    results = await broker.presign(caller, [PresignItem("bkt", k, "GET", 900) for k in keys])

    outcome = {k: type(r).__name__ for k, r in zip(keys, results, strict=True)}
    assert [k for k, kind in outcome.items() if kind != PresignResult.__name__] == ["shared/b.csv", "pub/y1"]
    assert all(isinstance(outcome_error, AccessDeniedError) for outcome_error in (results[51], results[53]))
    # One GetDataAccess per grant (team, shared/a.csv, pub/x*) and one per key no grant covers.
    assert sorted(call.target.uri for call in vendor.calls) == [
        "s3://bkt/pub/x1",
        "s3://bkt/pub/y1",
        "s3://bkt/shared/a.csv",
        "s3://bkt/shared/b.csv",
        "s3://bkt/team/report-0.csv",
    ]
