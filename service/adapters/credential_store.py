"""The broker's cache layers on top of a byte cache: HMAC'd versioned keys, AES-GCM sealed values."""

from __future__ import annotations

import json
import logging
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from service.domain.access import DataAccess, Grantee, Permission, Privilege
from service.domain.access_book import AccessBook, AccessEntry, Denial
from service.domain.cache_errors import CacheUnavailableError
from service.domain.credentials import TemporaryCredentials
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession, TokenState
from service.domain.ports import Cache

logger = logging.getLogger("service.cache")

NAMESPACE = "tipb:v1"
# Values of the exchanged-jti layer besides a sealed exchange (see TokenState): "claimed:<unix time>".
_CLAIMED = b"claimed:"
_SPENT = b"spent"
# A claim older than this lost its holder: one CreateTokenWithIAM (never retried, 2 s connect + 5 s read)
# and the cache writes around it finish well within it.
_CLAIM_OUTCOME_SECONDS = 30
# The largest BROKER_OIDC_LEEWAY_SECONDS settings accept.
_JTI_GRACE_SECONDS = 600
# Claims remembered in process during a cache outage.
_LOCAL_CLAIMS = 100_000
# Decoded access books kept in process (one per active user is plenty).
_DECODED_BOOKS = 4096
# Longest a replica keeps others waiting for one upstream call chain (botocore retries included).
_LOCK_SECONDS = 15.0


class Sealer(Protocol):
    """Encrypts values bound to their cache key."""

    def seal(self, cache_key: str, plaintext: bytes) -> bytes: ...

    def open(self, cache_key: str, blob: bytes) -> bytes | None: ...


class Hasher(Protocol):
    """Turns identities into opaque, keyed digests for cache keys."""

    def digest(self, *parts: str) -> str: ...


def _credentials_to_json(c: TemporaryCredentials) -> dict[str, str]:
    return {
        "ak": c.access_key_id,
        "sk": c.secret_access_key,
        "st": c.session_token,
        "exp": c.expiration.isoformat(),
    }


def _credentials_from_json(d: dict[str, str]) -> TemporaryCredentials:
    return TemporaryCredentials(d["ak"], d["sk"], d["st"], datetime.fromisoformat(d["exp"]))


def encode_book(book: AccessBook) -> bytes:
    """Serialize an access book to JSON bytes."""
    return json.dumps(
        {
            "u": book.idc_user_id,
            "e": [
                {
                    "c": _credentials_to_json(e.access.credentials),
                    "m": e.access.matched_grant_target,
                    "gt": e.access.grantee.type,
                    "gi": e.access.grantee.identifier,
                    "p": e.access.permission.value,
                    "v": e.privilege.value,
                }
                for e in book.entries
            ],
            "d": [{"p": d.permission.value, "t": d.target, "u": d.until.isoformat()} for d in book.denials],
        },
        separators=(",", ":"),
    ).encode()


def decode_book(raw: bytes) -> AccessBook:
    """Parse what ``encode_book`` wrote."""
    data: dict[str, Any] = json.loads(raw)
    entries = tuple(
        AccessEntry(
            DataAccess(
                credentials=_credentials_from_json(e["c"]),
                matched_grant_target=e["m"],
                grantee=Grantee(e["gt"], e["gi"]),
                permission=Permission(e["p"]),
            ),
            Privilege(e["v"]),
        )
        for e in data["e"]
    )
    denials = tuple(Denial(Permission(d["p"]), d["t"], datetime.fromisoformat(d["u"])) for d in data["d"])
    return AccessBook(data.get("u"), entries, denials)


def encode_exchange(subject: str, exchanged_at: int, token: IdentityCenterToken) -> bytes:
    """Serialize what CreateTokenWithIAM answered for ``subject`` at ``exchanged_at`` to JSON bytes."""
    return json.dumps(
        {
            "sub": subject,
            "at": exchanged_at,
            "uid": token.idc_user_id,
            "isa": token.identity_store_arn,
            "ctx": token.identity_context,
            "rt": token.refresh_token,
            "exp": token.expires_in,
        },
        separators=(",", ":"),
    ).encode()


def decode_exchange(raw: bytes) -> tuple[str, int, IdentityCenterToken]:
    """Parse what ``encode_exchange`` wrote."""
    d: dict[str, Any] = json.loads(raw)
    return d["sub"], d["at"], IdentityCenterToken(d["uid"], d["isa"], d["ctx"], d["rt"], d["exp"])


def encode_session(session: IdentitySession) -> bytes:
    """Serialize an identity session to JSON bytes."""
    return json.dumps(
        {
            "iss": session.issuer,
            "sub": session.subject,
            "usr": session.username,
            "uid": session.idc_user_id,
            "isa": session.identity_store_arn,
            "rt": session.refresh_token,
            "c": _credentials_to_json(session.credentials),
        },
        separators=(",", ":"),
    ).encode()


def decode_session(raw: bytes) -> IdentitySession:
    """Parse what ``encode_session`` wrote."""
    d: dict[str, Any] = json.loads(raw)
    return IdentitySession(
        issuer=d["iss"],
        subject=d["sub"],
        username=d["usr"],
        idc_user_id=d["uid"],
        identity_store_arn=d["isa"],
        refresh_token=d["rt"],
        credentials=_credentials_from_json(d["c"]),
    )


class EncryptedCredentialStore:
    """Implements the CredentialStore port: layers 2, 3, 4 and 5 of DESIGN.md §5 over one Cache."""

    def __init__(self, cache: Cache, sealer: Sealer, hasher: Hasher) -> None:
        self._cache = cache
        self._sealer = sealer
        self._hasher = hasher
        # The last decoded access book per cache key with the sealed value it came from: a sealed value
        # never changes once written (every write has a fresh nonce), so while the cache returns the same
        # bytes the warm path skips AES-GCM and JSON, and is never stale.
        self._books: dict[str, tuple[bytes, AccessBook]] = {}
        # Tokens claimed while the cache was unreachable (an insertion-ordered set).
        self._local_claims: dict[tuple[str, str], None] = {}

    def _key(self, layer: str, *parts: str) -> str:
        return f"{NAMESPACE}:{layer}:{self._hasher.digest(layer, *parts)}"

    async def _load(self, key: str) -> bytes | None:
        blob = await self._cache.get(key)
        return None if blob is None else self._open(key, blob)

    def _open(self, key: str, blob: bytes) -> bytes | None:
        plain = self._sealer.open(key, blob)
        if plain is None:
            logger.warning("cache.unreadable", extra={"cache_key": key})
        return plain

    async def _save(self, key: str, plain: bytes, expires_at: datetime | None, now: datetime) -> None:
        if expires_at is None:
            return
        ttl = int((expires_at - now).total_seconds())
        if ttl > 0:
            await self._cache.set(key, self._sealer.seal(key, plain), ttl)

    async def load_access(self, issuer: str, subject: str) -> AccessBook | None:
        key = self._key("access", issuer, subject)
        blob = await self._cache.get(key)
        if blob is None:
            return None
        decoded = self._books.pop(key, None)
        if decoded is not None and decoded[0] == blob:
            book = decoded[1]
        else:
            plain = self._open(key, blob)
            if plain is None:
                return None
            book = decode_book(plain)
            if len(self._books) >= _DECODED_BOOKS:
                del self._books[next(iter(self._books))]  # the least recently used
        self._books[key] = (blob, book)
        return book

    async def save_access(self, issuer: str, subject: str, book: AccessBook, now: datetime) -> None:
        await self._save(self._key("access", issuer, subject), encode_book(book), book.expires_at(), now)

    async def load_session(self, issuer: str, subject: str) -> IdentitySession | None:
        raw = await self._load(self._key("session", issuer, subject))
        return decode_session(raw) if raw is not None else None

    async def save_session(self, session: IdentitySession, now: datetime) -> None:
        key = self._key("session", session.issuer, session.subject)
        await self._save(key, encode_session(session), session.credentials.expiration, now)

    def _jti_ttl(self, expires_at: int, now: datetime) -> int:
        # Kept past exp by the largest clock-skew leeway the verifier may apply, so a token it still
        # accepts is never forgotten here.
        return max(1, expires_at - int(now.timestamp()) + _JTI_GRACE_SECONDS)

    async def claim_token(self, issuer: str, token_id: str, expires_at: int, now: datetime) -> bool:
        claim = _CLAIMED + str(int(now.timestamp())).encode()
        try:
            return await self._cache.add(
                self._key("jti", issuer, token_id), claim, self._jti_ttl(expires_at, now)
            )
        except CacheUnavailableError:
            # The shared record is unreachable: this replica at least never sends a jti twice, and
            # Identity Center itself refuses a replay from another one.
            logger.warning("cache.jti_unrecorded")
            return self._claim_locally(issuer, token_id)

    def _claim_locally(self, issuer: str, token_id: str) -> bool:
        claim = (issuer, token_id)
        if claim in self._local_claims:
            return False
        if len(self._local_claims) >= _LOCAL_CLAIMS:
            del self._local_claims[next(iter(self._local_claims))]
        self._local_claims[claim] = None
        return True

    async def release_token(self, issuer: str, token_id: str) -> None:
        await self._cache.delete([self._key("jti", issuer, token_id)])

    async def record_exchange(self, caller: Caller, token: IdentityCenterToken, now: datetime) -> None:
        key = self._key("jti", caller.issuer, caller.token_id)
        plain = encode_exchange(caller.subject, int(now.timestamp()), token)
        await self._cache.set(key, self._sealer.seal(key, plain), self._jti_ttl(caller.expires_at, now))

    async def spend_token(self, issuer: str, token_id: str, expires_at: int, now: datetime) -> None:
        await self._cache.set(self._key("jti", issuer, token_id), _SPENT, self._jti_ttl(expires_at, now))

    async def token_state(self, caller: Caller, now: datetime) -> TokenState | IdentityCenterToken:
        key = self._key("jti", caller.issuer, caller.token_id)
        value = await self._cache.get(key)
        if value is None:
            return TokenState.UNCLAIMED
        if value.startswith(_CLAIMED):
            claimed_at = int(value[len(_CLAIMED) :] or 0)
            fresh = now.timestamp() - claimed_at < _CLAIM_OUTCOME_SECONDS
            return TokenState.IN_FLIGHT if fresh else TokenState.SPENT
        plain = None if value == _SPENT else self._sealer.open(key, value)
        if plain is None:
            return TokenState.SPENT
        subject, exchanged_at, token = decode_exchange(plain)
        # Only the user it was issued for may resume it, and only while its identity context lives.
        if subject != caller.subject or now.timestamp() >= exchanged_at + token.expires_in:
            return TokenState.SPENT
        return token

    def exclusive(self, issuer: str, subject: str, work: str) -> AbstractAsyncContextManager[bool]:
        return self._cache.lock(self._key("lock", issuer, subject, work), _LOCK_SECONDS)

    async def forget_user(self, issuer: str, subject: str) -> None:
        self._books.pop(self._key("access", issuer, subject), None)
        await self._cache.delete(
            [self._key("access", issuer, subject), self._key("session", issuer, subject)]
        )

    async def ping(self) -> bool:
        return await self._cache.ping()
