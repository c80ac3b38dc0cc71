"""A presign batch resolves data access once per folder, and never signs a key outside its own grant."""

from __future__ import annotations

import os

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.memory_cache import MemoryCache
from service.broker import Broker
from service.broker.presigning import PresignItem, PresignResult
from service.domain.access import Permission
from service.domain.errors import AccessDeniedError, InvalidRequestError
from service.domain.identity import Caller
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


async def _alice_batch() -> tuple[Broker, Caller, FakeDataAccessVendor]:
    clock = FakeClock()
    key = os.urandom(32)
    store = EncryptedCredentialStore(MemoryCache(), CacheSealer(key), KeyHasher(key))
    await store.open_ledger(LEDGER_BEGAN)
    assumer = FakeRoleAssumer(clock)
    vendor = FakeDataAccessVendor(clock, assumer, grants=GRANTS)
    broker = fake_broker(store, clock, FakeIdentityExchanger(), assumer, vendor=vendor)
    return broker, await broker.authenticate(make_token("alice", "batch")), vendor


async def test_batch_asks_once_per_folder_and_signs_each_key_under_its_own_grant() -> None:
    broker, caller, vendor = await _alice_batch()
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


@pytest.mark.parametrize(
    "invalid", ["team/..", "team/.", "team/a\x00b", "team/" + "k" * 1020, "team/\ud800", "team/a\nb"]
)
async def test_batch_refuses_an_invalid_key_in_a_folder_its_grant_holds(invalid: str) -> None:
    # Once team/ is resolved, its keys skip the per-key target, and a batch of plain keys skips the per-key
    # check: one invalid key among plain ones must still be refused on its own.
    broker, caller, _ = await _alice_batch()
    keys = ["team/first.csv", "team/second.csv", invalid, "team/last.csv"]

    results = await broker.presign(caller, [PresignItem("bkt", k, "GET", 900) for k in keys])

    assert [type(r).__name__ for r in results] == (
        [PresignResult.__name__] * 2 + [InvalidRequestError.__name__, PresignResult.__name__]
    )
