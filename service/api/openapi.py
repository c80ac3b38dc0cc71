"""OpenAPI additions the routes cannot express cheaply: the bearer schemes of /v1 and /admin routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

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


def document_bearer_auth(app: FastAPI) -> None:
    """Declare the bearer scheme on each /v1 operation of ``app``'s OpenAPI, the operator's on /admin.

    ``get_caller`` reads the Authorization header itself (a security dependency per request costs a
    measurable share of the warm path), so the scheme is documented here instead.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearer"] = BEARER_SCHEME
            schemes["operator"] = OPERATOR_SCHEME
            for path, operations in schema["paths"].items():
                for prefix, name in SCHEME_BY_PREFIX:
                    if path.startswith(prefix):
                        for operation in operations.values():
                            operation["security"] = [{name: []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
