"""The broker's cache layers on top of a byte cache: HMAC'd versioned keys, AES-GCM sealed values.

The ``CredentialStore`` port's adapter; its key names (``keys``), records (``records``), jti ledger
(``token_ledger``) and outage mirror (``mirror``) each have their own module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from service.adapters.credential_store.decoded_books import DecodedBooks
from service.adapters.credential_store.identity_pins import IdentityPins
from service.adapters.credential_store.keys import MAX_TTL_SECONDS, CacheKeys, Hasher, Sealer
from service.adapters.credential_store.mirror import OutageMirror, latest
from service.adapters.credential_store.records import decode_session, encode_book, encode_session
from service.adapters.credential_store.token_ledger import TokenLedger
from service.domain.access_book import AccessBook
from service.domain.cache_errors import CacheUnavailableError
from service.domain.cache_sizes import CacheSizes
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession, TokenState
from service.domain.ports import Cache
from service.domain.rate_limit import UpstreamBudget
from service.domain.revocation import NO_REVOCATIONS, Revocations
from service.metrics import Metrics

logger = logging.getLogger("service.cache")

# Longest a replica keeps others waiting for one upstream call chain (botocore retries included).
_LOCK_SECONDS = 15.0
# Revocation marks outlive every token and entry they kill: tokens live at most a day (the verifier
# refuses longer ones) and cached credentials at most 12 hours.
_REVOCATION_SECONDS = MAX_TTL_SECONDS
# Reads and compare-and-sets of one access record before giving up on a record other replicas keep changing.
_UPDATE_ATTEMPTS = 8


DEFAULT_SIZES = CacheSizes()


def _ttl(expires_at: datetime | None, now: datetime) -> int:
    """Return the seconds a record expiring at ``expires_at`` is kept (at most two days; 0: not kept)."""
    return 0 if expires_at is None else min(int((expires_at - now).total_seconds()), MAX_TTL_SECONDS)


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
        sizes: CacheSizes = DEFAULT_SIZES,
    ) -> None:
        """``layer`` names ``cache`` in the lookup counters: ``redis`` (shared) or ``memory`` (in process)."""
        self._cache = cache
        self._sealer = sealer
        metrics = metrics or Metrics()
        self._session_lookups = metrics.cache(layer, "session")
        self._access_lookups = metrics.cache(layer, "access")
        self._mirrored_sessions = metrics.cache("mirror", "session")
        self._mirrored_access = metrics.cache("mirror", "access")
        self._books = DecodedBooks(self._open, sizes.decoded_books, metrics.cache("process", "access"))
        # docs/architecture.md#outages: the in-process mirror, by (issuer, subject), least recently used
        # first, and the revocation marks it applies when the cache cannot answer.
        self._mirror = OutageMirror(sizes.mirrored_users)
        # Budgets kept in process while the shared cache is unreachable, by budget name.
        self._local_budgets: dict[str, UpstreamBudget] = {}
        self._key = CacheKeys(hasher, sizes.derived_keys)
        self._ledger = TokenLedger(cache, sealer, self._key)
        self._pins = IdentityPins(cache, sealer, self._key)

    def _mark_keys(self, caller: Caller) -> list[str]:
        return [
            self._key("revoked", caller.issuer, caller.subject),
            self._key("revoked-all"),
            self._key("revoked-jti", caller.issuer, caller.token_id),
            self._key("grants-changed"),
        ]

    async def _load(self, key: str) -> bytes | None:
        blob = await self._cache.get(key)
        return None if blob is None else self._open(key, blob)

    def _open(self, key: str, blob: bytes) -> bytes | None:
        plain = self._sealer.open(key, blob)
        if plain is None:
            logger.warning("cache.unreadable", extra={"cache_key": key})
        return plain

    async def _save(self, key: str, plain: bytes, expires_at: datetime | None, now: datetime) -> None:
        ttl = _ttl(expires_at, now)
        if ttl > 0:
            await self._cache.set(key, self._sealer.seal(key, plain), ttl)

    async def load_access(self, issuer: str, subject: str) -> AccessBook | None:
        key = self._key("access", issuer, subject)
        try:
            (blob,) = await self._cache.get_many_checked([key])
        except CacheUnavailableError:
            return self._mirror.raw_book(issuer, subject)
        return self._books.decode(key, blob)

    async def load_access_checked(self, caller: Caller) -> tuple[AccessBook | None, Revocations]:
        key = self._key("access", caller.issuer, caller.subject)
        try:
            blob, *marks = await self._cache.get_many_checked([key, *self._mark_keys(caller)])
        except CacheUnavailableError:
            # docs/architecture.md#outages: what this replica last saw, under the marks it last saw.
            revocations = self._mirror.marks(caller)
            mirrored = self._mirror.book(caller, revocations)
            self._mirrored_access.record(mirrored is not None)
            return mirrored, revocations
        revocations = _revocations(marks)
        self._mirror.note_marks(caller, revocations)
        book = self._books.decode(key, blob)
        self._access_lookups.record(book is not None)
        if book is not None:
            self._mirror.keep_book(caller.issuer, caller.subject, book)
            if revocations is not NO_REVOCATIONS:
                book = book.revoked_by(revocations)
        return book, revocations

    async def save_access(self, issuer: str, subject: str, book: AccessBook, now: datetime) -> None:
        self._mirror.keep_book(issuer, subject, book)
        await self._save(self._key("access", issuer, subject), encode_book(book), book.expires_at(), now)

    async def update_access(
        self, issuer: str, subject: str, change: Callable[[AccessBook | None], AccessBook], now: datetime
    ) -> AccessBook:
        key = self._key("access", issuer, subject)
        for _ in range(_UPDATE_ATTEMPTS):
            try:
                (blob,) = await self._cache.get_many_checked([key])
            except CacheUnavailableError:
                break
            book = change(self._books.decode(key, blob))
            ttl = _ttl(book.expires_at(), now)
            try:
                # Only over the record just read: a replica that wrote meanwhile makes this one read again.
                sealed = self._sealer.seal(key, encode_book(book))
                if ttl <= 0 or await self._cache.replace(key, blob, sealed, ttl):
                    self._mirror.keep_book(issuer, subject, book)
                    self._books.remember(key, sealed, book)  # the next warm read skips the decode
                    return book
            except CacheUnavailableError:
                break
            logger.info("cache.access_changed_meanwhile")
        else:
            logger.warning("cache.access_contended")  # kept in the mirror; the next vend writes it again
        # docs/architecture.md#outages: the cache cannot answer, so the mirror holds the change.
        book = change(self._mirror.raw_book(issuer, subject))
        self._mirror.keep_book(issuer, subject, book)
        return book

    async def load_session(self, issuer: str, subject: str) -> IdentitySession | None:
        raw = await self._load(self._key("session", issuer, subject))
        return decode_session(raw) if raw is not None else None

    async def load_session_checked(self, caller: Caller) -> tuple[IdentitySession | None, Revocations]:
        key = self._key("session", caller.issuer, caller.subject)
        try:
            blob, *marks = await self._cache.get_many_checked([key, *self._mark_keys(caller)])
        except CacheUnavailableError:
            # docs/architecture.md#outages: served from the mirror, under the marks this replica last saw.
            revocations = self._mirror.marks(caller)
            mirrored = self._mirror.session(caller, revocations)
            self._mirrored_sessions.record(mirrored is not None)
            return mirrored, revocations
        revocations = _revocations(marks)
        self._mirror.note_marks(caller, revocations)
        plain = None if blob is None else self._open(key, blob)
        session = decode_session(plain) if plain is not None else None
        self._session_lookups.record(session is not None)
        if session is None:
            return await self._restored_session(caller, revocations), revocations
        self._mirror.keep_session(session)
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
        session = self._mirror.session(caller, latest(revocations, self._mirror.marks(caller)))
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
        self._mirror.keep_session(session)
        key = self._key("session", session.issuer, session.subject)
        await self._save(key, encode_session(session), session.credentials.expiration, now)

    async def open_ledger(self, now: datetime) -> None:
        await self._ledger.open(now)

    async def claim_token(self, caller: Caller, now: datetime) -> bool:
        return await self._ledger.claim_token(caller, now)

    async def release_token(self, issuer: str, token_id: str) -> None:
        await self._ledger.release_token(issuer, token_id)

    async def doubt_token(self, issuer: str, token_id: str, expires_at: int, now: datetime) -> None:
        await self._ledger.doubt_token(issuer, token_id, expires_at, now)

    async def token_doubted(self, issuer: str, token_id: str) -> bool:
        return await self._ledger.token_doubted(issuer, token_id)

    async def record_exchange(self, caller: Caller, token: IdentityCenterToken, now: datetime) -> None:
        await self._ledger.record_exchange(caller, token, now)

    async def spend_token(self, issuer: str, token_id: str, expires_at: int, now: datetime) -> None:
        await self._ledger.spend_token(issuer, token_id, expires_at, now)

    async def token_state(self, caller: Caller, now: datetime) -> TokenState | IdentityCenterToken:
        return await self._ledger.token_state(caller, now)

    def exclusive(self, issuer: str, subject: str, work: str) -> AbstractAsyncContextManager[bool]:
        return self._cache.lock(self._key("lock", issuer, subject, work), _LOCK_SECONDS)

    async def forget_user(self, issuer: str, subject: str) -> None:
        self._books.forget(self._key("access", issuer, subject))
        self._mirror.forget(issuer, subject)
        await self._cache.delete(
            [self._key("access", issuer, subject), self._key("session", issuer, subject)]
        )

    async def revoke_user(self, issuer: str, subject: str) -> None:
        mark = await self._cache.bump_stamp(self._key("revoked", issuer, subject), _REVOCATION_SECONDS)
        self._mirror.note_user_mark(issuer, subject, mark)
        await self.forget_user(issuer, subject)

    async def revoke_everyone(self) -> None:
        mark = await self._cache.bump_stamp(self._key("revoked-all"), _REVOCATION_SECONDS)
        self._mirror.seen_everyone = max(self._mirror.seen_everyone, mark)

    async def grants_changed(self) -> None:
        mark = await self._cache.bump_stamp(self._key("grants-changed"), _REVOCATION_SECONDS)
        self._mirror.seen_grants = max(self._mirror.seen_grants, mark)

    async def revoke_token(self, issuer: str, token_id: str) -> None:
        # bump_stamp, unlike set, raises when the cache cannot record it: a revocation never fails silently.
        await self._cache.bump_stamp(self._key("revoked-jti", issuer, token_id), _REVOCATION_SECONDS)
        self._mirror.note_revoked_token(issuer, token_id)
        # Never exchanged again either, on any replica.
        await self._ledger.spend_token_for(issuer, token_id, _REVOCATION_SECONDS)

    async def pin_identity(self, issuer: str, subject: str, idc_user_id: str) -> str | None:
        return await self._pins.pin_identity(issuer, subject, idc_user_id)

    async def pinned_subject(self, idc_user_id: str) -> tuple[str, str] | None:
        return await self._pins.pinned_subject(idc_user_id)

    async def unpin(self, issuer: str, subject: str) -> None:
        await self._pins.unpin(issuer, subject)

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


def _revocations(marks: list[bytes | None]) -> Revocations:
    user, everyone, token, grants = marks
    if user is None and everyone is None and token is None and grants is None:
        return NO_REVOCATIONS
    return Revocations(int(user or 0), int(everyone or 0), token is not None, int(grants or 0))
