"""SigV4 for S3 presigning: signing keys, per-credential scopes and the signing clock (cached), PUT headers.

Used by ``s3_presigner``; every cache is bounded and held in memory only (entries hold secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from service.adapters.s3_urls import quote_query
from service.domain.credentials import TemporaryCredentials

ALGORITHM: Final = "AWS4-HMAC-SHA256"
SERVICE: Final = "s3"
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND: Final = timedelta(seconds=1)
# Bounded so a stream of distinct credentials cannot grow memory; entries hold secrets, memory only.
DEFAULT_CACHED_IDENTITIES: Final = 4096
# botocore SigV4QueryAuth strips this exact Content-Type (its own form default) before signing.
_UNSIGNED_CONTENT_TYPE: Final = "application/x-www-form-urlencoded; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Identity:
    """What one set of credentials signs with on one day: its scope strings and signing key."""

    credential: str  # "<akid>/<date>/<region>/s3/aws4_request"
    credential_query: str  # the same, percent-encoded
    token_query: str
    signing_key: bytes
    signer: hmac.HMAC  # keyed with signing_key; copying it skips re-keying per signature


class SigV4KeyRing:
    """Derives and caches one region's SigV4 signing keys and identities; formats the signing time."""

    def __init__(self, region: str, cached: int = DEFAULT_CACHED_IDENTITIES) -> None:
        self._region = region
        self._cached = cached  # signing keys and identities kept, each
        self._scope_suffix = f"/{region}/{SERVICE}/aws4_request"
        self._clock: tuple[int, str, str] = (-1 << 62, "", "")
        self.signing_keys: dict[tuple[str, str, str, str], bytes] = {}
        self._identities: dict[tuple[str, str, str, str], Identity] = {}
        self._lock = threading.Lock()

    def signature(self, identity: Identity, amz_date: str, datestamp: str, canonical_request: str) -> str:
        """Return the SigV4 signature of ``canonical_request`` under ``identity``'s signing key."""
        string_to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{datestamp}{self._scope_suffix}\n"
            f"{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        )
        signer = identity.signer.copy()
        signer.update(string_to_sign.encode())
        return signer.hexdigest()

    def signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        """Return the SigV4 signing key for ``secret`` on ``date`` (yyyymmdd), derived once and cached."""
        cache_key = (secret, date, region, service)
        signing_key = self.signing_keys.get(cache_key)
        if signing_key is not None:
            return signing_key
        k_date = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
        k_region = hmac.new(k_date, region.encode(), hashlib.sha256).digest()
        k_service = hmac.new(k_region, service.encode(), hashlib.sha256).digest()
        signing_key = hmac.new(k_service, b"aws4_request", hashlib.sha256).digest()
        with self._lock:
            signing_key = self.signing_keys.setdefault(cache_key, signing_key)
            if len(self.signing_keys) > self._cached:
                del self.signing_keys[next(iter(self.signing_keys))]
        return signing_key

    def identity(self, credentials: TemporaryCredentials, datestamp: str) -> Identity:
        """Return the per-credentials, per-day scope strings and signing key, cached."""
        cache_key = (
            credentials.access_key_id,
            credentials.secret_access_key,
            credentials.session_token,
            datestamp,
        )
        identity = self._identities.get(cache_key)
        if identity is not None:
            return identity
        credential = f"{credentials.access_key_id}/{datestamp}{self._scope_suffix}"
        signing_key = self.signing_key(credentials.secret_access_key, datestamp, self._region, SERVICE)
        identity = Identity(
            credential=credential,
            credential_query=quote_query(credential),
            token_query=quote_query(credentials.session_token),
            signing_key=signing_key,
            signer=hmac.new(signing_key, digestmod=hashlib.sha256),
        )
        with self._lock:
            self._identities[cache_key] = identity
            if len(self._identities) > self._cached:
                del self._identities[next(iter(self._identities))]
        return identity

    def timestamp(self, now: datetime) -> tuple[str, str]:
        """Return (X-Amz-Date, yyyymmdd) for ``now``, formatting at most once per second."""
        second = clock_second(now)
        clock = self._clock
        if clock[0] != second:
            amz_date = (EPOCH + timedelta(seconds=second)).strftime("%Y%m%dT%H%M%SZ")
            clock = (second, amz_date, amz_date[:8])
            self._clock = clock
        return clock[1], clock[2]


def clock_second(now: datetime) -> int:
    """Return whole seconds since the epoch, exactly (no float rounding)."""
    try:
        return (now - EPOCH) // _SECOND
    except TypeError:
        raise ValueError("now must be timezone-aware") from None


def put_headers(
    host: str, content_type: str | None, content_disposition: str | None, headers: dict[str, str]
) -> tuple[str, str]:
    """Fill ``headers`` for a PUT and return (SignedHeaders, canonical headers)."""
    signed = ["host"]
    canonical = [f"host:{host}"]
    if content_type is not None:
        headers["Content-Type"] = content_type
        if content_type != _UNSIGNED_CONTENT_TYPE:
            signed.insert(0, "content-type")
            canonical.insert(0, f"content-type:{' '.join(content_type.split())}")
    if content_disposition is not None:
        headers["Content-Disposition"] = content_disposition
        signed.insert(0, "content-disposition")
        canonical.insert(0, f"content-disposition:{' '.join(content_disposition.split())}")
    return ";".join(signed), "\n".join(canonical)
