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
    InvalidTokenError,
    TokenReusedError,
    UpstreamMisconfiguredError,
)
from service.domain.identity import IdentityCenterToken, RenewedToken

OPERATION: Final = "CreateTokenWithIAM"
JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN_GRANT: Final = "refresh_token"  # noqa: S105  (a grant type name, not a secret)
# Every documented CreateTokenWithIAM answer says 3600; used only if expiresIn is absent.
DEFAULT_EXPIRES_IN: Final = 3600

# Modeled CreateTokenWithIAM errors that mean Identity Center rejected the broker (its application,
# grants, scopes, region or IAM permissions), whatever the caller sent, and what to fix for each.
_BROKER_REJECTED: Final = {
    "InvalidClientException": "application_not_found",
    "UnauthorizedClientException": "grant_missing",
    "UnsupportedGrantTypeException": "grant_missing",
    "InvalidScopeException": "scope_missing",
    "InvalidRequestRegionException": "region_mismatch",
    "AccessDeniedException": "iam_denied",
    "InvalidRequestException": "rejected",
}
# Modeled errors that refuse what the caller sent (the assertion or the refresh token) for good.
# Identity Center does not say why (a bad signature, a replayed jti, no matching user all answer
# InvalidGrantException), so the broker does not guess from the message.
_GRANT_REFUSED: Final = frozenset({"InvalidGrantException", "ExpiredTokenException"})


class SsoOidcIdentityExchanger:
    """Exchanges IdP ID tokens and refresh tokens with Identity Center for one customer application."""

    def __init__(self, client: Any, application_arn: str) -> None:
        self._client = client
        self._application_arn = application_arn

    def exchange_jwt(self, assertion: str, application_arn: str | None = None) -> IdentityCenterToken:
        """Exchange an IdP ID token (jwt-bearer grant) through ``application_arn`` (default: the broker's).

        Raises:
            InvalidTokenError, UpstreamMisconfiguredError, UpstreamUnavailableError.
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

    def refresh(self, refresh_token: str, application_arn: str | None = None) -> RenewedToken:
        """Renew the Identity Center token with a refresh token (refresh_token grant) of ``application_arn``.

        AWS may answer without an idToken and without ``awsAdditionalDetails``: the user id and the
        identity context are then None, and the caller keeps the identity of the session it renews.

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
        return parse_renewal(response)


def parse_token_response(response: dict[str, Any]) -> IdentityCenterToken:
    """Return what the broker needs from a jwt-bearer CreateTokenWithIAM answer.

    Raises:
        UpstreamMisconfiguredError: no idToken, no user id, or no identity context (missing scopes).
    """
    if not response.get("idToken"):
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned no idToken; the Identity Center application needs the openid scope",
            reason="scope_missing",
        )
    renewal = parse_renewal(response)
    if renewal.idc_user_id is None:
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned an idToken without a sub claim", reason="unexpected_answer"
        )
    if renewal.identity_context is None:
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned no identity context; "
            "the Identity Center application needs the sts:identity_context scope",
            reason="scope_missing",
        )
    return IdentityCenterToken(
        idc_user_id=renewal.idc_user_id,
        identity_store_arn=renewal.identity_store_arn,
        identity_context=renewal.identity_context,
        refresh_token=renewal.refresh_token,
        expires_in=renewal.expires_in,
        scopes=renewal.scopes,
    )


def parse_renewal(response: dict[str, Any]) -> RenewedToken:
    """Return every field of a CreateTokenWithIAM answer, each None when AWS left it out.

    Raises:
        UpstreamMisconfiguredError: an idToken is present but is not a readable JWT.
    """
    id_token = response.get("idToken")
    claims = decode_unverified_claims(id_token) if id_token else {}
    details = response.get("awsAdditionalDetails") or {}
    return RenewedToken(
        idc_user_id=_text(claims.get("sub")),
        identity_store_arn=_text(claims.get("aws:identity_store_arn")),
        identity_context=_text(details.get("identityContext")) or _text(claims.get("sts:identity_context")),
        refresh_token=_text(response.get("refreshToken")),
        expires_in=int(response.get("expiresIn") or DEFAULT_EXPIRES_IN),
        scopes=_scopes(response.get("scope")),
    )


def _scopes(value: Any) -> frozenset[str]:
    """Return the granted scopes; empty when the answer has none (the member is optional)."""
    if not isinstance(value, list):
        return frozenset()
    return frozenset(item for item in value if isinstance(item, str) and item)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def decode_unverified_claims(token: str) -> dict[str, Any]:
    """Return the payload of a JWT without verifying it.

    Only for the idToken Identity Center just returned to us over TLS: its integrity is the channel's,
    and the broker has no key to verify it with anyway.

    Raises:
        UpstreamMisconfiguredError: the token is not a JWT with a JSON object payload.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned an idToken that is not a JWT", reason="unexpected_answer"
        )
    payload = parts[1]
    try:
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(decoded)
    except (binascii.Error, ValueError):
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned an idToken with an unreadable payload", reason="unexpected_answer"
        ) from None
    if not isinstance(claims, dict):
        raise UpstreamMisconfiguredError(
            f"{OPERATION} returned an idToken with an unreadable payload", reason="unexpected_answer"
        )
    return claims


def _exchange_error(error: Exception, assertion: str) -> BrokerError:
    if not isinstance(error, ClientError):
        return translate(error, operation=OPERATION)
    if error_code(error) in _GRANT_REFUSED:
        return InvalidTokenError(f"Identity Center rejected the token: {_description(error, assertion)}")
    return _broker_rejected(error) or translate(error, operation=OPERATION)


def _refresh_error(error: Exception) -> BrokerError:
    if not isinstance(error, ClientError):
        return translate(error, operation=OPERATION)
    if error_code(error) in _GRANT_REFUSED:
        return TokenReusedError("the Identity Center session expired; sign in again")
    return _broker_rejected(error) or translate(error, operation=OPERATION)


def _broker_rejected(error: ClientError) -> UpstreamMisconfiguredError | None:
    code = error_code(error)
    reason = _BROKER_REJECTED.get(code)
    if reason is None:
        return None
    return UpstreamMisconfiguredError(
        f"Identity Center rejected the broker's {OPERATION} call ({code})",
        reason=reason,
        may_have_landed=False,
    )


def _description(error: ClientError, assertion: str) -> str:
    # botocore copies error_description into Error.Message and keeps the raw body fields at top level.
    response: dict[str, Any] = dict(error.response)
    message = response.get("Error", {}).get("Message") or response.get("error_description")
    if not isinstance(message, str) or not message:
        return "no reason given"
    return redact(message, secrets=(assertion,))
