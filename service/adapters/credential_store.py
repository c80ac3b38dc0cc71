"""The broker's cache layers on top of a byte cache: HMAC'd versioned keys, AES-GCM sealed values."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from service.domain.access import DataAccess, Grantee, Permission, Privilege
from service.domain.access_book import AccessBook, AccessEntry, Denial
from service.domain.cache_errors import CacheUnavailableError
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import CacheOutageError
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession, TokenState
from service.domain.ports import Cache
from service.domain.rate_limit import UpstreamBudget
from service.domain.revocation import NO_REVOCATIONS, Revocations, Stamp
from service.metrics import Metrics

logger = logging.getLogger("service.cache")

NAMESPACE = "tipb:v1"
# Values of the exchanged-jti layer besides a sealed exchange (see TokenState): "claimed:<unix time>".
_CLAIMED = b"claimed:"
_SPENT = b"spent"
# The value of the jti-doubt layer: an exchange of this token ended without a known outcome.
_DOUBTED = b"uncertain"
# A claim older than this lost its holder: one CreateTokenWithIAM (never retried, 2 s connect + 5 s read)
# and the cache writes around it finish well within it.
_CLAIM_OUTCOME_SECONDS = 30
# The largest BROKER_OIDC_LEEWAY_SECONDS settings accept.
_JTI_GRACE_SECONDS = 600
# Tokens this replica claimed (and did not release), remembered in process: never sent twice from here.
_LOCAL_CLAIMS = 100_000
# Users whose session and access book this replica mirrors for a cache outage (docs/architecture.md#outages).
_MIRRORED_USERS = 10_000
# Revoked jtis this replica saw, applied by the mirror during an outage.
_MIRRORED_REVOKED_TOKENS = 100_000
# Decoded access books kept in process (one per active user is plenty).
_DECODED_BOOKS = 4096
# Longest a replica keeps others waiting for one upstream call chain (botocore retries included).
_LOCK_SECONDS = 15.0
# No cached value outlives this, whatever a credential or token claims (AWS sessions end within 12 h).
_MAX_TTL_SECONDS = 2 * 86400
# Revocation marks outlive every token and entry they kill: tokens live at most a day (the verifier
# refuses longer ones) and cached credentials at most 12 hours.
_REVOCATION_SECONDS = _MAX_TTL_SECONDS
# How long a subject stays pinned to its Identity Center user after its last exchange.
_PIN_SECONDS = 400 * 86400
# Layers keyed by (issuer, subject, ...): their keys share the user's hash tag, so a Redis Cluster keeps one
# user's session, access book, mark, budgets, locks and pin in one slot and one MGET reads them together.
_USER_LAYERS = frozenset({"session", "access", "revoked", "lock", "pin-sub"})
# Cache key names derived in process (an HMAC each): one per active user and layer is plenty.
_DERIVED_KEYS = 65536


@dataclass(slots=True)
class _Mirrored:
    """What this replica last wrote or read of one user: served only when the cache cannot answer."""

    session: IdentitySession | None = None
    book: AccessBook | None = None
    user_mark: int = 0  # the user's last sign-out or revocation mark this replica saw


def _latest(a: Revocations, b: Revocations) -> Revocations:
    if b is NO_REVOCATIONS:
        return a
    if a is NO_REVOCATIONS:
        return b
    return Revocations(
        max(a.user, b.user),
        max(a.everyone, b.everyone),
        a.token_revoked or b.token_revoked,
        max(a.grants, b.grants),
    )


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
                    "ia": e.access.instance_arn,
                    "p": e.access.permission.value,
                    "v": e.privilege.value,
                    "s": [e.stamp.user, e.stamp.everyone, e.stamp.grants],
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
                instance_arn=e.get("ia"),  # entries written before the instance was kept have none
            ),
            Privilege(e["v"]),
            Stamp(*e.get("s", (0, 0, 0))),  # entries written before the grants mark have two
        )
        for e in data["e"]
    )
    denials = tuple(Denial(Permission(d["p"]), d["t"], datetime.fromisoformat(d["u"])) for d in data["d"])
    return AccessBook(data.get("u"), entries, denials)


def _owner(issuer: str, subject: str) -> str:
    return f"{issuer}\n{subject}"


def _revocations(marks: list[bytes | None]) -> Revocations:
    user, everyone, token, grants = marks
    if user is None and everyone is None and token is None and grants is None:
        return NO_REVOCATIONS
    return Revocations(int(user or 0), int(everyone or 0), token is not None, int(grants or 0))


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
            "sc": sorted(token.scopes),
        },
        separators=(",", ":"),
    ).encode()


def decode_exchange(raw: bytes) -> tuple[str, int, IdentityCenterToken]:
    """Parse what ``encode_exchange`` wrote."""
    d: dict[str, Any] = json.loads(raw)
    token = IdentityCenterToken(d["uid"], d["isa"], d["ctx"], d["rt"], d["exp"], frozenset(d.get("sc", ())))
    return d["sub"], d["at"], token


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
            "s": [session.stamp.user, session.stamp.everyone],
            "sc": sorted(session.scopes),
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
        stamp=Stamp(*d.get("s", (0, 0))),
        # Entries written before scopes were kept have none: S3 Access Grants decides, as before.
        scopes=frozenset(d.get("sc", ())),
    )


class EncryptedCredentialStore:
    """Implements the CredentialStore port: layers 2–5 of docs/architecture.md#cache-layers over one Cache."""

    def __init__(
        self,
        cache: Cache,
        sealer: Sealer,
        hasher: Hasher,
        *,
        metrics: Metrics | None = None,
        layer: str = "memory",
    ) -> None:
        """``layer`` names ``cache`` in the lookup counters: ``redis`` (shared) or ``memory`` (in process)."""
        self._cache = cache
        self._sealer = sealer
        self._hasher = hasher
        metrics = metrics or Metrics()
        self._session_lookups = metrics.cache(layer, "session")
        self._access_lookups = metrics.cache(layer, "access")
        self._decoded_lookups = metrics.cache("process", "access")
        self._mirrored_sessions = metrics.cache("mirror", "session")
        self._mirrored_access = metrics.cache("mirror", "access")
        # The last decoded access book per cache key with the sealed value it came from: a sealed value
        # never changes once written (every write has a fresh nonce), so while the cache returns the same
        # bytes the warm path skips AES-GCM and JSON, and is never stale.
        self._books: dict[str, tuple[bytes, AccessBook]] = {}
        # Tokens this replica claimed and did not release (an insertion-ordered set).
        self._local_claims: dict[tuple[str, str], None] = {}
        # docs/architecture.md#outages: the in-process mirror, by (issuer, subject), least recently used
        # first, and the revocation marks it applies when the cache cannot answer.
        self._mirror: OrderedDict[tuple[str, str], _Mirrored] = OrderedDict()
        self._seen_everyone = 0
        self._seen_grants = 0
        self._seen_revoked_tokens: dict[tuple[str, str], None] = {}
        # Budgets kept in process while the shared cache is unreachable, by budget name.
        self._local_budgets: dict[str, UpstreamBudget] = {}
        self._key = functools.lru_cache(maxsize=_DERIVED_KEYS)(self._derive_key)

    def _derive_key(self, layer: str, *parts: str) -> str:
        digest = self._hasher.digest(layer, *parts)
        if layer in _USER_LAYERS or layer.startswith("budget-"):
            # parts start with (issuer, subject): one hash tag per user (docs/architecture.md#cache-keys).
            return f"{NAMESPACE}:{layer}:{{{self._hasher.digest('user', parts[0], parts[1])}}}:{digest}"
        return f"{NAMESPACE}:{layer}:{digest}"

    def _mark_keys(self, caller: Caller) -> list[str]:
        return [
            self._key("revoked", caller.issuer, caller.subject),
            self._key("revoked-all"),
            self._key("revoked-jti", caller.issuer, caller.token_id),
            self._key("grants-changed"),
        ]

    def _mirrored(self, issuer: str, subject: str, *, create: bool = False) -> _Mirrored | None:
        owner = (issuer, subject)
        entry = self._mirror.get(owner)
        if entry is not None:
            self._mirror.move_to_end(owner)
        elif create:
            entry = self._mirror[owner] = _Mirrored()
            if len(self._mirror) > _MIRRORED_USERS:
                self._mirror.popitem(last=False)
        return entry

    def _note_marks(self, caller: Caller, marks: Revocations) -> None:
        """Remember the marks the cache answered, for the mirror to apply while it cannot answer."""
        if marks is NO_REVOCATIONS:
            return
        self._seen_everyone = max(self._seen_everyone, marks.everyone)
        self._seen_grants = max(self._seen_grants, marks.grants)
        if marks.token_revoked:
            self._remember_revoked_token(caller.issuer, caller.token_id)
        if marks.user:
            entry = self._mirrored(caller.issuer, caller.subject, create=True)
            if entry is not None:
                entry.user_mark = max(entry.user_mark, marks.user)

    def _remember_revoked_token(self, issuer: str, token_id: str) -> None:
        self._seen_revoked_tokens[(issuer, token_id)] = None
        if len(self._seen_revoked_tokens) > _MIRRORED_REVOKED_TOKENS:
            del self._seen_revoked_tokens[next(iter(self._seen_revoked_tokens))]

    def _mirrored_marks(self, caller: Caller) -> Revocations:
        entry = self._mirror.get((caller.issuer, caller.subject))
        user = entry.user_mark if entry is not None else 0
        token = (caller.issuer, caller.token_id) in self._seen_revoked_tokens
        if not (user or self._seen_everyone or token or self._seen_grants):
            return NO_REVOCATIONS
        return Revocations(user, self._seen_everyone, token, self._seen_grants)

    def _mirror_session(self, session: IdentitySession) -> None:
        entry = self._mirrored(session.issuer, session.subject, create=True)
        if entry is not None:
            entry.session = session

    def _mirror_book(self, issuer: str, subject: str, book: AccessBook) -> None:
        entry = self._mirrored(issuer, subject, create=True)
        if entry is not None:
            entry.book = book

    def _mirrored_session(self, caller: Caller, marks: Revocations) -> IdentitySession | None:
        entry = self._mirrored(caller.issuer, caller.subject)
        session = None if entry is None else entry.session
        if session is None or session.stamp.outlived_by(marks):
            return None
        return session

    def _mirrored_book(self, caller: Caller, marks: Revocations) -> AccessBook | None:
        entry = self._mirrored(caller.issuer, caller.subject)
        book = None if entry is None else entry.book
        if book is not None and marks is not NO_REVOCATIONS:
            book = book.revoked_by(marks)
        return book

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
        ttl = min(int((expires_at - now).total_seconds()), _MAX_TTL_SECONDS)
        if ttl > 0:
            await self._cache.set(key, self._sealer.seal(key, plain), ttl)

    async def load_access(self, issuer: str, subject: str) -> AccessBook | None:
        key = self._key("access", issuer, subject)
        try:
            (blob,) = await self._cache.get_many_checked([key])
        except CacheUnavailableError:
            entry = self._mirrored(issuer, subject)
            return None if entry is None else entry.book
        return self._decode_book(key, blob)

    async def load_access_checked(self, caller: Caller) -> tuple[AccessBook | None, Revocations]:
        key = self._key("access", caller.issuer, caller.subject)
        try:
            blob, *marks = await self._cache.get_many_checked([key, *self._mark_keys(caller)])
        except CacheUnavailableError:
            # docs/architecture.md#outages: what this replica last saw, under the marks it last saw.
            revocations = self._mirrored_marks(caller)
            mirrored = self._mirrored_book(caller, revocations)
            self._mirrored_access.record(mirrored is not None)
            return mirrored, revocations
        revocations = _revocations(marks)
        self._note_marks(caller, revocations)
        book = self._decode_book(key, blob)
        self._access_lookups.record(book is not None)
        if book is not None:
            self._mirror_book(caller.issuer, caller.subject, book)
            if revocations is not NO_REVOCATIONS:
                book = book.revoked_by(revocations)
        return book, revocations

    def _decode_book(self, key: str, blob: bytes | None) -> AccessBook | None:
        if blob is None:
            return None
        decoded = self._books.pop(key, None)
        if decoded is not None and decoded[0] == blob:
            self._decoded_lookups.hit.inc()
            book = decoded[1]
        else:
            self._decoded_lookups.miss.inc()
            plain = self._open(key, blob)
            if plain is None:
                return None
            book = decode_book(plain)
            if len(self._books) >= _DECODED_BOOKS:
                del self._books[next(iter(self._books))]  # the least recently used
        self._books[key] = (blob, book)
        return book

    async def save_access(self, issuer: str, subject: str, book: AccessBook, now: datetime) -> None:
        self._mirror_book(issuer, subject, book)
        await self._save(self._key("access", issuer, subject), encode_book(book), book.expires_at(), now)

    async def load_session(self, issuer: str, subject: str) -> IdentitySession | None:
        raw = await self._load(self._key("session", issuer, subject))
        return decode_session(raw) if raw is not None else None

    async def load_session_checked(self, caller: Caller) -> tuple[IdentitySession | None, Revocations]:
        key = self._key("session", caller.issuer, caller.subject)
        try:
            blob, *marks = await self._cache.get_many_checked([key, *self._mark_keys(caller)])
        except CacheUnavailableError:
            # docs/architecture.md#outages: served from the mirror, under the marks this replica last saw.
            revocations = self._mirrored_marks(caller)
            mirrored = self._mirrored_session(caller, revocations)
            self._mirrored_sessions.record(mirrored is not None)
            return mirrored, revocations
        revocations = _revocations(marks)
        self._note_marks(caller, revocations)
        plain = None if blob is None else self._open(key, blob)
        session = decode_session(plain) if plain is not None else None
        self._session_lookups.record(session is not None)
        if session is None:
            return await self._restored_session(caller, revocations), revocations
        self._mirror_session(session)
        if session.stamp.outlived_by(revocations):
            session = None
        return session, revocations

    async def _restored_session(self, caller: Caller, revocations: Revocations) -> IdentitySession | None:
        """Return the live session this replica mirrors that the cache lost (a restart), written back.

        docs/architecture.md#outages: re-exchanging the caller's token would be refused as a replay. The
        marks this replica last saw still apply: an emptied cache has lost them too.
        """
        if not self._mirror:
            return None
        session = self._mirrored_session(caller, _latest(revocations, self._mirrored_marks(caller)))
        now = datetime.now(UTC)
        if session is None or session.credentials.expiration <= now:
            return None
        await self._save(
            self._key("session", caller.issuer, caller.subject),
            encode_session(session),
            session.credentials.expiration,
            now,
        )
        logger.info("cache.session_restored")
        return session

    async def save_session(self, session: IdentitySession, now: datetime) -> None:
        self._mirror_session(session)
        key = self._key("session", session.issuer, session.subject)
        await self._save(key, encode_session(session), session.credentials.expiration, now)

    def _jti_ttl(self, expires_at: int, now: datetime) -> int:
        # Kept past exp by the largest clock-skew leeway the verifier may apply, so a token it still
        # accepts is never forgotten here.
        return min(max(1, expires_at - int(now.timestamp()) + _JTI_GRACE_SECONDS), _MAX_TTL_SECONDS)

    async def claim_token(
        self, issuer: str, token_id: str, expires_at: int, now: datetime, subject: str | None = None
    ) -> bool:
        key = self._key("jti", issuer, token_id)
        claimed_here = (issuer, token_id) in self._local_claims
        claim = _CLAIMED + str(int(now.timestamp())).encode()
        try:
            stored = await self._cache.add(key, claim, self._jti_ttl(expires_at, now))
        except CacheUnavailableError:
            # docs/architecture.md#the-jti-ledger: during an outage only a brand-new sign-in is exchanged.
            if claimed_here or (subject is not None and self._has_mirrored_session(issuer, subject)):
                logger.warning("cache.jti_unknown")
                raise CacheOutageError(
                    "the shared cache is unavailable and this ID token may already have been exchanged; "
                    "retry shortly"
                ) from None
            logger.warning("cache.jti_unrecorded")
            self._claim_locally(issuer, token_id)
            return True
        if stored and claimed_here:
            # The cache lost this replica's claim (a restart): the token was sent before, and a resend
            # would be refused as a replay.
            logger.warning("cache.jti_lost")
            await self._cache.set(key, _SPENT, self._jti_ttl(expires_at, now))
            return False
        if stored:
            self._claim_locally(issuer, token_id)
        return stored

    def _has_mirrored_session(self, issuer: str, subject: str) -> bool:
        entry = self._mirror.get((issuer, subject))
        return entry is not None and entry.session is not None

    def _claim_locally(self, issuer: str, token_id: str) -> None:
        if len(self._local_claims) >= _LOCAL_CLAIMS:
            del self._local_claims[next(iter(self._local_claims))]
        self._local_claims[(issuer, token_id)] = None

    async def release_token(self, issuer: str, token_id: str) -> None:
        self._local_claims.pop((issuer, token_id), None)
        await self._cache.delete([self._key("jti", issuer, token_id)])

    async def doubt_token(self, issuer: str, token_id: str, expires_at: int, now: datetime) -> None:
        # The mark before the release: whoever claims the released token must find it when refused.
        ttl = self._jti_ttl(expires_at, now)
        await self._cache.set(self._key("jti-doubt", issuer, token_id), _DOUBTED, ttl)
        await self.release_token(issuer, token_id)

    async def token_doubted(self, issuer: str, token_id: str) -> bool:
        return await self._cache.get(self._key("jti-doubt", issuer, token_id)) is not None

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
        entry = self._mirror.get((issuer, subject))
        if entry is not None:
            entry.session = entry.book = None
        await self._cache.delete(
            [self._key("access", issuer, subject), self._key("session", issuer, subject)]
        )

    async def revoke_user(self, issuer: str, subject: str) -> None:
        mark = await self._cache.bump_stamp(self._key("revoked", issuer, subject), _REVOCATION_SECONDS)
        entry = self._mirrored(issuer, subject, create=True)
        if entry is not None:
            entry.user_mark = max(entry.user_mark, mark)
        await self.forget_user(issuer, subject)

    async def revoke_everyone(self) -> None:
        mark = await self._cache.bump_stamp(self._key("revoked-all"), _REVOCATION_SECONDS)
        self._seen_everyone = max(self._seen_everyone, mark)

    async def grants_changed(self) -> None:
        mark = await self._cache.bump_stamp(self._key("grants-changed"), _REVOCATION_SECONDS)
        self._seen_grants = max(self._seen_grants, mark)

    async def revoke_token(self, issuer: str, token_id: str) -> None:
        # bump_stamp, unlike set, raises when the cache cannot record it: a revocation never fails silently.
        await self._cache.bump_stamp(self._key("revoked-jti", issuer, token_id), _REVOCATION_SECONDS)
        self._remember_revoked_token(issuer, token_id)
        # Never exchanged again either, on any replica.
        await self._cache.set(self._key("jti", issuer, token_id), _SPENT, _REVOCATION_SECONDS)

    async def pin_identity(self, issuer: str, subject: str, idc_user_id: str) -> str | None:
        by_subject = self._key("pin-sub", issuer, subject)
        by_user = self._key("pin-user", idc_user_id)
        owner = _owner(issuer, subject)
        for _ in range(2):
            pinned_user, pinned_owner = await self._cache.get_many([by_subject, by_user])
            seen_user = self._open_text(by_subject, pinned_user)
            seen_owner = self._open_text(by_user, pinned_owner)
            if seen_user is not None and seen_user != idc_user_id:
                return "subject_remapped"
            if seen_owner is not None and seen_owner != owner:
                return "user_claimed_by_other_subject"
            if seen_user is not None and seen_owner is not None:
                break
            try:
                # SET NX on both: of two replicas pinning different answers at once, one loses and looks
                # again.
                stored = await self._cache.add(
                    by_subject, self._sealer.seal(by_subject, idc_user_id.encode()), _PIN_SECONDS
                )
                stored &= await self._cache.add(
                    by_user, self._sealer.seal(by_user, owner.encode()), _PIN_SECONDS
                )
            except CacheUnavailableError:
                logger.warning("identity.pin_unverified")
                return None
            if stored:
                return None
        return None

    async def pinned_subject(self, idc_user_id: str) -> tuple[str, str] | None:
        key = self._key("pin-user", idc_user_id)
        owner = self._open_text(key, await self._cache.get(key))
        if owner is None:
            return None
        issuer, _, subject = owner.partition("\n")
        return issuer, subject

    async def unpin(self, issuer: str, subject: str) -> None:
        by_subject = self._key("pin-sub", issuer, subject)
        idc_user_id = self._open_text(by_subject, await self._cache.get(by_subject))
        keys = [by_subject] if idc_user_id is None else [by_subject, self._key("pin-user", idc_user_id)]
        await self._cache.delete(keys)

    def _open_text(self, key: str, blob: bytes | None) -> str | None:
        plain = None if blob is None else self._open(key, blob)
        return None if plain is None else plain.decode()

    async def spend_budget(self, name: str, issuer: str, subject: str, per_minute: int, cost: int) -> float:
        key = self._key(f"budget-{name}", issuer, subject)
        try:
            return await self._cache.spend(key, per_minute, per_minute / 60.0, cost)
        except CacheUnavailableError:
            # Unshared while the cache is down: each replica still bounds what one user can cause.
            budget = self._local_budgets.setdefault(name, UpstreamBudget(per_minute))
            return budget.try_spend((issuer, subject), time.monotonic(), cost) or 0.0

    async def ping(self) -> bool:
        return await self._cache.ping()
