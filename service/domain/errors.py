"""The broker's error hierarchy: each error carries its HTTP status and a stable snake_case code."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


# The one list of codes: the error classes below, the HTTP layer's own answers (routing, body parsing,
# request limits) and the OpenAPI enum all use it.
class ProblemCode(StrEnum):
    """The stable ``code`` of a problem+json answer: clients may switch on it, and none is ever renamed."""

    INVALID_TOKEN = "invalid_token"  # noqa: S105 - a code naming a token error, not a token
    TOKEN_REUSED = "token_reused"  # noqa: S105 - likewise
    TOKEN_STATE_LOST = "token_state_lost"  # noqa: S105 - likewise
    SESSION_REVOKED = "session_revoked"
    IDENTITY_NOT_MAPPED = "identity_not_mapped"
    IDENTITY_CONFLICT = "identity_conflict"
    ACCESS_DENIED = "access_denied"
    SCOPE_NOT_GRANTED = "scope_not_granted"
    INVALID_REQUEST = "invalid_request"
    MALFORMED_REQUEST = "malformed_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    REQUEST_TIMEOUT = "request_timeout"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    HEADERS_TOO_LARGE = "headers_too_large"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_MISCONFIGURED = "upstream_misconfigured"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    CACHE_UNAVAILABLE = "cache_unavailable"
    SHUTTING_DOWN = "shutting_down"
    OVERLOADED = "overloaded"
    INTERNAL_ERROR = "internal_error"


class BrokerError(Exception):
    """Base of every error a client may see; ``detail`` must never contain a secret."""

    status: ClassVar[int] = 500
    code: ClassVar[ProblemCode] = ProblemCode.INTERNAL_ERROR
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidTokenError(BrokerError):
    """The bearer token is missing, malformed, badly signed, expired or not meant for this broker."""

    status = 401
    code = ProblemCode.INVALID_TOKEN
    title = "Invalid token"


class TokenReusedError(BrokerError):
    """The token was already exchanged with Identity Center and cannot be exchanged again."""

    status = 401
    code = ProblemCode.TOKEN_REUSED
    title = "Token already exchanged"


class TokenStateLostError(BrokerError):
    """The cache that records exchanged tokens restarted empty after this token was issued.

    The token may have been exchanged before the restart, and Identity Center refuses a replay for good, so
    the broker does not send it: the client gets a fresh ID token from its identity provider (silently,
    where it can) and retries. docs/architecture.md#the-jti-ledger.
    """

    status = 401
    code = ProblemCode.TOKEN_STATE_LOST
    title = "Token state lost"


class IdentityNotMappedError(BrokerError):
    """Identity Center could not map the token's user to exactly one directory user."""

    status = 403
    code = ProblemCode.IDENTITY_NOT_MAPPED
    title = "Identity not mapped"


class AccessDeniedError(BrokerError):
    """No S3 Access Grant covers the requested target and permission."""

    status = 403
    code = ProblemCode.ACCESS_DENIED
    title = "Access denied"


class ScopeNotGrantedError(BrokerError):
    """The broker's Identity Center application lacks the access scope the request needs (read_only)."""

    status = 403
    code = ProblemCode.SCOPE_NOT_GRANTED
    title = "Scope not granted"


class InvalidRequestError(BrokerError):
    """The request is well-formed JSON but asks for something invalid."""

    status = 422
    code = ProblemCode.INVALID_REQUEST
    title = "Invalid request"


class RetryableError(BrokerError):
    """An error the client may retry after ``retry_after_seconds`` (sent as the Retry-After header)."""

    def __init__(self, detail: str, retry_after_seconds: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class RateLimitedError(RetryableError):
    """The caller made the broker call AWS too often; the client may retry after ``retry_after_seconds``."""

    status = 429
    code = ProblemCode.RATE_LIMITED
    title = "Rate limited"


class UpstreamMisconfiguredError(BrokerError):
    """AWS rejected the broker itself (application, IAM policies, trust policy, scopes, region).

    Never the user's fault, so never remembered as a user's denial. ``reason`` is a stable snake_case
    word (see ``MISCONFIGURATION_REASONS``) shown at the end of the detail and counted in a metric.
    ``may_have_landed`` is False only when AWS certainly did not act on the request (it refused the
    caller before processing it): the broker then knows an ID token sent with it was not consumed.
    """

    status = 502
    code = ProblemCode.UPSTREAM_MISCONFIGURED
    title = "Upstream misconfigured"

    def __init__(self, detail: str, *, reason: str = "rejected", may_have_landed: bool = True) -> None:
        super().__init__(f"{detail} (reason: {reason})")
        self.reason = reason
        self.may_have_landed = may_have_landed


# Why AWS rejected the broker: each names what an operator must fix.
MISCONFIGURATION_REASONS = frozenset(
    {
        "iam_denied",  # an IAM policy of the broker's principal or the identity-bearer role lacks an action
        "role_trust",  # the identity-bearer role's trust policy refuses the broker (AssumeRole, SetContext)
        "application_not_found",  # Identity Center knows no application by the configured ARN
        "grant_missing",  # the application lacks the jwt-bearer or refresh_token grant
        "scope_missing",  # the application lacks a scope (sts:identity_context, openid, access grants)
        "region_mismatch",  # Identity Center, STS and S3 Access Grants are not in one region
        "session_refused",  # AWS refused the identity-enhanced session's own signature or token
        "unexpected_answer",  # AWS answered something the broker cannot use
        "no_credentials",  # the broker has no AWS credentials
        "rejected",  # any other refusal of the broker's request
    }
)


class UpstreamUnavailableError(RetryableError):
    """AWS was throttling, failing or unreachable after retries; the client may retry later."""

    status = 503
    code = ProblemCode.UPSTREAM_UNAVAILABLE
    title = "Upstream unavailable"

    def __init__(self, detail: str, retry_after_seconds: int = 1, *, may_have_landed: bool = True) -> None:
        super().__init__(detail, retry_after_seconds)
        # False only when AWS certainly did not act on the request (never sent, or throttled).
        self.may_have_landed = may_have_landed


class CacheOutageError(RetryableError):
    """The shared cache is down and the token's ledger state is unknown: it is not sent to Identity Center.

    Sending it could replay an exchange another replica (or this one, before a restart) already made,
    which Identity Center refuses for good (docs/architecture.md#the-jti-ledger).
    """

    status = 503
    code = ProblemCode.CACHE_UNAVAILABLE
    title = "Cache unavailable"


class ShuttingDownError(RetryableError):
    """The replica stopped before the request finished (its shutdown drain ended): retry on another one.

    docs/operations.md#shutdown-and-probes: the drain outlasts one retried AWS call, so only a request that
    needed several slow ones is cut.
    """

    status = 503
    code = ProblemCode.SHUTTING_DOWN
    title = "Shutting down"


class SessionRevokedError(BrokerError):
    """The caller signed out, or an operator revoked the user or token, after this token was issued."""

    status = 401
    code = ProblemCode.SESSION_REVOKED
    title = "Session revoked"


class IdentityConflictError(BrokerError):
    """The token's subject maps to another directory user than it was pinned to, or the reverse.

    Refused: a changed IdP attribute (an email, say) must never hand over another person's access.
    """

    status = 403
    code = ProblemCode.IDENTITY_CONFLICT
    title = "Identity conflict"


class NotFoundError(BrokerError):
    """What the request names does not exist (or the operator API is disabled)."""

    status = 404
    code = ProblemCode.NOT_FOUND
    title = "Not found"
