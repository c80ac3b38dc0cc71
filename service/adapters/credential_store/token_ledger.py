"""The jti layer of the cache: which ID tokens were claimed, exchanged, doubted or spent, shared by replicas.

The states and their transitions: docs/architecture.md#the-jti-ledger.
"""

from __future__ import annotations

import logging
from datetime import datetime

from service.adapters.credential_store.keys import MAX_TTL_SECONDS, CacheKeys, Sealer
from service.adapters.credential_store.records import decode_exchange, encode_exchange
from service.domain.cache_errors import CacheUnavailableError
from service.domain.errors import CacheOutageError, TokenStateLostError
from service.domain.identity import Caller, IdentityCenterToken, TokenState
from service.domain.ports import Cache

logger = logging.getLogger("service.cache")

# Values of the exchanged-jti layer besides a sealed exchange (see TokenState): "claimed:<unix time>".
_CLAIMED = b"claimed:"
SPENT = b"spent"
# The value of the jti-doubt layer: an exchange of this token ended without a known outcome.
_DOUBTED = b"uncertain"
# A claim older than this lost its holder: one CreateTokenWithIAM (never retried, 2 s connect + 5 s read)
# and the cache writes around it finish well within it.
_CLAIM_OUTCOME_SECONDS = 30
# The largest BROKER_OIDC_LEEWAY_SECONDS settings accept.
_JTI_GRACE_SECONDS = 600
# How often a replica renews the TTL of the ledger's beginning (kept for MAX_TTL_SECONDS).
_BORN_KEEP_SECONDS = 3600
# Tokens this replica claimed (and did not release), remembered in process: never sent twice from here.
_LOCAL_CLAIMS = 100_000


class TokenLedger:
    """Records each ID token's exchange state under ``jti`` and ``jti-doubt`` keys of the shared cache."""

    def __init__(self, cache: Cache, sealer: Sealer, keys: CacheKeys) -> None:
        self._cache = cache
        self._sealer = sealer
        self._key = keys
        # Tokens this replica claimed and did not release (an insertion-ordered set).
        self._local_claims: dict[tuple[str, str], None] = {}
        self._born_kept_at: datetime | None = None  # when this replica last renewed the ledger's beginning

    def _jti_ttl(self, expires_at: int, now: datetime) -> int:
        # Kept past exp by the largest clock-skew leeway the verifier may apply, so a token it still
        # accepts is never forgotten here.
        return min(max(1, expires_at - int(now.timestamp()) + _JTI_GRACE_SECONDS), MAX_TTL_SECONDS)

    async def claim_token(self, caller: Caller, now: datetime) -> bool:
        key = self._key("jti", caller.issuer, caller.token_id)
        claimed_here = (caller.issuer, caller.token_id) in self._local_claims
        claim = _CLAIMED + str(int(now.timestamp())).encode()
        try:
            born = await self._born(now)
            if caller.issued_at < born:
                # docs/architecture.md#the-jti-ledger: the ledger was lost after this token was issued.
                logger.warning("cache.jti_predates_ledger")
                raise TokenStateLostError(
                    "the broker lost its record of this ID token (its cache restarted empty), so it may "
                    "already have been exchanged; get a fresh ID token from the identity provider and retry"
                )
            stored = await self._cache.add(key, claim, self._jti_ttl(caller.expires_at, now))
        except CacheUnavailableError:
            # docs/architecture.md#the-jti-ledger: while the ledger cannot be read, no token is sent.
            logger.warning("cache.jti_unknown")
            raise CacheOutageError(
                "the shared cache is unavailable and this ID token may already have been exchanged; "
                "retry shortly"
            ) from None
        if stored and claimed_here:
            # The cache lost this replica's claim (a restart): the token was sent before, and a resend
            # would be refused as a replay.
            logger.warning("cache.jti_lost")
            await self._cache.set(key, SPENT, self._jti_ttl(caller.expires_at, now))
            return False
        if stored:
            self._claim_locally(caller.issuer, caller.token_id)
        return stored

    async def open(self, now: datetime) -> None:
        """Record that the ledger's records begin now, unless the cache already says when they began."""
        try:
            await self._born(now)
        except CacheUnavailableError:
            logger.warning("cache.ledger_unknown")  # the first claim records it

    async def _born(self, now: datetime) -> int:
        """Return the second from which the ledger holds every claim, recording it if the cache has none.

        Raises:
            CacheUnavailableError: the cache could not answer.
        """
        key = self._key("ledger-born")
        (value,) = await self._cache.get_many_checked([key])
        if value is None:
            beginning = int(now.timestamp())
            if await self._cache.add(key, str(beginning).encode(), MAX_TTL_SECONDS):
                logger.warning("cache.ledger_born")
                self._born_kept_at = now  # written just now, for its whole lifetime
                return beginning
            (value,) = await self._cache.get_many_checked([key])  # another replica recorded it first
        if value is not None and (
            self._born_kept_at is None or (now - self._born_kept_at).total_seconds() > _BORN_KEEP_SECONDS
        ):
            # Kept alive while in use: a lapsed beginning, recorded afresh, would refuse every live token.
            # Only over the value just read: never bring an old beginning back into a restarted cache.
            await self._cache.replace(key, value, value, MAX_TTL_SECONDS)
            self._born_kept_at = now
        return int(value or 0)

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
        await self._cache.set(self._key("jti", issuer, token_id), SPENT, self._jti_ttl(expires_at, now))

    async def token_state(self, caller: Caller, now: datetime) -> TokenState | IdentityCenterToken:
        key = self._key("jti", caller.issuer, caller.token_id)
        value = await self._cache.get(key)
        if value is None:
            return TokenState.UNCLAIMED
        if value.startswith(_CLAIMED):
            claimed_at = int(value[len(_CLAIMED) :] or 0)
            fresh = now.timestamp() - claimed_at < _CLAIM_OUTCOME_SECONDS
            return TokenState.IN_FLIGHT if fresh else TokenState.SPENT
        plain = None if value == SPENT else self._sealer.open(key, value)
        if plain is None:
            return TokenState.SPENT
        subject, exchanged_at, token = decode_exchange(plain)
        # Only the user it was issued for may resume it, and only while its identity context lives.
        if subject != caller.subject or now.timestamp() >= exchanged_at + token.expires_in:
            return TokenState.SPENT
        return token

    async def spend_token_for(self, issuer: str, token_id: str, seconds: int) -> None:
        """Mark a token spent for ``seconds`` whatever its state (an operator revoked it)."""
        await self._cache.set(self._key("jti", issuer, token_id), SPENT, seconds)
