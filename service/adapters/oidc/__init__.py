"""The OIDC adapter: verifies ID tokens against their issuer's JWKS (httpx + python-jose).

``policy`` (what a token must satisfy), ``token_format`` (its JOSE structure), ``jwks`` (the issuer's
keys), ``verifier`` (one issuer) and ``router`` (several issuers).
"""

from service.adapters.oidc.jwks import VerifierStats
from service.adapters.oidc.policy import OidcPolicy, claim_at
from service.adapters.oidc.router import IssuerRouter
from service.adapters.oidc.verifier import VERIFIED_CACHE_MAX_ENTRIES, JwksTokenVerifier, verify_jws_signature
from service.domain.token_algorithms import SUPPORTED_ALGORITHMS

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "VERIFIED_CACHE_MAX_ENTRIES",
    "IssuerRouter",
    "JwksTokenVerifier",
    "OidcPolicy",
    "VerifierStats",
    "claim_at",
    "verify_jws_signature",
]
