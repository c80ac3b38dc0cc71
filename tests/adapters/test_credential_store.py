"""EncryptedCredentialStore over the in-process cache: round trips, token states, sealing and key binding."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.credential_store import (
    EncryptedCredentialStore,
    decode_exchange,
    decode_session,
    encode_exchange,
    encode_session,
)
from service.adapters.memory_cache import MemoryCache
from service.adapters.redis_cache import RedisCache
from service.domain.access import DataAccess, Grantee, Permission, Privilege
from service.domain.access_book import AccessBook
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import CacheOutageError, TokenStateLostError
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession, TokenState

NOW = datetime.now(UTC)
ISSUED = int(NOW.timestamp())  # tokens issued as the ledger begins
CREDENTIALS = TemporaryCredentials("ASIAX", "secret-x", "token-x", NOW + timedelta(hours=1))


class CountingSealer(CacheSealer):
    opened = 0

    def open(self, cache_key: str, blob: bytes) -> bytes | None:
        self.opened += 1
        return super().open(cache_key, blob)


@pytest.fixture
def cache() -> MemoryCache:
    return MemoryCache()


@pytest.fixture
def sealer() -> CountingSealer:
    return CountingSealer(os.urandom(32))


@pytest.fixture
def store(cache: MemoryCache, sealer: CountingSealer) -> EncryptedCredentialStore:
    return EncryptedCredentialStore(cache, sealer, KeyHasher(os.urandom(32)))


def _book() -> AccessBook:
    access = DataAccess(CREDENTIALS, "s3://b/p/*", Grantee("DIRECTORY_USER", "u1"), Permission.READ)
    return AccessBook(idc_user_id="u1").with_entry(access, Privilege.DEFAULT, NOW)


async def test_credential_store_round_trips_access_book(store: EncryptedCredentialStore) -> None:
    await store.save_access("iss", "alice", _book(), NOW)
    assert await store.load_access("iss", "alice") == _book()
    assert await store.load_access("iss", "bob") is None


async def test_credential_store_round_trips_session(store: EncryptedCredentialStore) -> None:
    session = IdentitySession("iss", "alice", "alice", "u1", "arn:store", "refresh", CREDENTIALS)
    await store.save_session(session, NOW)
    assert await store.load_session("iss", "alice") == session


async def test_credential_store_keeps_granted_scopes_and_reads_entries_written_without_them() -> None:
    scopes = frozenset({"openid", "s3:access_grants:read_only"})
    session = IdentitySession("iss", "a", None, "u1", None, None, CREDENTIALS, scopes=scopes)
    token = IdentityCenterToken("u1", None, "ctx", None, 3600, scopes)
    old_session = json.loads(encode_session(session))
    del old_session["sc"]
    old_exchange = json.loads(encode_exchange("a", 1, token))
    del old_exchange["sc"]

    assert decode_session(encode_session(session)).scopes == scopes
    assert decode_exchange(encode_exchange("a", 1, token))[2].scopes == scopes
    assert decode_session(json.dumps(old_session).encode()).scopes == frozenset()
    assert decode_exchange(json.dumps(old_exchange).encode())[2].scopes == frozenset()


async def test_credential_store_keeps_no_plaintext_secret_in_the_cache(
    store: EncryptedCredentialStore, cache: MemoryCache
) -> None:
    await store.save_access("iss", "alice", _book(), NOW)
    stored = b"".join(value for _, value in cache._entries.values())
    assert b"secret-x" not in stored
    assert b"alice" not in b"".join(key.encode() for key in cache._entries)


async def test_credential_store_decodes_a_book_once_while_it_is_unchanged(
    store: EncryptedCredentialStore, sealer: CountingSealer
) -> None:
    await store.save_access("iss", "alice", _book(), NOW)
    for _ in range(5):
        await store.load_access("iss", "alice")
    assert sealer.opened == 1
    await store.save_access("iss", "alice", _book(), NOW)
    await store.load_access("iss", "alice")
    assert sealer.opened == 2


async def test_credential_store_refuses_a_value_copied_under_another_users_key(
    store: EncryptedCredentialStore, cache: MemoryCache
) -> None:
    await store.save_access("iss", "alice", _book(), NOW)
    await store.save_access("iss", "bob", _book(), NOW)
    await store.load_access("iss", "alice")  # decoded and remembered under alice's key
    alice_key, bob_key = list(cache._entries)[:2]
    cache._entries[bob_key] = cache._entries[alice_key]
    assert await store.load_access("iss", "bob") is None


async def test_credential_store_token_states(store: EncryptedCredentialStore) -> None:
    caller = Caller("iss", "alice", "alice", "j", int((NOW + timedelta(hours=1)).timestamp()), "raw", ISSUED)
    assert await store.token_state(caller, NOW) is TokenState.UNCLAIMED
    assert await store.claim_token(caller, NOW)
    assert not await store.claim_token(caller, NOW)
    assert await store.token_state(caller, NOW) is TokenState.IN_FLIGHT
    token = IdentityCenterToken("u1", "arn:store", "ctx", "refresh", 3600)
    await store.record_exchange(caller, token, NOW)
    assert await store.token_state(caller, NOW) == token
    await store.spend_token("iss", "j", caller.expires_at, NOW)
    assert await store.token_state(caller, NOW) is TokenState.SPENT
    await store.release_token("iss", "j")
    assert await store.token_state(caller, NOW) is TokenState.UNCLAIMED


async def test_credential_store_claim_whose_holder_died_counts_as_spent(
    store: EncryptedCredentialStore,
) -> None:
    caller = Caller("iss", "alice", "alice", "j", int((NOW + timedelta(hours=1)).timestamp()), "raw", ISSUED)
    await store.claim_token(caller, NOW)
    assert await store.token_state(caller, NOW + timedelta(seconds=29)) is TokenState.IN_FLIGHT
    assert await store.token_state(caller, NOW + timedelta(seconds=31)) is TokenState.SPENT


async def test_credential_store_recorded_exchange_serves_only_its_user_while_it_lives(
    store: EncryptedCredentialStore,
) -> None:
    alice = Caller("iss", "alice", "alice", "j", int((NOW + timedelta(hours=24)).timestamp()), "raw", ISSUED)
    mallory = Caller("iss", "mallory", "mallory", "j", alice.expires_at, "raw", ISSUED)
    token = IdentityCenterToken("u1", None, "ctx", None, 3600)
    await store.claim_token(alice, NOW)
    await store.record_exchange(alice, token, NOW)
    assert await store.token_state(mallory, NOW) is TokenState.SPENT
    assert await store.token_state(alice, NOW + timedelta(seconds=3599)) == token
    assert await store.token_state(alice, NOW + timedelta(seconds=3600)) is TokenState.SPENT


async def test_credential_store_forget_user_drops_the_decoded_book(
    store: EncryptedCredentialStore, sealer: CountingSealer
) -> None:
    await store.save_access("iss", "alice", _book(), NOW)
    await store.load_access("iss", "alice")
    await store.forget_user("iss", "alice")
    assert await store.load_access("iss", "alice") is None


async def test_credential_store_claims_no_token_while_the_cache_is_down() -> None:
    # docs/architecture.md#the-jti-ledger: while the ledger cannot be read, no token is sent, not even one
    # this replica never saw (another replica may have exchanged it).
    down = RedisCache.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2)
    store = EncryptedCredentialStore(down, CacheSealer(os.urandom(32)), KeyHasher(os.urandom(32)))
    caller = Caller("iss", "alice", "alice", "j", 2_000_000_000, "raw", ISSUED)
    try:
        await store.open_ledger(NOW)  # logged, not raised: the first claim records the beginning
        with pytest.raises(CacheOutageError):
            await store.claim_token(caller, NOW)
    finally:
        await down.close()


async def test_credential_store_refuses_tokens_issued_before_the_ledger_began(
    store: EncryptedCredentialStore,
) -> None:
    await store.open_ledger(NOW)
    later = NOW + timedelta(hours=1)
    await store.open_ledger(later)  # the beginning the cache holds is kept
    before = Caller("iss", "alice", "alice", "old", 2_000_000_000, "raw", ISSUED - 1)
    with pytest.raises(TokenStateLostError) as lost:
        await store.claim_token(before, later)
    assert (lost.value.status, lost.value.code) == (401, "token_state_lost")
    assert await store.claim_token(
        Caller("iss", "alice", "alice", "new", 2_000_000_000, "raw", ISSUED), later
    )


async def test_credential_store_ledger_beginning_is_recorded_by_the_first_claim_and_kept_alive() -> None:
    elapsed = [0.0]
    cache = MemoryCache(clock=lambda: elapsed[0])  # the cache's own clock runs its TTLs
    store = EncryptedCredentialStore(cache, CacheSealer(os.urandom(32)), KeyHasher(os.urandom(32)))
    caller = Caller("iss", "alice", "alice", "j", 2_000_000_000, "raw", ISSUED)
    assert await store.claim_token(caller, NOW)  # no beginning recorded yet: it is now
    # Used every day for a week: the beginning is the same one, never lapsed and recorded afresh (which
    # would refuse every live token issued before it).
    for day in range(1, 8):
        elapsed[0] = day * 86400.0
        await store.open_ledger(NOW + timedelta(days=day))
    before = Caller("iss", "alice", "alice", "k", 2_000_000_000, "raw", ISSUED - 1)
    with pytest.raises(TokenStateLostError):
        await store.claim_token(before, NOW + timedelta(days=7))
    later = Caller("iss", "alice", "alice", "m", 2_000_000_000, "raw", ISSUED + 86400)
    assert await store.claim_token(later, NOW + timedelta(days=7))


async def test_credential_store_doubted_token_is_released_with_a_doubt_mark(
    store: EncryptedCredentialStore,
) -> None:
    caller = Caller("iss", "alice", "alice", "j", int((NOW + timedelta(hours=1)).timestamp()), "raw", ISSUED)
    assert await store.claim_token(caller, NOW)
    assert not await store.token_doubted("iss", "j")
    await store.doubt_token("iss", "j", caller.expires_at, NOW)
    assert await store.token_state(caller, NOW) is TokenState.UNCLAIMED
    assert await store.token_doubted("iss", "j")
    assert await store.claim_token(caller, NOW)  # the retry claims it


class RacingCache(MemoryCache):
    """A cache where another replica writes once, between this one's read and its first replace."""

    racer: Callable[[], Awaitable[object]] | None = None

    async def replace(self, key: str, expected: bytes | None, value: bytes, ttl_seconds: int) -> bool:
        racer, self.racer = self.racer, None
        if racer is not None:
            await racer()
        return await super().replace(key, expected, value, ttl_seconds)


async def test_credential_store_update_access_keeps_a_record_changed_meanwhile() -> None:
    cache, key = RacingCache(), os.urandom(32)
    first, second = (EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key)) for _ in range(2))

    def add(scope: str) -> Callable[[AccessBook | None], AccessBook]:
        access = DataAccess(CREDENTIALS, scope, Grantee("DIRECTORY_USER", "u1"), Permission.READ)
        return lambda book: (book or AccessBook(idc_user_id="u1")).with_entry(access, Privilege.DEFAULT, NOW)

    cache.racer = lambda: second.update_access("iss", "alice", add("s3://b/plans/*"), NOW)
    await first.update_access("iss", "alice", add("s3://b/team/*"), NOW)
    book = await second.load_access("iss", "alice")
    assert book is not None
    assert {entry.access.matched_grant_target for entry in book.entries} == {
        "s3://b/team/*",
        "s3://b/plans/*",
    }


async def test_credential_store_never_brings_an_old_ledger_beginning_back_into_a_restarted_cache() -> None:
    cache, key = RacingCache(), os.urandom(32)
    store = EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key))
    await store.open_ledger(NOW - timedelta(hours=1))
    later = NOW + timedelta(hours=2)  # the replica renews the beginning's TTL on its next read
    cache.racer = lambda: cache.delete(list(cache._entries))  # the cache restarts empty just before
    await store.open_ledger(later)
    before_restart = Caller("iss", "alice", "alice", "j", 2_000_000_000, "raw", ISSUED)
    with pytest.raises(TokenStateLostError):  # the cache's new beginning, not the replica's old one
        await store.claim_token(before_restart, later)
