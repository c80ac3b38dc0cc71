"""OIDC ID-token verification: the `TokenVerifier` adapter (python-jose), one verifier per issuer.

Part of the OIDC adapter (``service.adapters.oidc``): the token's structure (``token_format``), its keys
(``jwks``) and the rules it must satisfy (``policy``) each have their own module.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from jose import jws
from jose.exceptions import JOSEError

from service.adapters.oidc.jwks import JwksKeySet, VerifierStats
from service.adapters.oidc.policy import (
    OidcPolicy,
    RejectedError,
    check_audience,
    check_expiry,
    check_issued_at,
    check_issuer,
    check_mapping_claim,
    check_not_before,
    check_token_use,
    reject,
    required_string,
    username_claim,
)
from service.adapters.oidc.token_format import parse_claims, parse_header
from service.domain.errors import InvalidTokenError
from service.domain.identity import Caller
from service.metrics import Metrics

logger = logging.getLogger("service.oidc")

VERIFIED_CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _CachedCaller:
    caller: Caller
    exp: float
    kid: str


def token_digest(token: str) -> str:
    """Return the SHA-256 of a token: the key a verified token is remembered by."""
    return hashlib.sha256(token.encode()).hexdigest()


def verify_jws_signature(token: str, key: Any, algorithm: str) -> bytes:
    """Return the payload of ``token`` when ``key`` signed it with ``algorithm``; raise JOSEError if not."""
    payload: bytes = jws.verify(token, key, algorithms=[algorithm])
    return payload


class JwksTokenVerifier:
    """Verifies ID tokens of one issuer; caches its JWKS and the callers of tokens already verified."""

    def __init__(
        self,
        policy: OidcPolicy,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        *,
        cache_max_entries: int = VERIFIED_CACHE_MAX_ENTRIES,
        metrics: Metrics | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._cache_max_entries = cache_max_entries
        self._verified: OrderedDict[str, _CachedCaller] = OrderedDict()
        self.stats = VerifierStats()
        metrics = metrics or Metrics()
        self._verified_lookups = metrics.cache("process", "token")
        self._key_set = JwksKeySet(
            policy, http, clock, stats=self.stats, metrics=metrics, on_withdrawn=self._forget_signed_by
        )

    @property
    def policy(self) -> OidcPolicy:
        """Return the policy this verifier enforces."""
        return self._policy

    @property
    def keys_loaded(self) -> bool:
        """Return whether a key set was ever loaded (readiness)."""
        return self._key_set.keys_loaded

    @property
    def keys_stale(self) -> bool:
        """Return whether the last refresh failed while older keys still serve (readiness: 'stale')."""
        return self._key_set.keys_stale

    async def load(self) -> None:
        """Fetch the key set now (start-up prefetch); a failure is logged, not raised."""
        await self._key_set.load()

    async def aclose(self) -> None:
        """Cancel a background key refresh still in flight."""
        await self._key_set.aclose()

    async def verify(self, token: str, *, digest: str | None = None) -> Caller:
        """Return the caller of a valid ID token; ``digest`` is its ``token_digest`` when already computed.

        Raises:
            InvalidTokenError: the token is missing, malformed, badly signed, expired or not for us.
            UpstreamUnavailableError: no key set could ever be loaded from the issuer.
        """
        try:
            return await self._verify(token, digest)
        except RejectedError as rejection:
            logger.info(
                "token.rejected",
                extra={"reason": rejection.reason, "detail": rejection.detail, "issuer": self._policy.issuer},
            )
            raise InvalidTokenError(rejection.detail) from None

    async def _verify(self, token: str, digest: str | None) -> Caller:
        policy = self._policy
        if not isinstance(token, str) or not token:
            reject("token_missing", "bearer token is missing")
        if len(token) > policy.max_token_bytes:
            reject("token_too_large", f"token is larger than {policy.max_token_bytes} bytes")

        token_hash = digest or token_digest(token)
        cached = self._cached_caller(token_hash)
        if cached is not None:
            self._verified_lookups.hit.inc()
            return cached
        self._verified_lookups.miss.inc()

        header = parse_header(token, policy.algorithms)
        key = await self._key_set.key_for(header)
        try:
            payload = verify_jws_signature(token, key, header.alg)
        except JOSEError:
            reject("bad_signature", "token signature is invalid")
        finally:
            self.stats.signature_verifications += 1
        claims = parse_claims(payload)

        now = self._clock()
        leeway = policy.leeway_seconds
        check_issuer(claims, policy.issuer)
        check_audience(claims, policy.audiences)
        check_token_use(claims, policy.token_use)
        exp = check_expiry(claims, now, leeway, policy.max_lifetime_seconds)
        check_not_before(claims, now, leeway)
        iat = check_issued_at(claims, now, leeway, exp, policy.max_lifetime_seconds)
        subject = required_string(claims, "sub")
        token_id = required_string(claims, "jti")
        check_mapping_claim(claims, policy)

        caller = Caller(
            issuer=policy.issuer,
            subject=subject,
            username=username_claim(claims),
            token_id=token_id,
            expires_at=int(exp),
            token=token,
            issued_at=int(iat),
            application_arn=policy.application_arn,
        )
        self._remember(token_hash, _CachedCaller(caller=caller, exp=exp, kid=header.kid))
        return caller

    # -- verified-token cache -------------------------------------------------------------------------

    def _cached_caller(self, token_hash: str) -> Caller | None:
        entry = self._verified.get(token_hash)
        if entry is None:
            return None
        if self._clock() >= entry.exp + self._policy.leeway_seconds:
            del self._verified[token_hash]
            reject("token_expired", "token has expired")
        self._verified.move_to_end(token_hash)
        self.stats.cache_hits += 1
        return entry.caller

    def _remember(self, token_hash: str, entry: _CachedCaller) -> None:
        self._verified[token_hash] = entry
        self._verified.move_to_end(token_hash)
        while len(self._verified) > self._cache_max_entries:
            self._verified.popitem(last=False)

    # -- key set --------------------------------------------------------------------------------------

    def _forget_signed_by(self, withdrawn: set[str]) -> None:
        self._verified = OrderedDict(
            (token_hash, entry) for token_hash, entry in self._verified.items() if entry.kid not in withdrawn
        )
