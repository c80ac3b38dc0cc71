"""Identity Center's keys: the emulator's own idToken signing key, and the trusted issuers' JWKS fetched
over HTTP with a short cache."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from emulator.state import TrustedTokenIssuer, new_id
from emulator.wire import AwsError

JWKS_TTL = 300.0
_FETCH_TIMEOUT = 5.0


def invalid_grant(message: str) -> AwsError:
    """Return sso-oidc's `InvalidGrantException` (400)."""
    return AwsError("InvalidGrantException", message, 400)


class SigningKey:
    """The emulator's own RS256 key for IdC idTokens, loaded once: parsing a PEM per token costs
    tens of milliseconds (RSA key validation), signing with the loaded key about one."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = new_id()
        self.pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self._signer = jwk.construct(key, "RS256")

    def sign(self, claims: dict[str, Any]) -> str:
        """Return a signed JWT."""
        return str(jwt.encode(claims, self._signer, algorithm="RS256", headers={"kid": self.kid}))


class JwksFetcher:
    """Fetch an issuer's discovery document and JWKS over HTTP, with a short cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def keys_for(self, issuer: TrustedTokenIssuer, kid: str | None, discovery_at: str) -> dict[str, Any]:
        """Return the issuer's JWKS (found through `discovery_at`), refetched when stale or `kid` is new."""
        with self._lock:
            cached = self._cache.get(issuer.arn)
        if cached and time.monotonic() - cached[0] < JWKS_TTL and _has_kid(cached[1], kid):
            return cached[1]
        jwks_url = issuer.jwks_url
        if jwks_url is None:
            discovery = _get_json(discovery_at)
            jwks_url = str(discovery.get("jwks_uri", ""))
            if not jwks_url:
                raise invalid_grant("The issuer's discovery document has no jwks_uri")
        jwks = _get_json(jwks_url)
        with self._lock:
            self._cache[issuer.arn] = (time.monotonic(), jwks)
        return jwks


def _has_kid(jwks: dict[str, Any], kid: str | None) -> bool:
    return kid is None or any(k.get("kid") == kid for k in jwks.get("keys", []))


def _get_json(url: str) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise invalid_grant(f"Unsupported key URL {url}")
    try:
        # The URL comes from the operator's scenario or the issuer's discovery document, scheme checked above.
        with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT) as resp:  # noqa: S310
            data = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise invalid_grant(f"Unable to retrieve keys from {url}: {exc}") from exc
    if not isinstance(data, dict):
        raise invalid_grant(f"Unexpected document at {url}")
    return data
