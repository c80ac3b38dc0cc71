"""The error responses each route documents in OpenAPI, all problem+json."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel

from service.api.error_handlers import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from service.api.schemas import ProblemResponse
from service.domain.errors import ProblemCode

_DESCRIPTIONS = {
    400: (
        "malformed_request: the body is not JSON (bad syntax, not UTF-8, too deep, a number too long)"
        " or Content-Length is not a number"
    ),
    401: "invalid_token, token_reused or session_revoked (with WWW-Authenticate), checked before the body",
    403: "access_denied, scope_not_granted, identity_not_mapped or identity_conflict",
    404: "not_found",
    408: "request_timeout: the body did not arrive within BROKER_BODY_TIMEOUT_SECONDS",
    413: "payload_too_large: the body is larger than BROKER_MAX_BODY_BYTES",
    422: "invalid_request",
    429: "rate_limited (with Retry-After): the caller made the broker call AWS too often",
    431: "headers_too_large: the headers total more than BROKER_MAX_HEADER_BYTES",
    502: "upstream_misconfigured",
    503: "upstream_unavailable, cache_unavailable, overloaded or shutting_down (all with Retry-After)",
}


Example = dict[str, Any]  # an OpenAPI Example Object: {"summary": ..., "value": ...}

# Response headers, declared once under components/headers and referenced by each response carrying them.
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id (the client's own X-Request-ID when usable); also in the logs",
        "required": True,
        "schema": {"type": "string", "maxLength": 128},
    },
    "X-Content-Type-Options": {
        "description": "Always nosniff",
        "required": True,
        "schema": {"type": "string", "enum": ["nosniff"]},
    },
    "Cache-Control": {
        "description": "Always no-store on /v1: answers carry credentials, URLs or who the caller is",
        "required": True,
        "schema": {"type": "string", "enum": ["no-store"]},
    },
    "Pragma": {
        "description": "Always no-cache on /v1 (for HTTP/1.0 caches)",
        "required": True,
        "schema": {"type": "string", "enum": ["no-cache"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": 'The bearer challenge, naming the code, e.g. Bearer error="invalid_token"',
        "required": True,
        "schema": {"type": "string"},
    },
}


def header_refs(*names: str) -> dict[str, dict[str, str]]:
    """Return a response's ``headers`` entry referring to the declared ``names``."""
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


# Every 429 and 503 problem says when to retry (the 503 of /readyz is not a problem answer).
_HEADERS_BY_STATUS = {
    401: header_refs("WWW-Authenticate"),
    429: header_refs("Retry-After"),
    503: header_refs("Retry-After"),
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI ``responses`` entries for the given problem statuses, with examples and headers."""
    return {
        status: {
            "model": ProblemResponse,
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"examples": problem_examples(status)}},
            **({"headers": _HEADERS_BY_STATUS[status]} if status in _HEADERS_BY_STATUS else {}),
        }
        for status in statuses
    }


# The limits middleware answers these on any route before it runs: a Content-Length that is not a
# number or too large, a body too slow or too large (even on a GET), headers too large.
LIMITED = (400, 408, 413, 431)
# /v1 routes verify the token and spend the caller's request budget before the body; 503 is also a
# replica at its concurrency cap.
AUTHENTICATED = (*LIMITED, 401, 429, 503)
# Routes that open an Identity Center session and call AWS for the caller.
UPSTREAM = (*AUTHENTICATED, 403, 422, 502)


Key = TypeVar("Key", bound=Hashable)


class SerializedBodies(Generic[Key]):
    """The JSON bodies of recent answers, by the immutable value each was rendered from (oldest dropped).

    An answer built from an equal value (a cached credential served again) reuses the bytes instead of
    building and serializing the same model again.
    """

    def __init__(self, render: Callable[[Key], BaseModel]) -> None:
        self._render = render
        self._bodies: dict[Key, bytes] = {}

    def response(self, key: Key, kept: int) -> Response:
        """Return the answer rendered from ``key``, serialized once while it is among the ``kept`` latest."""
        body = self._bodies.get(key)
        if body is None:
            body = self._render(key).model_dump_json().encode()
            while len(self._bodies) >= kept > 0:
                del self._bodies[next(iter(self._bodies))]
            self._bodies[key] = body
        return Response(body, media_type="application/json")


# (status, code, title, detail) of one example answer per stable code.
_PROBLEMS: tuple[tuple[int, ProblemCode, str, str], ...] = (
    (400, ProblemCode.MALFORMED_REQUEST, "Malformed request", "the body is not valid JSON"),
    (401, ProblemCode.INVALID_TOKEN, "Invalid token", "the token has expired"),
    (
        401,
        ProblemCode.TOKEN_REUSED,
        "Token already exchanged",
        "this ID token was already exchanged and its identity session ended: sign in again",
    ),
    (
        401,
        ProblemCode.TOKEN_STATE_LOST,
        "Token state lost",
        "the broker lost its record of this ID token (its cache restarted empty): get a fresh ID token",
    ),
    (
        401,
        ProblemCode.SESSION_REVOKED,
        "Session revoked",
        "this token was issued before a sign-out or revocation; sign in again to get a new token",
    ),
    (
        403,
        ProblemCode.ACCESS_DENIED,
        "Access denied",
        "no S3 Access Grant gives READ on s3://demo-data/users/bob/*",
    ),
    (
        403,
        ProblemCode.SCOPE_NOT_GRANTED,
        "Scope not granted",
        "the broker's Identity Center application is not granted the access scope for WRITE "
        "(s3:access_grants:read_write)",
    ),
    (
        403,
        ProblemCode.IDENTITY_NOT_MAPPED,
        "Identity not mapped",
        "Identity Center maps this sign-in to no directory user",
    ),
    (
        403,
        ProblemCode.IDENTITY_CONFLICT,
        "Identity conflict",
        "this sign-in maps to a different directory user than before; an administrator must confirm the "
        "change before access is granted",
    ),
    (
        404,
        ProblemCode.NOT_FOUND,
        "Not found",
        "the operator API is disabled: set BROKER_ADMIN_TOKEN to enable it",
    ),
    (405, ProblemCode.METHOD_NOT_ALLOWED, "Method not allowed", "Method Not Allowed"),
    (408, ProblemCode.REQUEST_TIMEOUT, "Request timeout", "the body did not arrive within 10 s"),
    (413, ProblemCode.PAYLOAD_TOO_LARGE, "Payload too large", "the body may be at most 1048576 bytes"),
    (422, ProblemCode.INVALID_REQUEST, "Invalid request", "target: String should have at least 6 characters"),
    (
        429,
        ProblemCode.RATE_LIMITED,
        "Rate limited",
        "this user caused more than 300 AWS calls in a minute; retry after the Retry-After seconds",
    ),
    (
        431,
        ProblemCode.HEADERS_TOO_LARGE,
        "Request headers too large",
        "the request headers may total at most 16384 bytes",
    ),
    (
        500,
        ProblemCode.INTERNAL_ERROR,
        "Internal error",
        "the broker failed unexpectedly",
    ),
    (
        502,
        ProblemCode.UPSTREAM_MISCONFIGURED,
        "Upstream misconfigured",
        "STS refused AssumeRole of the identity-bearer role (reason: role_trust)",
    ),
    (
        503,
        ProblemCode.UPSTREAM_UNAVAILABLE,
        "Upstream unavailable",
        "AWS is throttling or unreachable; retry after the Retry-After seconds",
    ),
    (
        503,
        ProblemCode.CACHE_UNAVAILABLE,
        "Cache unavailable",
        "the shared cache is unreachable and this ID token may already have been exchanged; retry shortly",
    ),
    (
        503,
        ProblemCode.SHUTTING_DOWN,
        "Shutting down",
        "this replica stopped before the request finished; retry (another replica answers)",
    ),
    (
        503,
        ProblemCode.OVERLOADED,
        "Overloaded",
        "this replica serves as many requests as it may; retry shortly",
    ),
)


def problem_examples(status: int) -> dict[str, Example]:
    """Return one problem+json example per code answered with ``status``."""
    return {
        code.value: {
            "summary": code.value,
            "value": {
                "type": PROBLEM_TYPE_BASE + code.value,
                "title": title,
                "status": status,
                "detail": detail,
                "code": code.value,
                "request_id": "4f6c0d6e9b7a4c1e8d2f3a5b6c7d8e9f",
            },
        }
        for example_status, code, title, detail in _PROBLEMS
        if example_status == status
    }


def problem_example_codes() -> dict[ProblemCode, tuple[int, str]]:
    """Return the (status, title) each code's example shows."""
    return {code: (status, title) for status, code, title, _ in _PROBLEMS}
