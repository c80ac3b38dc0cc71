"""The issuer's key set (JWKS): fetched over HTTP, cached, refreshed in the background with a cooldown.

Part of the OIDC adapter (``service.adapters.oidc``): the last good keys keep serving through an issuer
outage, and an unknown ``kid`` triggers at most one fetch per cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from jose import jwk
from jose.exceptions import JOSEError

from service.adapters.oidc.policy import OidcPolicy, reject
from service.adapters.oidc.token_format import Header
from service.domain.errors import UpstreamUnavailableError
from service.domain.token_algorithms import KEY_SHAPE_BY_ALGORITHM
from service.metrics import Metrics

logger = logging.getLogger("service.oidc")

_JWKS_FETCH_TIMEOUT_SECONDS = 5.0
# Retry-After while the issuer's key set cannot be fetched: the next request past it refetches at once.
_JWKS_OUTAGE_RETRY_AFTER_SECONDS = 5


@dataclass(slots=True)
class VerifierStats:
    """Counters of one verifier, for metrics and tests."""

    signature_verifications: int = 0
    cache_hits: int = 0
    jwks_fetches: int = 0
    jwks_refresh_failures: int = 0


class JwksKeySet:
    """One issuer's signing keys, by ``kid``; tells ``on_withdrawn`` which kids a refresh removed."""

    def __init__(
        self,
        policy: OidcPolicy,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
        *,
        stats: VerifierStats,
        metrics: Metrics,
        on_withdrawn: Callable[[set[str]], None],
    ) -> None:
        self._policy = policy
        self._http = http
        self._clock = clock
        self.stats = stats
        self._metrics = metrics
        self._on_withdrawn = on_withdrawn
        self._jwks: dict[str, Mapping[str, Any]] = {}
        self._keys: dict[tuple[str, str], Any] = {}
        self._keys_fetched_at: float | None = None
        self._last_fetch_started_at: float | None = None
        self._last_fetch_failed = False
        self._refresh_task: asyncio.Task[bool] | None = None
        self._key_lookups = metrics.cache("process", "jwks")

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

    async def key_for(self, header: Header) -> Any:
        """Return the key that signed a token with ``header``, fetching the key set when the kid is new."""
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
            reject("unknown_kid", "token is signed by an unknown key")
        return self._construct_key(header, jwk_dict)

    def _construct_key(self, header: Header, jwk_dict: Mapping[str, Any]) -> Any:
        cached = self._keys.get((header.kid, header.alg))
        if cached is not None:
            return cached
        kty, crv = KEY_SHAPE_BY_ALGORITHM[header.alg]
        declared_alg = jwk_dict.get("alg")
        if (
            jwk_dict.get("kty") != kty
            or (crv is not None and jwk_dict.get("crv") != crv)
            or (declared_alg is not None and declared_alg != header.alg)
        ):
            reject("key_mismatch", "token algorithm does not match its signing key")
        try:
            key = jwk.construct(dict(jwk_dict), header.alg)
        except (JOSEError, ValueError, TypeError, KeyError):
            logger.warning("jwks.key_unusable", extra={"kid": header.kid, "issuer": self._policy.issuer})
            reject("key_unusable", "token signing key cannot be used")
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
            jwks = parse_jwks(response.json())
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
            self._on_withdrawn(set(removed))
        logger.info("jwks.refreshed", extra={"jwks_url": url, "kids": sorted(jwks)})
        return True

    def _count_fetch(self, outcome: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self._metrics.observe_upstream("oidc", "GetJwks", outcome, seconds)
        refresh = "ok" if outcome == "ok" else "error"
        self._metrics.jwks_refreshes.labels(issuer=self._policy.issuer, outcome=refresh).inc()


def parse_jwks(document: Any) -> dict[str, Mapping[str, Any]]:
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
