"""The error responses each route documents in OpenAPI, all problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from service.api.schemas import ProblemResponse

_DESCRIPTIONS = {
    401: "invalid_token, token_reused or session_revoked",
    403: "access_denied, identity_not_mapped or identity_conflict",
    404: "not_found",
    422: "invalid_request",
    429: "rate_limited (with Retry-After): the caller made the broker call AWS too often",
    502: "upstream_misconfigured",
    503: "upstream_unavailable (with Retry-After)",
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


AUTHENTICATED = (401, 422, 429, 502, 503)


def json_response(model: BaseModel) -> Response:
    """Serialize ``model`` once with pydantic-core and return it as is.

    The hot routes still declare ``response_model`` for OpenAPI; returning a Response skips FastAPI's
    second validation and serialization pass of the same model.
    """
    return Response(model.model_dump_json(), media_type="application/json")
