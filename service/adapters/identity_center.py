"""IdentityExchanger adapter: IAM Identity Center ``CreateTokenWithIAM`` (jwt-bearer and refresh_token).

Neither the assertion nor any token Identity Center returns ever reaches an error detail or a log line.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.aws_errors import error_code, redact, translate
from service.domain.errors import (
    BrokerError,
    IdentityNotMappedError,
    InvalidTokenError,
    TokenReusedError,
    UpstreamMisconfiguredError,
)
from service.domain.identity import IdentityCenterToken

OPERATION: Final = "CreateTokenWithIAM"
JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN_GRANT: Final = "refresh_token"  # noqa: S105  (a grant type name, not a secret)
# Every documented CreateTokenWithIAM answer says 3600 (reference §1.3); used only if expiresIn is absent.
DEFAULT_EXPIRES_IN: Final = 3600

# Errors that mean Identity Center rejected the broker (its application ARN, grants, scopes or IAM
# permissions), whatever the caller sent.
_BROKER_REJECTED: Final = frozenset(
    {
        "InvalidClientException",
        "UnauthorizedClientException",
        "AccessDeniedException",
        "InvalidScopeException",
        "UnsupportedGrantTypeException",
        "InvalidRequestException",
        "InvalidRequestRegionException",
    }
)


class SsoOidcIdentityExchanger:
    """Exchanges IdP ID tokens and refresh tokens with Identity Center for one customer application."""

    def __init__(self, client: Any, application_arn: str) -> None:
        self._client = client
        self._application_arn = application_arn

    def exchange_jwt(self, assertion: str, application_arn: str | None = None) -> IdentityCenterToken:
        """Exchange an IdP ID token (jwt-bearer grant) through ``application_arn`` (default: the broker's).

        Raises:
            InvalidTokenError, IdentityNotMappedError, UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        try:
            response = self._client.create_token_with_iam(
                clientId=application_arn or self._application_arn,
                grantType=JWT_BEARER_GRANT,
                assertion=assertion,
            )
        except (ClientError, BotoCoreError) as error:
            raise _exchange_error(error, assertion) from None
        return parse_token_response(response)

    def refresh(self, refresh_token: str, application_arn: str | None = None) -> IdentityCenterToken:
        """Renew the Identity Center token with a refresh token (refresh_token grant) of ``application_arn``.

        Raises:
            TokenReusedError, UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        try:
            response = self._client.create_token_with_iam(
                clientId=application_arn or self._application_arn,
                grantType=REFRESH_TOKEN_GRANT,
                refreshToken=refresh_token,
            )
        except (ClientError, BotoCoreError) as error:
            raise _refresh_error(error) from None
        return parse_token_response(response)


def parse_token_response(response: dict[str, Any]) -> IdentityCenterToken:
    """Return what the broker needs from a CreateTokenWithIAM answer.

    Raises:
        UpstreamMisconfiguredError: no idToken, no user id, or no identity context (missing scopes).
    """
    id_token = response.get("idToken")
    if not id_token:
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned no idToken; the Identity Center application needs the openid scope"
        )
    claims = decode_unverified_claims(id_token)
    user_id = claims.get("sub")
    if not isinstance(user_id, str) or not user_id:
        raise UpstreamMisconfiguredError(f"{OPERATION} returned an idToken without a sub claim")
    context = (response.get("awsAdditionalDetails") or {}).get("identityContext") or claims.get(
        "sts:identity_context"
    )
    if not isinstance(context, str) or not context:
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned no identity context; "
            "the Identity Center application needs the sts:identity_context scope"
        )
    store_arn = claims.get("aws:identity_store_arn")
    refresh_token = response.get("refreshToken")
    return IdentityCenterToken(
        idc_user_id=user_id,
        identity_store_arn=store_arn if isinstance(store_arn, str) and store_arn else None,
        identity_context=context,
        refresh_token=refresh_token or None,
        expires_in=int(response.get("expiresIn") or DEFAULT_EXPIRES_IN),
        scopes=_scopes(response.get("scope")),
    )


def _scopes(value: Any) -> frozenset[str]:
    """Return the granted scopes; empty when the answer has none (the member is optional)."""
    if not isinstance(value, list):
        return frozenset()
    return frozenset(item for item in value if isinstance(item, str) and item)


def decode_unverified_claims(token: str) -> dict[str, Any]:
    """Return the payload of a JWT without verifying it.

    Only for the idToken Identity Center just returned to us over TLS: its integrity is the channel's,
    and the broker has no key to verify it with anyway.

    Raises:
        UpstreamMisconfiguredError: the token is not a JWT with a JSON object payload.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise UpstreamMisconfiguredError(f"{OPERATION} returned an idToken that is not a JWT")
    payload = parts[1]
    try:
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(decoded)
    except (binascii.Error, ValueError):
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned an idToken with an unreadable payload"
        ) from None
    if not isinstance(claims, dict):
        raise UpstreamMisconfiguredError(f"{OPERATION} returned an idToken with an unreadable payload")
    return claims


def _exchange_error(error: Exception, assertion: str) -> BrokerError:
    if not isinstance(error, ClientError):
        return translate(error, operation=OPERATION)
    code = error_code(error)
    if code in {"InvalidGrantException", "ExpiredTokenException"}:
        description = _description(error, assertion)
        if _mentions_replay(description):
            # The broker never sends a jti twice while its cache remembers it; this is the fallback
            # when the cache could not (an outage, an eviction): same meaning for the client.
            return TokenReusedError(
                "Identity Center already exchanged this ID token; sign in again to get a new ID token"
            )
        if _mentions_user_mapping(description):
            return IdentityNotMappedError(
                f"Identity Center could not map the token to exactly one user: {description}"
            )
        return InvalidTokenError(f"Identity Center rejected the token: {description}")
    if code in _BROKER_REJECTED:
        return UpstreamMisconfiguredError(
            f"Identity Center rejected the broker's {OPERATION} call ({code})", may_have_landed=False
        )
    return translate(error, operation=OPERATION)


def _refresh_error(error: Exception) -> BrokerError:
    if not isinstance(error, ClientError):
        return translate(error, operation=OPERATION)
    code = error_code(error)
    if code in {"InvalidGrantException", "ExpiredTokenException"}:
        return TokenReusedError("the Identity Center session expired; sign in again")
    if code in _BROKER_REJECTED:
        return UpstreamMisconfiguredError(
            f"Identity Center rejected the broker's {OPERATION} call ({code})", may_have_landed=False
        )
    return translate(error, operation=OPERATION)


def _mentions_replay(description: str) -> bool:
    lowered = description.lower()
    return "already" in lowered or "replay" in lowered or "reused" in lowered


def _description(error: ClientError, assertion: str) -> str:
    # botocore copies error_description into Error.Message and keeps the raw body fields at top level.
    response: dict[str, Any] = dict(error.response)
    message = response.get("Error", {}).get("Message") or response.get("error_description")
    if not isinstance(message, str) or not message:
        return "no reason given"
    return redact(message, secrets=(assertion,))


def _mentions_user_mapping(description: str) -> bool:
    text = description.lower()
    return "user" in text and any(word in text for word in ("match", "map", "not found"))
