"""The exceptions the client raises: one class per stable problem code, and BrokerUnavailable.

A problem+json answer becomes the ``BrokerError`` subclass of its ``code`` (``ERRORS_BY_CODE``); groups
(``AuthenticationError``, ``PermissionDeniedError``, ``RetryableError``) let callers catch by what to do.
No message ever contains the bearer token or a credential.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

PROBLEM_MEDIA_TYPE = "application/problem+json"


class BrokerError(Exception):
    """The broker refused or failed a request and said why in a problem+json body."""

    CODE: ClassVar[str] = ""

    def __init__(
        self,
        *,
        code: str,
        status: int,
        detail: str,
        title: str = "",
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code} (HTTP {status}): {detail}")
        self.code = code
        self.status = status
        self.detail = detail
        self.title = title
        self.retry_after = retry_after
        self.request_id = request_id


class AuthenticationError(BrokerError):
    """The ID token cannot be used (any more): sign in again for a new one."""


class InvalidTokenError(AuthenticationError):
    """The token is missing, malformed, badly signed, expired or not meant for this broker."""

    CODE = "invalid_token"


class TokenReusedError(AuthenticationError):
    """The token was already exchanged and its identity session ended."""

    CODE = "token_reused"


class TokenStateLostError(AuthenticationError):
    """The broker lost its record of the token (its cache restarted empty): get a fresh ID token, retry."""

    CODE = "token_state_lost"


class SessionRevokedError(AuthenticationError):
    """The token was issued before a sign-out or an operator revocation."""

    CODE = "session_revoked"


class PermissionDeniedError(BrokerError):
    """The caller is known but may not do this."""


class AccessDeniedError(PermissionDeniedError):
    """No S3 Access Grant covers the target and permission."""

    CODE = "access_denied"


class ScopeNotGrantedError(PermissionDeniedError):
    """The broker's Identity Center application lacks the access scope the request needs."""

    CODE = "scope_not_granted"


class IdentityNotMappedError(PermissionDeniedError):
    """Identity Center maps the sign-in to no directory user."""

    CODE = "identity_not_mapped"


class IdentityConflictError(PermissionDeniedError):
    """The sign-in maps to another directory user than before; an administrator must confirm it."""

    CODE = "identity_conflict"


class RequestError(BrokerError):
    """The request itself is wrong: fix it before sending it again."""


class InvalidRequestError(RequestError):
    """Well-formed JSON that asks for something invalid."""

    CODE = "invalid_request"


class MalformedRequestError(RequestError):
    """The body is not JSON the broker can read."""

    CODE = "malformed_request"


class NotFoundError(RequestError):
    """No such route or resource."""

    CODE = "not_found"


class MethodNotAllowedError(RequestError):
    """The route does not take this method."""

    CODE = "method_not_allowed"


class RequestTimeoutError(RequestError):
    """The body did not arrive in time."""

    CODE = "request_timeout"


class PayloadTooLargeError(RequestError):
    """The body is larger than the broker accepts."""

    CODE = "payload_too_large"


class HeadersTooLargeError(RequestError):
    """The headers are larger than the broker accepts."""

    CODE = "headers_too_large"


class RetryableError(BrokerError):
    """A passing condition: retry after ``retry_after`` seconds."""


class RateLimitedError(RetryableError):
    """The caller made too many requests, or caused too many AWS calls, this minute."""

    CODE = "rate_limited"


class UpstreamUnavailableError(RetryableError):
    """AWS was throttling, failing or unreachable."""

    CODE = "upstream_unavailable"


class CacheUnavailableError(RetryableError):
    """The broker's shared cache is down."""

    CODE = "cache_unavailable"


class ShuttingDownError(RetryableError):
    """The broker replica stopped before the request finished: retry (another replica answers)."""

    CODE = "shutting_down"


class OverloadedError(RetryableError):
    """The broker replica serves as many requests as it may."""

    CODE = "overloaded"


class UpstreamMisconfiguredError(BrokerError):
    """AWS rejected the broker itself: an operator must fix its configuration (the detail says why)."""

    CODE = "upstream_misconfigured"


class InternalBrokerError(BrokerError):
    """A bug in the broker."""

    CODE = "internal_error"


ERRORS_BY_CODE: dict[str, type[BrokerError]] = {
    cls.CODE: cls
    for cls in (
        InvalidTokenError,
        TokenReusedError,
        TokenStateLostError,
        SessionRevokedError,
        AccessDeniedError,
        ScopeNotGrantedError,
        IdentityNotMappedError,
        IdentityConflictError,
        InvalidRequestError,
        MalformedRequestError,
        NotFoundError,
        MethodNotAllowedError,
        RequestTimeoutError,
        PayloadTooLargeError,
        HeadersTooLargeError,
        RateLimitedError,
        UpstreamUnavailableError,
        CacheUnavailableError,
        ShuttingDownError,
        OverloadedError,
        UpstreamMisconfiguredError,
        InternalBrokerError,
    )
}


class BrokerUnavailableError(Exception):
    """The broker could not be reached, or something else answered in its place (no problem+json)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


BrokerUnavailable = BrokerUnavailableError  # the name the issue gives it


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Return a Retry-After header (seconds or an HTTP date) as seconds from now, or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_from_response(response: httpx.Response, base_url: str) -> BrokerError | BrokerUnavailableError:
    """Return the exception an error answer stands for."""
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    body: Any = None
    if response.headers.get("content-type", "").split(";")[0].strip() == PROBLEM_MEDIA_TYPE:
        try:
            body = response.json()
        except ValueError:
            body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return BrokerUnavailableError(
            f"{base_url} answered HTTP {response.status_code} without a tip-broker problem body: "
            "is the broker URL right, or is a proxy in the way?",
            status=response.status_code,
            retry_after=retry_after,
        )
    code: str = body["code"]
    cls = ERRORS_BY_CODE.get(code, BrokerError)
    return cls(
        code=code,
        status=response.status_code,
        detail=str(body.get("detail", "")),
        title=str(body.get("title", "")),
        retry_after=retry_after,
        request_id=body.get("request_id") if isinstance(body.get("request_id"), str) else None,
    )
