"""The JOSE structure of an ID token: its three segments, its header (alg, kid) and its JSON claims.

Part of the OIDC adapter (``service.adapters.oidc``); nothing here trusts a value before the signature check.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from service.adapters.oidc.policy import reject

TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Header:
    alg: str
    kid: str


# A JOSE header holds alg, kid, typ and little else; anything bigger is not a token we issued.
_MAX_HEADER_CHARS = 2048


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parse_header(token: str, algorithms: frozenset[str]) -> Header:
    if not TOKEN_SHAPE.fullmatch(token):
        reject("malformed", "token is not three base64url segments")
    encoded_header = token.split(".", 1)[0]
    if len(encoded_header) > _MAX_HEADER_CHARS:
        reject("malformed_header", "token header is too large")
    try:
        header = json.loads(b64url_decode(encoded_header))
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays are valid JSON but exhaust the parser's stack.
        reject("malformed_header", "token header is not valid JSON")
    if not isinstance(header, dict):
        reject("malformed_header", "token header is not a JSON object")
    # The allow-list is checked before any key is touched, so "none" and HMAC never reach a key.
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        reject("alg_not_allowed", "token algorithm is not allowed")
    if "crit" in header:
        # RFC 7515 §4.1.11: extensions we do not understand must make the token invalid.
        reject("crit_unsupported", "token header has unsupported critical extensions")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        reject("kid_missing", "token header has no key id (kid)")
    return Header(alg=alg, kid=kid)


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"non-finite number {name}")


def parse_claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        reject("malformed_payload", "token payload is not a JSON object")
    if not isinstance(claims, dict):
        reject("malformed_payload", "token payload is not a JSON object")
    return claims
