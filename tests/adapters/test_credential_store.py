"""EncryptedCredentialStore over the in-process cache: round trips, token states, sealing and key binding."""

from __future__ import annotations

import json
import os
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
from service.domain.errors import CacheOutageError
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession, TokenState

NOW = datetime.now(UTC)
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
    caller = Caller("iss", "alice", "alice", "j", int((NOW + timedelta(hours=1)).timestamp()), "raw")
    assert await store.token_state(caller, NOW) is TokenState.UNCLAIMED
    assert await store.claim_token("iss", "j", caller.expires_at, NOW)
    assert not await store.claim_token("iss", "j", caller.expires_at, NOW)
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
    caller = Caller("iss", "alice", "alice", "j", int((NOW + timedelta(hours=1)).timestamp()), "raw")
    await store.claim_token("iss", "j", caller.expires_at, NOW)
    assert await store.token_state(caller, NOW + timedelta(seconds=29)) is TokenState.IN_FLIGHT
    assert await store.token_state(caller, NOW + timedelta(seconds=31)) is TokenState.SPENT


async def test_credential_store_recorded_exchange_serves_only_its_user_while_it_lives(
    store: EncryptedCredentialStore,
) -> None:
    alice = Caller("iss", "alice", "alice", "j", int((NOW + timedelta(hours=24)).timestamp()), "raw")
    mallory = Caller("iss", "mallory", "mallory", "j", alice.expires_at, "raw")
    token = IdentityCenterToken("u1", None, "ctx", None, 3600)
    await store.claim_token("iss", "j", alice.expires_at, NOW)
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


async def test_credential_store_claims_only_brand_new_sign_ins_when_the_cache_is_down() -> None:
    # docs/architecture.md#the-jti-ledger: a token this replica claimed is never claimed again, and a
    # user it holds a session of is not exchanged for while the ledger cannot be read.
    down = RedisCache.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2)
    store = EncryptedCredentialStore(down, CacheSealer(os.urandom(32)), KeyHasher(os.urandom(32)))
    try:
        assert await store.claim_token("iss", "j", 2_000_000_000, NOW, "alice")
        with pytest.raises(CacheOutageError):
            await store.claim_token("iss", "j", 2_000_000_000, NOW, "alice")
        assert await store.claim_token("iss", "other", 2_000_000_000, NOW, "bob")
        await store.save_session(IdentitySession("iss", "bob", "bob", "u2", None, None, CREDENTIALS), NOW)
        with pytest.raises(CacheOutageError):
            await store.claim_token("iss", "third", 2_000_000_000, NOW, "bob")
    finally:
        await down.close()


async def test_credential_store_doubted_token_is_released_with_a_doubt_mark(
    store: EncryptedCredentialStore,
) -> None:
    caller = Caller("iss", "alice", "alice", "j", int((NOW + timedelta(hours=1)).timestamp()), "raw")
    assert await store.claim_token("iss", "j", caller.expires_at, NOW)
    assert not await store.token_doubted("iss", "j")
    await store.doubt_token("iss", "j", caller.expires_at, NOW)
    assert await store.token_state(caller, NOW) is TokenState.UNCLAIMED
    assert await store.token_doubted("iss", "j")
    assert await store.claim_token("iss", "j", caller.expires_at, NOW)  # the retry claims it
