"""S3 CORS as S3 evaluates it: preflight `OPTIONS` answers and `Access-Control-*` on every S3 response.

The rules are the bucket's own (PutBucketCors, stored by moto); the first rule that matches wins
(docs/aws.md#s3-cors). moto's approximate CORS headers are replaced by these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from moto.s3.models import s3_backends
from werkzeug.wrappers import Response

from emulator.wire import AwsError, error_response

StartResponse = Callable[..., Any]

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
    "whitelisted by the resource's CORS spec."
)


@dataclass(frozen=True)
class CorsRule:
    """One CORSRule of a bucket's configuration."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None

    def matches_origin(self, origin: str) -> str | None:
        """Return the AllowedOrigin that admits ``origin`` (at most one `*` wildcard each), or None."""
        return next((o for o in self.allowed_origins if _wildcard(o, origin)), None)

    def allows_headers(self, requested: Sequence[str]) -> bool:
        """Return whether every requested header matches an AllowedHeader (case-insensitive)."""
        patterns = [h.lower() for h in self.allowed_headers]
        return all(any(_wildcard(p, h.lower()) for p in patterns) for h in requested)


def _wildcard(pattern: str, value: str) -> bool:
    head, star, tail = pattern.partition("*")
    if not star:
        return pattern == value
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def bucket_rules(account_id: str, bucket: str | None) -> list[CorsRule] | None:
    """Return the bucket's CORS rules in order ([] when it has none), or None when there is no bucket."""
    if bucket is None:
        return None
    found = s3_backends[account_id]["aws"].buckets.get(bucket)
    if found is None:
        return None
    return [
        CorsRule(
            allowed_origins=_tuple(rule.allowed_origins),
            allowed_methods=_tuple(rule.allowed_methods),
            allowed_headers=_tuple(rule.allowed_headers),
            expose_headers=_tuple(rule.exposed_headers),
            max_age_seconds=int(rule.max_age_seconds) if rule.max_age_seconds is not None else None,
        )
        for rule in found.cors
    ]


def _common_headers(rule: CorsRule, allowed_origin: str, origin: str) -> dict[str, str]:
    # A `*` rule answers `*` and never allows credentials; a named origin is echoed with credentials.
    headers = {
        "Access-Control-Allow-Origin": "*" if allowed_origin == "*" else origin,
        "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
        "Vary": VARY,
    }
    if allowed_origin != "*":
        headers["Access-Control-Allow-Credentials"] = "true"
    if rule.expose_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age_seconds is not None:
        headers["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    return headers


def actual_response_headers(rules: list[CorsRule] | None, method: str, origin: str | None) -> dict[str, str]:
    """Return the CORS headers of a non-preflight response: the first rule matching origin and method."""
    if not rules or not origin:
        return {}
    for rule in rules:
        allowed_origin = rule.matches_origin(origin)
        if allowed_origin is not None and method in rule.allowed_methods:
            return _common_headers(rule, allowed_origin, origin)
    return {}


def preflight(rules: list[CorsRule] | None, headers: dict[str, str], resource_type: str) -> Response:
    """Answer a preflight `OPTIONS` request as S3 does (200 with the rule's headers, else 400/403)."""
    origin = headers.get("origin")
    method = headers.get("access-control-request-method")
    if not origin:
        return error_response(
            "s3-xml", AwsError("BadRequest", "Insufficient information. Origin request header needed.", 400)
        )
    if not method:
        return error_response(
            "s3-xml", AwsError("BadRequest", "Invalid Access-Control-Request-Method: null", 400)
        )
    requested = [h.strip() for h in headers.get("access-control-request-headers", "").split(",") if h.strip()]
    if rules is None:
        message = "CORSResponse: Bucket not found"
    elif not rules:
        message = "CORSResponse: CORS is not enabled for this bucket."
    else:
        message = _NOT_ALLOWED
        for rule in rules:
            allowed_origin = rule.matches_origin(origin)
            if allowed_origin is None or method not in rule.allowed_methods:
                continue
            if not rule.allows_headers(requested):
                continue
            answer = _common_headers(rule, allowed_origin, origin)
            if requested:
                answer["Access-Control-Allow-Headers"] = ", ".join(h.lower() for h in requested)
            return Response(b"", status=200, headers=answer)
    return error_response(
        "s3-xml",
        AwsError("AccessForbidden", message, 403, fields={"Method": method, "ResourceType": resource_type}),
    )


def with_cors_headers(start_response: StartResponse, extra: dict[str, str]) -> StartResponse:
    """Wrap ``start_response``: drop any upstream `Access-Control-*`/`Vary` and send ``extra`` instead."""

    def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        kept = [
            (name, value)
            for name, value in headers
            if not name.lower().startswith("access-control-") and name.lower() != "vary"
        ]
        kept += list(extra.items())
        return start_response(status, kept, exc_info) if exc_info else start_response(status, kept)

    return wrapped
