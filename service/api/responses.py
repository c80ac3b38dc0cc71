"""The error responses each route documents in OpenAPI, all problem+json."""

from __future__ import annotations

from typing import Any

from service.api.schemas import ProblemResponse

_DESCRIPTIONS = {
    401: "invalid_token or token_reused",
    403: "access_denied or identity_not_mapped",
    422: "invalid_request",
    429: "rate_limited",
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


AUTHENTICATED = (401, 422, 502, 503)
