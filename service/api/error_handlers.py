"""One envelope for every error: domain errors, validation failures and HTTP errors become problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.domain.errors import (
    BrokerError,
    InvalidTokenError,
    ProblemCode,
    RetryableError,
    UpstreamMisconfiguredError,
)
from service.logs import request_id_var

PROBLEM_TYPE_BASE = "https://tip-broker.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(
    status: int, code: ProblemCode, title: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return an RFC 9457 problem response."""
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code.value,
        "request_id": request_id_var.get(),
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def broker_error_response(exc: BrokerError) -> JSONResponse:
    """Return the problem response of a domain error, with the headers its status calls for."""
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidTokenError) or exc.status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
    if isinstance(exc, RetryableError):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return problem(exc.status, exc.code, exc.title, exc.detail, headers or None)


def _validation_detail(errors: list[Any]) -> str:
    parts = []
    for err in errors[:10]:
        location = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _on_broker_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, BrokerError):  # pragma: no cover - registered for this type only
        raise TypeError(type(exc).__name__)
    if isinstance(exc, UpstreamMisconfiguredError):
        # An operator's problem, not a user's: counted so that an alert can fire on it.
        services = getattr(request.app.state, "services", None)
        if services is not None:
            services.metrics.misconfigured.labels(reason=exc.reason).inc()
    return broker_error_response(exc)


def malformed_request(detail: str) -> JSONResponse:
    """Return the 400 of a body that is not JSON the broker can read."""
    return problem(400, ProblemCode.MALFORMED_REQUEST, "Malformed request", detail)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for this type only
        raise TypeError(type(exc).__name__)
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        return malformed_request("the body is not valid JSON")
    # Only locations and messages: pydantic's ``input`` could echo a secret the client sent.
    return problem(422, ProblemCode.INVALID_REQUEST, "Invalid request", _validation_detail(errors))


# Starlette raises these statuses itself (routing, body parsing); each keeps one stable code.
_HTTP_CODES = {
    400: (ProblemCode.MALFORMED_REQUEST, "Malformed request"),
    404: (ProblemCode.NOT_FOUND, "Not found"),
    405: (ProblemCode.METHOD_NOT_ALLOWED, "Method not allowed"),
    408: (ProblemCode.REQUEST_TIMEOUT, "Request timeout"),
    413: (ProblemCode.PAYLOAD_TOO_LARGE, "Payload too large"),
    431: (ProblemCode.HEADERS_TOO_LARGE, "Request headers too large"),
    503: (ProblemCode.OVERLOADED, "Overloaded"),
}


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for this type only
        raise TypeError(type(exc).__name__)
    fallback = (
        (ProblemCode.MALFORMED_REQUEST, "Bad request")
        if exc.status_code < 500
        else (ProblemCode.INTERNAL_ERROR, "Error")
    )
    code, title = _HTTP_CODES.get(exc.status_code, fallback)
    headers = dict(exc.headers or {})
    if exc.status_code == 503:
        headers.setdefault("Retry-After", "1")  # every 503 problem says when to come back
    return problem(exc.status_code, code, title, str(exc.detail), headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(BrokerError, _on_broker_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
