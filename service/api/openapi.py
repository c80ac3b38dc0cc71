"""OpenAPI additions the routes cannot express cheaply: the bearer scheme every /v1 route requires."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An OIDC ID token of the configured issuer (Cognito: the id_token, not the access token)",
}


def document_bearer_auth(app: FastAPI) -> None:
    """Declare the bearer scheme on every /v1 operation of ``app``'s OpenAPI document.

    ``get_caller`` reads the Authorization header itself (a security dependency per request costs a
    measurable share of the warm path), so the scheme is documented here instead.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = BEARER_SCHEME
            for path, operations in schema["paths"].items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
