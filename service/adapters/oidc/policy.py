"""What an ID token must satisfy: the algorithm allow-list, the issuer's policy and one rule per claim.

Part of the OIDC adapter (``service.adapters.oidc``): ``verifier`` applies these rules to a parsed token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from service.domain.token_algorithms import SUPPORTED_ALGORITHMS

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


class RejectedError(Exception):
    """Internal: a rejection with a short machine reason (logged) and a client-safe detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def reject(reason: str, detail: str) -> NoReturn:
    raise RejectedError(reason, detail)


# -- claims: one function per rule, all sharing the policy's single leeway ---------------------------------


# NumericDate claims outside 1970..9999 are nonsense (1e308, 1e400 -> inf, 5000-digit integers).
_MAX_NUMERIC_DATE = 253402300799


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        reject(f"{name}_invalid", f"token claim '{name}' is not a number")
    if not 0 <= value <= _MAX_NUMERIC_DATE:  # also False for NaN
        reject(f"{name}_invalid", f"token claim '{name}' is out of range")
    return float(value)


def check_issuer(claims: Mapping[str, Any], issuer: str) -> None:
    if claims.get("iss") != issuer:
        reject("wrong_issuer", "token issuer is not trusted")


def check_audience(claims: Mapping[str, Any], audiences: frozenset[str]) -> None:
    aud = claims.get("aud")
    # RFC 7519 §4.1.3: a single string or an array of strings; one match is enough.
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        reject("wrong_audience", "token audience is not accepted")
    if not audiences.intersection(values):
        reject("wrong_audience", "token audience is not accepted")


def check_token_use(claims: Mapping[str, Any], token_use: str | None) -> None:
    if token_use and claims.get("token_use") != token_use:
        reject("wrong_token_use", f"token_use must be '{token_use}'")


def check_expiry(claims: Mapping[str, Any], now: float, leeway: int, max_lifetime: int) -> float:
    exp = _number(claims, "exp")
    if exp is None:
        reject("exp_missing", "token has no expiry (exp)")
    if now >= exp + leeway:
        reject("token_expired", "token has expired")
    if exp > now + max_lifetime + leeway:
        reject("exp_too_far", f"token expires more than {max_lifetime} seconds from now")
    return exp


def check_not_before(claims: Mapping[str, Any], now: float, leeway: int) -> None:
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        reject("token_not_yet_valid", "token is not valid yet (nbf)")


def check_issued_at(
    claims: Mapping[str, Any], now: float, leeway: int, exp: float, max_lifetime: int
) -> float:
    iat = _number(claims, "iat")
    if iat is None:
        reject("iat_missing", "token has no issue time (iat)")
    if iat > now + leeway:
        reject("iat_in_future", "token is issued in the future (iat)")
    if exp - iat > max_lifetime:
        reject("lifetime_too_long", f"token lives longer than {max_lifetime} seconds")
    return iat


def claim_at(claims: Mapping[str, Any], path: str) -> object:
    """Return the value at a dotted claim path (``email``, ``custom.employee_id``), or None."""
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def check_mapping_claim(claims: Mapping[str, Any], policy: OidcPolicy) -> None:
    path = policy.mapping_claim
    if not path:
        return
    value = claim_at(claims, path)
    if not isinstance(value, str) or not value:
        reject("mapping_claim_missing", f"token has no '{path}' claim to identify the user with")
    if path == "email" and policy.require_email_verified:
        verified = claims.get("email_verified")
        # Cognito sends a boolean; some issuers send the string "true".
        if verified is not True and verified != "true":
            reject("email_unverified", "token's email address is not verified")


def required_string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        reject(f"{name}_missing", f"token claim '{name}' is missing")
    return value


def username_claim(claims: Mapping[str, Any]) -> str | None:
    for name in _USERNAME_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None
