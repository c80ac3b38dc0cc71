"""OpenAPI additions the routes cannot express cheaply: bearer schemes, examples, problem media type, headers.

Each addition mirrors something the app does outside the route functions: ``get_caller`` and the limits
middleware read the Authorization header, the error handlers answer application/problem+json, and
``RequestContextMiddleware`` sets X-Request-ID, nosniff and (under /v1) no-store on every answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.api.error_handlers import PROBLEM_MEDIA_TYPE
from service.api.examples import OPERATION_EXAMPLES
from service.api.responses import HEADERS, header_refs

BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An OIDC ID token of the configured issuer (Cognito: the id_token, not the access token)",
}
OPERATOR_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "BROKER_ADMIN_TOKEN; the operator API answers 404 while it is unset",
}

SCHEME_BY_PREFIX = (("/v1/", "bearer"), ("/admin/", "operator"))
EVERY_ANSWER_HEADERS = ("X-Request-ID", "X-Content-Type-Options")
V1_ANSWER_HEADERS = ("Cache-Control", "Pragma")


def _problems_as_problem_json(operation: dict[str, Any]) -> None:
    """Keep only application/problem+json on problem answers, with the schema FastAPI put elsewhere.

    FastAPI documents a response model under the route's own media type (application/json, or
    text/plain for /metrics); the error handlers answer problem+json whatever the route.
    """
    for response in operation["responses"].values():
        content = response.get("content", {})
        if PROBLEM_MEDIA_TYPE in content:
            problem = content[PROBLEM_MEDIA_TYPE]
            for media_type in [name for name in content if name != PROBLEM_MEDIA_TYPE]:
                problem = {**content.pop(media_type), **problem}
            content[PROBLEM_MEDIA_TYPE] = problem


def _add_examples(operation: dict[str, Any]) -> None:
    """Attach the operation's request and answer examples to the media types FastAPI documented."""
    examples = OPERATION_EXAMPLES[operation["operationId"]]
    if examples.request:
        for media in operation["requestBody"]["content"].values():
            media["examples"] = examples.request
    for status, answer_examples in examples.answers.items():
        for media in operation["responses"][str(status)]["content"].values():
            media["examples"] = answer_examples


def _declare_headers(path: str, operation: dict[str, Any]) -> None:
    """Declare the headers the request-context middleware adds to every answer of ``path``."""
    names = EVERY_ANSWER_HEADERS + (V1_ANSWER_HEADERS if path.startswith("/v1/") else ())
    for response in operation["responses"].values():
        response["headers"] = {**header_refs(*names), **response.get("headers", {})}


def document_http_conventions(app: FastAPI) -> None:
    """Complete ``app``'s OpenAPI with what the middleware and error handlers do on every operation.

    ``get_caller`` reads the Authorization header itself (a security dependency per request costs a
    measurable share of the warm path), so the bearer scheme is declared here instead.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            components = schema.setdefault("components", {})
            components.setdefault("securitySchemes", {}).update(
                bearer=BEARER_SCHEME, operator=OPERATOR_SCHEME
            )
            components["headers"] = HEADERS
            for path, operations in schema["paths"].items():
                scheme = next((name for prefix, name in SCHEME_BY_PREFIX if path.startswith(prefix)), None)
                for operation in operations.values():
                    if scheme is not None:
                        operation["security"] = [{scheme: []}]
                    _problems_as_problem_json(operation)
                    _add_examples(operation)
                    _declare_headers(path, operation)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
