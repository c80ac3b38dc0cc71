"""OIDC ID-token verification against the issuer's JWKS: the `TokenVerifier` adapter (httpx + python-jose)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
from jose import jwk, jws
from jose.exceptions import JOSEError

from service.domain.errors import InvalidTokenError, UpstreamUnavailableError
from service.domain.identity import Caller
from service.metrics import Metrics

logger = logging.getLogger("service.oidc")

# Only asymmetric algorithms python-jose can verify. HMAC and "none" can never be allowed: a verifier that
# holds public keys must not accept a MAC keyed with one (the RS256 -> HS256 key-confusion attack).
# python-jose 3.x has no PS256/PS384/PS512, so they cannot be offered here.
_KEY_SHAPE_BY_ALGORITHM: Mapping[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
SUPPORTED_ALGORITHMS = frozenset(_KEY_SHAPE_BY_ALGORITHM)

VERIFIED_CACHE_MAX_ENTRIES = 10_000
_JWKS_FETCH_TIMEOUT_SECONDS = 5.0
# Retry-After while the issuer's key set cannot be fetched: the next request past it refetches at once.
_JWKS_OUTAGE_RETRY_AFTER_SECONDS = 5
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_USERNAME_CLAIMS = ("cognito:username", "username", "preferred_username", "email")


@dataclass(frozen=True, slots=True)
class OidcPolicy:
    """What a token must satisfy to be accepted: one issuer, its audiences, its keys, one leeway."""

    issuer: str
    audiences: frozenset[str]
    jwks_url: str
    token_use: str | None
    leeway_seconds: int = 60
    algorithms: frozenset[str] = frozenset({"RS256"})
    max_token_bytes: int = 16384
    refetch_cooldown_seconds: float = 30
    jwks_max_age_seconds: float = 3600
    # Longest a token may live (exp - iat, and exp ahead of now); also bounds every TTL derived from exp.
    max_lifetime_seconds: int = 86400
    # The claim Identity Center maps to a directory user (its trusted token issuer's ClaimAttributePath).
    mapping_claim: str | None = None
    # With mapping_claim "email": an unverified address must not map anyone to another person's user.
    require_email_verified: bool = True
    # The Identity Center application this issuer's tokens are exchanged through; None: the broker's default.
    application_arn: str | None = None

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ValueError("OIDC issuer must not be empty")
        if not self.audiences or not all(self.audiences):
            raise ValueError("OIDC audiences must be non-empty strings")
        if not self.jwks_url:
            raise ValueError("OIDC JWKS URL must not be empty")
        if not self.algorithms or not self.algorithms <= SUPPORTED_ALGORITHMS:
            allowed = ", ".join(sorted(SUPPORTED_ALGORITHMS))
            raise ValueError(f"OIDC algorithms must be a non-empty subset of: {allowed}")
        if self.leeway_seconds < 0 or self.max_token_bytes <= 0 or self.max_lifetime_seconds <= 0:
            raise ValueError("OIDC leeway must be >= 0, the token size limit and lifetime > 0")


@dataclass(slots=True)
class VerifierStats:
    """Counters of one verifier, for metrics and tests."""

    signature_verifications: int = 0
    cache_hits: int = 0
    jwks_fetches: int = 0
    jwks_refresh_failures: int = 0


class _RejectedError(Exception):
    """Internal: a rejection with a short machine reason (logged) and a client-safe detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _reject(reason: str, detail: str) -> NoReturn:
    raise _RejectedError(reason, detail)


@dataclass(frozen=True, slots=True)
class _Header:
    alg: str
    kid: str


@dataclass(frozen=True, slots=True)
class _CachedCaller:
    caller: Caller
    exp: float
    kid: str


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
        self._http = http
        self._clock = clock
        self._cache_max_entries = cache_max_entries
        self._jwks: dict[str, Mapping[str, Any]] = {}
        self._keys: dict[tuple[str, str], Any] = {}
        self._keys_fetched_at: float | None = None
        self._last_fetch_started_at: float | None = None
        self._last_fetch_failed = False
        self._refresh_task: asyncio.Task[bool] | None = None
        self._verified: OrderedDict[str, _CachedCaller] = OrderedDict()
        self.stats = VerifierStats()
        self._metrics = metrics or Metrics()
        self._verified_lookups = self._metrics.cache("process", "token")
        self._key_lookups = self._metrics.cache("process", "jwks")

    @property
    def policy(self) -> OidcPolicy:
        """Return the policy this verifier enforces."""
        return self._policy

    @property
    def keys_loaded(self) -> bool:
        """Return whether a key set was ever loaded (readiness)."""
        return self._keys_fetched_at is not None

    @property
    def keys_stale(self) -> bool:
        """Return whether the last refresh failed while older keys still serve (readiness: 'stale')."""
        return self.keys_loaded and self._last_fetch_failed

    async def load(self) -> None:
        """Fetch the key set now (start-up prefetch); a failure is logged, not raised."""
        await self._refresh()

    async def aclose(self) -> None:
        """Cancel a background key refresh still in flight."""
        task = self._refresh_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def verify(self, token: str) -> Caller:
        """Return the caller of a valid ID token.

        Raises:
            InvalidTokenError: the token is missing, malformed, badly signed, expired or not for us.
            UpstreamUnavailableError: no key set could ever be loaded from the issuer.
        """
        try:
            return await self._verify(token)
        except _RejectedError as rejection:
            logger.info(
                "token.rejected",
                extra={"reason": rejection.reason, "detail": rejection.detail, "issuer": self._policy.issuer},
            )
            raise InvalidTokenError(rejection.detail) from None

    async def _verify(self, token: str) -> Caller:
        policy = self._policy
        if not isinstance(token, str) or not token:
            _reject("token_missing", "bearer token is missing")
        if len(token) > policy.max_token_bytes:
            _reject("token_too_large", f"token is larger than {policy.max_token_bytes} bytes")

        token_hash = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cached_caller(token_hash)
        if cached is not None:
            self._verified_lookups.hit.inc()
            return cached
        self._verified_lookups.miss.inc()

        header = _parse_header(token, policy.algorithms)
        key = await self._key_for(header)
        try:
            payload = verify_jws_signature(token, key, header.alg)
        except JOSEError:
            _reject("bad_signature", "token signature is invalid")
        finally:
            self.stats.signature_verifications += 1
        claims = _parse_claims(payload)

        now = self._clock()
        leeway = policy.leeway_seconds
        _check_issuer(claims, policy.issuer)
        _check_audience(claims, policy.audiences)
        _check_token_use(claims, policy.token_use)
        exp = _check_expiry(claims, now, leeway, policy.max_lifetime_seconds)
        _check_not_before(claims, now, leeway)
        iat = _check_issued_at(claims, now, leeway, exp, policy.max_lifetime_seconds)
        subject = _required_string(claims, "sub")
        token_id = _required_string(claims, "jti")
        _check_mapping_claim(claims, policy)

        caller = Caller(
            issuer=policy.issuer,
            subject=subject,
            username=_username(claims),
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
            _reject("token_expired", "token has expired")
        self._verified.move_to_end(token_hash)
        self.stats.cache_hits += 1
        return entry.caller

    def _remember(self, token_hash: str, entry: _CachedCaller) -> None:
        self._verified[token_hash] = entry
        self._verified.move_to_end(token_hash)
        while len(self._verified) > self._cache_max_entries:
            self._verified.popitem(last=False)

    # -- key set --------------------------------------------------------------------------------------

    async def _key_for(self, header: _Header) -> Any:
        self._refresh_in_background_when_stale()
        jwk_dict = self._jwks.get(header.kid)
        self._key_lookups.record(jwk_dict is not None)
        if jwk_dict is None:
            await self._refetch_for_unknown_kid()
            jwk_dict = self._jwks.get(header.kid)
        if jwk_dict is None:
            # Unknown only counts against the token when the issuer's current key set was just read.
            if not self.keys_loaded or self._last_fetch_failed:
                raise UpstreamUnavailableError(
                    "the token issuer's key set could not be loaded",
                    retry_after_seconds=_JWKS_OUTAGE_RETRY_AFTER_SECONDS,
                )
            _reject("unknown_kid", "token is signed by an unknown key")
        return self._construct_key(header, jwk_dict)

    def _construct_key(self, header: _Header, jwk_dict: Mapping[str, Any]) -> Any:
        cached = self._keys.get((header.kid, header.alg))
        if cached is not None:
            return cached
        kty, crv = _KEY_SHAPE_BY_ALGORITHM[header.alg]
        declared_alg = jwk_dict.get("alg")
        if (
            jwk_dict.get("kty") != kty
            or (crv is not None and jwk_dict.get("crv") != crv)
            or (declared_alg is not None and declared_alg != header.alg)
        ):
            _reject("key_mismatch", "token algorithm does not match its signing key")
        try:
            key = jwk.construct(dict(jwk_dict), header.alg)
        except (JOSEError, ValueError, TypeError, KeyError):
            logger.warning("jwks.key_unusable", extra={"kid": header.kid, "issuer": self._policy.issuer})
            _reject("key_unusable", "token signing key cannot be used")
        self._keys[(header.kid, header.alg)] = key
        return key

    def _cooldown_elapsed(self) -> bool:
        started = self._last_fetch_started_at
        return started is None or self._clock() - started >= self._policy.refetch_cooldown_seconds

    def _refresh_in_flight(self) -> asyncio.Task[bool] | None:
        task = self._refresh_task
        return task if task is not None and not task.done() else None

    def _start_refresh(self) -> asyncio.Task[bool]:
        self._last_fetch_started_at = self._clock()
        task = asyncio.create_task(self._fetch_keys(), name="jwks.refresh")
        self._refresh_task = task
        return task

    def _refresh_in_background_when_stale(self) -> None:
        fetched_at = self._keys_fetched_at
        if (
            fetched_at is not None
            and self._clock() - fetched_at >= self._policy.jwks_max_age_seconds
            and self._refresh_in_flight() is None
            and self._cooldown_elapsed()
        ):
            # The current keys keep serving while the refresh runs, so callers never wait for it.
            self._start_refresh()

    async def _refetch_for_unknown_kid(self) -> None:
        # One fetch per cooldown, shared by every waiter: an attacker sending random kids must not turn
        # the broker into a request amplifier against the issuer.
        # After a failed fetch the next one is never held back (one at a time), so the broker recovers at
        # the first request once the issuer answers again.
        task = self._refresh_in_flight()
        if task is None:
            if not (self._last_fetch_failed or self._cooldown_elapsed()):
                return
            task = self._start_refresh()
        await asyncio.shield(task)

    async def _refresh(self) -> bool:
        task = self._refresh_in_flight() or self._start_refresh()
        return await asyncio.shield(task)

    async def _fetch_keys(self) -> bool:
        self.stats.jwks_fetches += 1
        url = self._policy.jwks_url
        started = time.perf_counter()
        try:
            response = await self._http.get(
                url, headers={"Accept": "application/json"}, timeout=_JWKS_FETCH_TIMEOUT_SECONDS
            )
            response.raise_for_status()
            jwks = _parse_jwks(response.json())
        # Any failure keeps the last good keys: an issuer outage must not sign every user out, and a
        # background refresh must never die with an unhandled exception.
        except Exception as exc:
            self._count_fetch(type(exc).__name__, started)
            self.stats.jwks_refresh_failures += 1
            self._last_fetch_failed = True
            logger.warning(
                "jwks.refresh_failed",
                extra={"jwks_url": url, "error": type(exc).__name__, "keys_kept": len(self._jwks)},
            )
            return False
        self._count_fetch("ok", started)
        removed = self._jwks.keys() - jwks.keys()
        self._jwks = jwks
        self._keys = {}
        self._keys_fetched_at = self._clock()
        self._last_fetch_failed = False
        if removed:
            # A key the issuer withdrew may have been compromised: stop honouring tokens it signed.
            self._verified = OrderedDict(
                (token_hash, entry)
                for token_hash, entry in self._verified.items()
                if entry.kid not in removed
            )
        logger.info("jwks.refreshed", extra={"jwks_url": url, "kids": sorted(jwks)})
        return True

    def _count_fetch(self, outcome: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self._metrics.observe_upstream("oidc", "GetJwks", outcome, seconds)
        refresh = "ok" if outcome == "ok" else "error"
        self._metrics.jwks_refreshes.labels(issuer=self._policy.issuer, outcome=refresh).inc()


class IssuerRouter:
    """Verifies tokens of several issuers: the unverified ``iss`` only picks the issuer's own verifier.

    Nothing is trusted from the unverified payload: the chosen verifier checks the signature with that
    issuer's keys and the issuer again. A token naming no configured issuer is refused before any key
    fetch, so it cannot make the broker call out.
    """

    def __init__(self, verifiers: Sequence[JwksTokenVerifier]) -> None:
        if not verifiers:
            raise ValueError("at least one OIDC issuer is required")
        self._verifiers = {v.policy.issuer: v for v in verifiers}
        if len(self._verifiers) != len(verifiers):
            raise ValueError("OIDC issuers must be distinct")
        self._max_token_bytes = max(v.policy.max_token_bytes for v in verifiers)

    @property
    def verifiers(self) -> list[JwksTokenVerifier]:
        """Return the per-issuer verifiers."""
        return list(self._verifiers.values())

    @property
    def keys_loaded(self) -> bool:
        """Return whether every issuer's key set was loaded (readiness)."""
        return all(v.keys_loaded for v in self._verifiers.values())

    @property
    def keys_stale(self) -> bool:
        """Return whether any issuer's last key refresh failed while its older keys serve."""
        return any(v.keys_stale for v in self._verifiers.values())

    async def load(self) -> None:
        """Fetch every issuer's key set now; failures are logged, not raised."""
        await asyncio.gather(*(v.load() for v in self._verifiers.values()))

    async def aclose(self) -> None:
        """Cancel background key refreshes."""
        for verifier in self._verifiers.values():
            await verifier.aclose()

    async def verify(self, token: str) -> Caller:
        """Return the caller of a valid ID token of one of the configured issuers.

        Raises:
            InvalidTokenError, UpstreamUnavailableError: as ``JwksTokenVerifier.verify``.
        """
        try:
            verifier = self._verifiers.get(self._unverified_issuer(token))
            if verifier is None:
                _reject("unknown_issuer", "token issuer is not trusted")
        except _RejectedError as rejection:
            logger.info("token.rejected", extra={"reason": rejection.reason, "detail": rejection.detail})
            raise InvalidTokenError(rejection.detail) from None
        return await verifier.verify(token)

    def _unverified_issuer(self, token: str) -> str:
        if not isinstance(token, str) or not token:
            _reject("token_missing", "bearer token is missing")
        if len(token) > self._max_token_bytes:
            _reject("token_too_large", f"token is larger than {self._max_token_bytes} bytes")
        if not _TOKEN_SHAPE.fullmatch(token):
            _reject("malformed", "token is not three base64url segments")
        try:
            issuer = json.loads(_b64url_decode(token.split(".")[1])).get("iss")
        except (ValueError, RecursionError, AttributeError):
            _reject("malformed_payload", "token payload is not a JSON object")
        if not isinstance(issuer, str):
            _reject("wrong_issuer", "token issuer is not trusted")
        return issuer


# -- token structure --------------------------------------------------------------------------------------


# A JOSE header holds alg, kid, typ and little else; anything bigger is not a token we issued.
_MAX_HEADER_CHARS = 2048


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _parse_header(token: str, algorithms: frozenset[str]) -> _Header:
    if not _TOKEN_SHAPE.fullmatch(token):
        _reject("malformed", "token is not three base64url segments")
    encoded_header = token.split(".", 1)[0]
    if len(encoded_header) > _MAX_HEADER_CHARS:
        _reject("malformed_header", "token header is too large")
    try:
        header = json.loads(_b64url_decode(encoded_header))
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays are valid JSON but exhaust the parser's stack.
        _reject("malformed_header", "token header is not valid JSON")
    if not isinstance(header, dict):
        _reject("malformed_header", "token header is not a JSON object")
    # The allow-list is checked before any key is touched, so "none" and HMAC never reach a key.
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        _reject("alg_not_allowed", "token algorithm is not allowed")
    if "crit" in header:
        # RFC 7515 §4.1.11: extensions we do not understand must make the token invalid.
        _reject("crit_unsupported", "token header has unsupported critical extensions")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        _reject("kid_missing", "token header has no key id (kid)")
    return _Header(alg=alg, kid=kid)


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"non-finite number {name}")


def _parse_claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        _reject("malformed_payload", "token payload is not a JSON object")
    if not isinstance(claims, dict):
        _reject("malformed_payload", "token payload is not a JSON object")
    return claims


def _parse_jwks(document: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("JWKS document has no 'keys' list")  # noqa: TRY004 - caught as a fetch failure
    jwks: dict[str, Mapping[str, Any]] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or kid in jwks:
            continue
        if entry.get("kty") not in {"RSA", "EC"} or entry.get("use", "sig") != "sig":
            continue
        jwks[kid] = entry
    if not jwks:
        raise ValueError("JWKS document has no usable signing keys")
    return jwks


# -- claims: one function per rule, all sharing the policy's single leeway ---------------------------------


# NumericDate claims outside 1970..9999 are nonsense (1e308, 1e400 -> inf, 5000-digit integers).
_MAX_NUMERIC_DATE = 253402300799


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        _reject(f"{name}_invalid", f"token claim '{name}' is not a number")
    if not 0 <= value <= _MAX_NUMERIC_DATE:  # also False for NaN
        _reject(f"{name}_invalid", f"token claim '{name}' is out of range")
    return float(value)


def _check_issuer(claims: Mapping[str, Any], issuer: str) -> None:
    if claims.get("iss") != issuer:
        _reject("wrong_issuer", "token issuer is not trusted")


def _check_audience(claims: Mapping[str, Any], audiences: frozenset[str]) -> None:
    aud = claims.get("aud")
    # RFC 7519 §4.1.3: a single string or an array of strings; one match is enough.
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        _reject("wrong_audience", "token audience is not accepted")
    if not audiences.intersection(values):
        _reject("wrong_audience", "token audience is not accepted")


def _check_token_use(claims: Mapping[str, Any], token_use: str | None) -> None:
    if token_use and claims.get("token_use") != token_use:
        _reject("wrong_token_use", f"token_use must be '{token_use}'")


def _check_expiry(claims: Mapping[str, Any], now: float, leeway: int, max_lifetime: int) -> float:
    exp = _number(claims, "exp")
    if exp is None:
        _reject("exp_missing", "token has no expiry (exp)")
    if now >= exp + leeway:
        _reject("token_expired", "token has expired")
    if exp > now + max_lifetime + leeway:
        _reject("exp_too_far", f"token expires more than {max_lifetime} seconds from now")
    return exp


def _check_not_before(claims: Mapping[str, Any], now: float, leeway: int) -> None:
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        _reject("token_not_yet_valid", "token is not valid yet (nbf)")


def _check_issued_at(
    claims: Mapping[str, Any], now: float, leeway: int, exp: float, max_lifetime: int
) -> float:
    iat = _number(claims, "iat")
    if iat is None:
        _reject("iat_missing", "token has no issue time (iat)")
    if iat > now + leeway:
        _reject("iat_in_future", "token is issued in the future (iat)")
    if exp - iat > max_lifetime:
        _reject("lifetime_too_long", f"token lives longer than {max_lifetime} seconds")
    return iat


def claim_at(claims: Mapping[str, Any], path: str) -> object:
    """Return the value at a dotted claim path (``email``, ``custom.employee_id``), or None."""
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _check_mapping_claim(claims: Mapping[str, Any], policy: OidcPolicy) -> None:
    path = policy.mapping_claim
    if not path:
        return
    value = claim_at(claims, path)
    if not isinstance(value, str) or not value:
        _reject("mapping_claim_missing", f"token has no '{path}' claim to identify the user with")
    if path == "email" and policy.require_email_verified:
        verified = claims.get("email_verified")
        # Cognito sends a boolean; some issuers send the string "true".
        if verified is not True and verified != "true":
            _reject("email_unverified", "token's email address is not verified")


def _required_string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        _reject(f"{name}_missing", f"token claim '{name}' is missing")
    return value


def _username(claims: Mapping[str, Any]) -> str | None:
    for name in _USERNAME_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None
