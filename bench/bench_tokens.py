"""ID-token verification: JwksTokenVerifier (uncached and cached) against a bare RSA PKCS1v15 verify."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.adapters.oidc import JwksTokenVerifier, OidcPolicy

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench"
AUDIENCE = "bench-client"
KID = "bench-key-1"
UNCACHED_PER_ROUND = 400
CACHED_PER_ROUND = 20_000
FLOOR_PER_ROUND = 2_000
ROUNDS = 3


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class _Issuer:
    """An RSA-2048 key pair that mints Cognito-shaped RS256 ID tokens and publishes its JWKS."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.private_key.public_key().public_numbers()
        self.jwks = {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": KID,
                    "alg": "RS256",
                    "use": "sig",
                    "n": _uint(numbers.n),
                    "e": _uint(numbers.e),
                }
            ]
        }

    def token(self) -> str:
        now = int(time.time())
        header = {"alg": "RS256", "kid": KID, "typ": "JWT"}
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(uuid.uuid4()),
            "token_use": "id",
            "cognito:username": "bench-user",
            "email": "bench@example.com",
            "iat": now,
            "auth_time": now,
            "exp": now + 3600,
            "jti": str(uuid.uuid4()),
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def _verifier(issuer: _Issuer) -> JwksTokenVerifier:
    def serve_jwks(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=issuer.jwks)

    http = httpx.AsyncClient(transport=httpx.MockTransport(serve_jwks))
    policy = OidcPolicy(
        issuer=ISSUER,
        audiences=frozenset({AUDIENCE}),
        jwks_url="https://jwks.invalid/",
        token_use="id",  # noqa: S106 - a claim value, not a secret
    )
    return JwksTokenVerifier(policy, http)


async def _time_ours(issuer: _Issuer) -> tuple[float, float, JwksTokenVerifier]:
    """Return (uncached, cached) µs per verify: fresh tokens each time, then one token again and again."""
    verifier = _verifier(issuer)
    await verifier.load()
    await verifier.verify(issuer.token())  # constructs and caches the public key object
    tokens = [issuer.token() for _ in range(UNCACHED_PER_ROUND * ROUNDS)]
    uncached = float("inf")
    for round_index in range(ROUNDS):
        batch = tokens[round_index * UNCACHED_PER_ROUND : (round_index + 1) * UNCACHED_PER_ROUND]
        start = time.perf_counter()
        for token in batch:
            await verifier.verify(token)
        uncached = min(uncached, (time.perf_counter() - start) / len(batch) * 1e6)
    same = tokens[0]
    cached = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(CACHED_PER_ROUND):
            await verifier.verify(same)
        cached = min(cached, (time.perf_counter() - start) / CACHED_PER_ROUND * 1e6)
    await verifier.aclose()
    return uncached, cached, verifier


def _time_floor(issuer: _Issuer) -> float:
    """Return µs per bare `cryptography` verify of one token's signing input (signature pre-decoded)."""
    token = issuer.token()
    signing_input, signature_b64 = token.rsplit(".", 1)
    message = signing_input.encode()
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    public_key = issuer.private_key.public_key()
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(FLOOR_PER_ROUND):
            public_key.verify(signature, message, pkcs1, sha256)
        best = min(best, (time.perf_counter() - start) / FLOOR_PER_ROUND * 1e6)
    return best


def run() -> list[dict[str, Any]]:
    """Time uncached and cached verification against the RSA floor; return one row each."""
    issuer = _Issuer()
    floor = _time_floor(issuer)
    uncached, cached, verifier = asyncio.run(_time_ours(issuer))
    assert verifier.stats.jwks_fetches == 1, verifier.stats
    assert verifier.stats.signature_verifications == 1 + UNCACHED_PER_ROUND * ROUNDS, verifier.stats
    baseline = f"cryptography RSA-2048 PKCS1v15-SHA256 verify (best of {ROUNDS} x {FLOOR_PER_ROUND})"
    rows: list[dict[str, Any]] = [
        {
            "name": "verify_token_uncached",
            "baseline": baseline,
            "baseline_value": round(floor, 1),
            "ours_value": round(uncached, 1),
            "unit": "us/token",
            "ratio": round(uncached / floor, 2),
            "target": "informational (ours/floor; the floor is the RSA math alone)",
            "met": "—",
            "note": (
                f"JwksTokenVerifier.verify on a fresh RS256 token each time (best of {ROUNDS} x "
                f"{UNCACHED_PER_ROUND}); JWKS served by httpx.MockTransport, fetched once; includes the "
                "sha256 cache key, header/claims JSON parsing, python-jose signature check and claim rules."
            ),
        },
        {
            "name": "verify_token_cached",
            "baseline": baseline,
            "baseline_value": round(floor, 1),
            "ours_value": round(cached, 2),
            "unit": "us/token",
            "ratio": round(cached / floor, 3),
            "target": "< 1 (a hit must cost less than one RSA verify)",
            "met": "yes" if cached < floor else "no",
            "note": f"the same token again (best of {ROUNDS} x {CACHED_PER_ROUND}): sha256 + dict hit.",
        },
    ]
    for row in rows:
        print(
            f"{row['name']:<24} floor={row['baseline_value']:>8} ours={row['ours_value']:>8} "
            f"{row['unit']} ours/floor={row['ratio']}"
        )
    return rows


if __name__ == "__main__":
    run()
