"""The error responses each route documents in OpenAPI, all problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from service.api.schemas import ProblemResponse

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


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI ``responses`` entries for the given problem statuses."""
    return {
        status: {
            "model": ProblemResponse,
            "description": _DESCRIPTIONS[status],
            "content": {"application/problem+json": {}},
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


def json_response(model: BaseModel) -> Response:
    """Serialize ``model`` once with pydantic-core and return it as is.

    The hot routes still declare ``response_model`` for OpenAPI; returning a Response skips FastAPI's
    second validation and serialization pass of the same model.
    """
    return Response(model.model_dump_json(), media_type="application/json")
