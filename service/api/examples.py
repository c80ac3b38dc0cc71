"""Example requests and answers of every operation, shown in /docs and openapi/openapi.json.

Values are illustrative (the demo scenario's users and buckets, AWS's documentation key ids); a test
validates each one against the schema it illustrates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.api.responses import Example

_EXPIRATION = "2025-01-01T13:00:00Z"
_CREDENTIALS = {
    "access_key_id": "ASIAIOSFODNN7EXAMPLE",
    "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "session_token": "IQoJb3JpZ2luX2VjEXAMPLE...",
    "expiration": _EXPIRATION,
    "matched_grant_target": "s3://demo-data/users/alice/*",
    "grantee": {"type": "DIRECTORY_USER", "identifier": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"},
    "region": "us-east-1",
}
_PRESIGNED_GET = {
    "url": (
        "https://demo-data.s3.us-east-1.amazonaws.com/users/alice/notes.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=ASIAIOSFODNN7EXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20250101T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
        "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE&X-Amz-Signature=EXAMPLE"
    ),
    "method": "GET",
    "expires_at": "2025-01-01T12:15:00Z",
    "headers": {},
}
_PRESIGNED_PUT = {
    "url": "https://demo-data.s3.us-east-1.amazonaws.com/users/alice/upload.csv?X-Amz-Algorithm=…",
    "method": "PUT",
    "expires_at": "2025-01-01T12:15:00Z",
    "headers": {"Content-Type": "text/csv"},
}


@dataclass(frozen=True)
class OperationExamples:
    """What one operation shows: request body examples and success answer examples by status."""

    request: dict[str, Example] = field(default_factory=dict)
    answers: dict[int, dict[str, Example]] = field(default_factory=dict)


def _one(summary: str, value: Any) -> dict[str, Example]:
    return {"default": {"summary": summary, "value": value}}


OPERATION_EXAMPLES: dict[str, OperationExamples] = {
    "getCredentials": OperationExamples(
        request={
            "read-prefix": {
                "summary": "Read everything under a prefix",
                "value": {"target": "s3://demo-data/users/alice/*", "permission": "READ"},
            },
            "write-object-short": {
                "summary": "Write one object, credentials for 15 minutes",
                "value": {
                    "target": "s3://demo-data/users/alice/upload.csv",
                    "permission": "WRITE",
                    "duration_seconds": 900,
                    "privilege": "Minimal",
                },
            },
        },
        answers={
            200: {
                "json": {"summary": "format=json (the default)", "value": _CREDENTIALS},
                "credential_process": {
                    "summary": "format=credential_process (the AWS CLI shape)",
                    "value": {
                        "Version": 1,
                        "AccessKeyId": _CREDENTIALS["access_key_id"],
                        "SecretAccessKey": _CREDENTIALS["secret_access_key"],
                        "SessionToken": _CREDENTIALS["session_token"],
                        "Expiration": _EXPIRATION,
                    },
                },
            }
        },
    ),
    "presignUrl": OperationExamples(
        request={
            "download": {
                "summary": "Download one object",
                "value": {"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET"},
            },
            "upload": {
                "summary": "Upload one object with a content type",
                "value": {
                    "bucket": "demo-data",
                    "key": "users/alice/upload.csv",
                    "method": "PUT",
                    "expires_in": 300,
                    "content_type": "text/csv",
                },
            },
        },
        answers={200: _one("A presigned GET", _PRESIGNED_GET)},
    ),
    "presignBatch": OperationExamples(
        request=_one(
            "Two downloads, one outside the caller's grants",
            {
                "items": [
                    {"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET"},
                    {"bucket": "demo-data", "key": "users/bob/todo.txt", "method": "GET"},
                ]
            },
        ),
        answers={
            200: _one(
                "One URL and one refused item, in request order",
                {
                    "results": [
                        _PRESIGNED_GET,
                        {
                            "error": {
                                "code": "access_denied",
                                "detail": "no S3 Access Grant gives READ on s3://demo-data/users/bob/todo.txt",
                            }
                        },
                    ]
                },
            )
        },
    ),
    "presignPost": OperationExamples(
        request={
            "one-key": {
                "summary": "A form upload of one key, at most 10 MiB",
                "value": {
                    "bucket": "demo-data",
                    "key": "users/alice/photo.png",
                    "content_type": "image/png",
                    "max_bytes": 10485760,
                },
            },
            "any-key-under-prefix": {
                "summary": "A form upload of any key under a prefix",
                "value": {"bucket": "demo-data", "key_prefix": "users/alice/uploads/"},
            },
        },
        answers={
            200: _one(
                "The form target and its fields (send them before the file)",
                {
                    "url": "https://demo-data.s3.us-east-1.amazonaws.com/",
                    "fields": {
                        "key": "users/alice/photo.png",
                        "Content-Type": "image/png",
                        "x-amz-algorithm": "AWS4-HMAC-SHA256",
                        "x-amz-credential": "ASIAIOSFODNN7EXAMPLE/20250101/us-east-1/s3/aws4_request",
                        "x-amz-date": "20250101T120000Z",
                        "x-amz-security-token": "IQoJb3JpZ2luX2VjEXAMPLE...",
                        "policy": "eyJleHBpcmF0aW9uIjoiMjAyNS0wMS0wMVQxMjoxNTowMFoiLEXAMPLE",
                        "x-amz-signature": "EXAMPLE",
                    },
                    "expires_at": "2025-01-01T12:15:00Z",
                },
            )
        },
    ),
    "presignList": OperationExamples(
        request=_one(
            "The keys and folders directly under a prefix",
            {"bucket": "demo-data", "prefix": "users/alice/", "delimiter": "/", "expires_in": 300},
        ),
        answers={
            200: _one(
                "A presigned ListObjectsV2 GET",
                {
                    "url": "https://demo-data.s3.us-east-1.amazonaws.com/?list-type=2&prefix=users%2Falice%2F"
                    "&delimiter=%2F&encoding-type=url&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=EXAMPLE",
                    "method": "GET",
                    "expires_at": "2025-01-01T12:05:00Z",
                },
            )
        },
    ),
    "listGrants": OperationExamples(
        answers={
            200: _one(
                "The caller's grants",
                {
                    "grants": [
                        {
                            "grant_scope": "s3://demo-data/users/alice/*",
                            "permission": "READWRITE",
                            "application_arn": None,
                        },
                        {
                            "grant_scope": "s3://demo-data/shared/all-apps/*",
                            "permission": "READ",
                            "application_arn": "ALL",
                        },
                    ]
                },
            )
        }
    ),
    "getMe": OperationExamples(
        answers={
            200: _one(
                "The caller and their identity session",
                {
                    "issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
                    "subject": "3f1e2d3c-4b5a-6978-8091-EXAMPLE22222",
                    "username": "alice",
                    "idc_user_id": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
                    "identity_store_arn": "arn:aws:identitystore::111122223333:identitystore/d-9067c1a2b3",
                    "session_expiration": _EXPIRATION,
                },
            )
        }
    ),
    "signOut": OperationExamples(),  # 204: no body either way
    "getHealth": OperationExamples(answers={200: _one("Serving", {"status": "ok"})}),
    "getReadiness": OperationExamples(
        answers={
            200: _one(
                "Ready", {"status": "ready", "checks": {"cache": "ok", "jwks": "ok", "configuration": "ok"}}
            ),
            503: _one(
                "Not ready: the cache does not answer",
                {
                    "status": "not ready",
                    "checks": {"cache": "unreachable", "jwks": "ok", "configuration": "ok"},
                },
            ),
        }
    ),
    "getMetrics": OperationExamples(
        answers={
            200: _one(
                "Prometheus text",
                "# HELP tipb_http_requests_total HTTP requests by route template and status\n"
                "# TYPE tipb_http_requests_total counter\n"
                'tipb_http_requests_total{route="/v1/credentials",status="200"} 42\n',
            )
        }
    ),
    "revoke": OperationExamples(
        request={
            "subject": {
                "summary": "Sign one user out everywhere",
                "value": {"subject": "3f1e2d3c-4b5a-6978-8091-EXAMPLE22222"},
            },
            "token": {"summary": "Refuse one ID token by its jti", "value": {"token_id": "a0b1c2d3-EXAMPLE"}},
            "everyone": {"summary": "Break glass: every user signs in again", "value": {"everyone": True}},
        },
        answers={
            200: _one(
                "One user revoked",
                {
                    "revoked": "subject",
                    "issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
                    "subject": "3f1e2d3c-4b5a-6978-8091-EXAMPLE22222",
                },
            )
        },
    ),
}
