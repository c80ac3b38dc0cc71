"""The JWS algorithms the broker may accept for ID tokens, with the key shape each one needs."""

from __future__ import annotations

from collections.abc import Mapping

# Only asymmetric algorithms python-jose can verify. HMAC and "none" can never be allowed: a verifier that
# holds public keys must not accept a MAC keyed with one (the RS256 -> HS256 key-confusion attack).
# python-jose 3.x has no PS256/PS384/PS512, so they cannot be offered here.
KEY_SHAPE_BY_ALGORITHM: Mapping[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
SUPPORTED_ALGORITHMS = frozenset(KEY_SHAPE_BY_ALGORITHM)
