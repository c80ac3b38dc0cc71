"""Received-request view, caller authentication and each AWS protocol's error wire shape."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from emulator import sigv4
from emulator.state import Credential, EmulatorState

Protocol = Literal["oauth-json", "json", "query", "s3-xml"]

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

# OAuth `error` values of the sso-oidc error shapes (docs/aws.md#createtokenwithiam-errors).
OAUTH_ERRORS = {
    "InvalidRequestException": "invalid_request",
    "InvalidClientException": "invalid_client",
    "InvalidGrantException": "invalid_grant",
    "UnauthorizedClientException": "unauthorized_client",
    "UnsupportedGrantTypeException": "unsupported_grant_type",
    "InvalidScopeException": "invalid_scope",
    "AccessDeniedException": "access_denied",
    "ExpiredTokenException": "expired_token",
    "InternalServerException": "server_error",
    "SlowDownException": "slow_down",
}


class AwsError(Exception):
    """An AWS error response: code, message, HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields or {}  # extra error members: S3 <Region>, JSON Reason / ResourceType
        self.headers = headers or {}  # extra response headers, e.g. x-amz-bucket-region


@dataclass
class AwsRequest:
    """A received request with its raw (still-encoded) path and query, as SigV4 needs them."""

    method: str
    raw_path: str
    path: str
    raw_query: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    environ: dict[str, Any]
    caller: Credential | None = None
    operation: str = "Unknown"
    service: str = "unknown"
    annotations: dict[str, str] = field(default_factory=dict)
    # The bucket named by a virtual-hosted Host (`<bucket>.<emulator host>`), None for path style.
    virtual_bucket: str | None = None

    def s3_raw_path(self) -> str:
        """Return the still-encoded path in path style (`/bucket/key`) whatever the addressing style.

        SigV4 verification keeps using `raw_path`: the path as received, under the Host as received
        (docs/aws.md#virtual-hosted-addressing).
        """
        if self.virtual_bucket is None:
            return self.raw_path
        rest = "" if self.raw_path == "/" else self.raw_path
        return "/" + quote(self.virtual_bucket, safe="") + rest

    def arg(self, name: str) -> str | None:
        """Return the first query parameter `name`."""
        for key, value in self.query:
            if key == name:
                return value
        return None


def request_id() -> str:
    """Return a fresh request id."""
    return str(uuid.uuid4())


def error_response(protocol: Protocol, error: AwsError) -> Response:
    """Render an AwsError the way the service's protocol does on the wire."""
    rid = request_id()
    if protocol == "oauth-json":
        body = {"error": OAUTH_ERRORS.get(error.code, "server_error")}
        if error.message:  # some refusals carry no description (docs/aws.md#application-assignments)
            body["error_description"] = error.message
        return Response(
            json.dumps(body),
            status=error.status,
            headers={"x-amzn-ErrorType": error.code, "x-amzn-RequestId": rid},
            content_type="application/json",
        )
    if protocol == "json":
        return Response(
            json.dumps({"__type": error.code, "message": error.message, **error.fields}),
            status=error.status,
            headers={"x-amzn-ErrorType": error.code, "x-amzn-RequestId": rid},
            content_type="application/x-amz-json-1.1",
        )
    if protocol == "query":
        kind = "Receiver" if error.status >= 500 else "Sender"
        xml = (
            f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>{kind}</Type><Code>{escape(error.code)}</Code>'
            f"<Message>{escape(error.message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        )
        return Response(xml, status=error.status, headers={"x-amzn-RequestId": rid}, content_type="text/xml")
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
        + "".join(f"<{name}>{escape(value)}</{name}>" for name, value in error.fields.items())
        + f"<RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>"
    )
    return Response(
        xml,
        status=error.status,
        headers={"x-amz-request-id": rid, **error.headers},
        content_type="application/xml",
    )


@dataclass(frozen=True)
class AuthErrors:
    """The error code and status a service uses for each authentication failure."""

    missing: tuple[str, int]
    unknown_key: tuple[str, int]
    bad_token: tuple[str, int]
    expired: tuple[str, int]
    bad_signature: tuple[str, int]
    # X-Amz-Date of a header-signed request too far from the server's time (docs/aws.md#request-time-skew)
    skewed: tuple[str, int]


STS_AUTH = AuthErrors(
    missing=("MissingAuthenticationToken", 403),
    unknown_key=("InvalidClientTokenId", 403),
    bad_token=("InvalidClientTokenId", 403),
    expired=("ExpiredToken", 403),
    bad_signature=("SignatureDoesNotMatch", 403),
    skewed=("SignatureDoesNotMatch", 403),
)
S3_AUTH = AuthErrors(
    missing=("AccessDenied", 403),
    unknown_key=("InvalidAccessKeyId", 403),
    bad_token=("InvalidToken", 400),
    expired=("ExpiredToken", 400),
    bad_signature=("SignatureDoesNotMatch", 403),
    skewed=("RequestTimeTooSkewed", 403),
)
OIDC_AUTH = AuthErrors(
    missing=("AccessDeniedException", 400),
    unknown_key=("AccessDeniedException", 400),
    bad_token=("AccessDeniedException", 400),
    expired=("ExpiredTokenException", 400),
    bad_signature=("AccessDeniedException", 400),
    skewed=("InvalidSignatureException", 403),
)

MAX_SKEW_SECONDS = 15 * 60  # docs/aws.md#request-time-skew


def _amz(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def check_skew(signed: sigv4.SignedRequest, now: float, errors: AuthErrors) -> None:
    """Refuse a header-signed request whose X-Amz-Date is more than 15 minutes from `now`.

    Presigned URLs are judged by their own X-Amz-Date + X-Amz-Expires window instead.

    Raises:
        AwsError: S3's RequestTimeTooSkewed, or the "Signature expired" / "not yet current" of the others.
    """
    if signed.presigned:
        return
    try:
        signed_at = signed.signed_at().timestamp()
    except ValueError as exc:
        raise AwsError("IncompleteSignature", f"Invalid X-Amz-Date {signed.amz_date}", 400) from exc
    if abs(now - signed_at) <= MAX_SKEW_SECONDS:
        return
    code, status = errors.skewed
    if code == "RequestTimeTooSkewed":
        raise AwsError(
            code,
            "The difference between the request time and the current time is too large.",
            status,
            fields={
                "RequestTime": signed.amz_date,
                "ServerTime": iso8601(now),
                "MaxAllowedSkewMilliseconds": str(MAX_SKEW_SECONDS * 1000),
            },
        )
    if signed_at < now:
        message = (
            f"Signature expired: {signed.amz_date} is now earlier than "
            f"{_amz(now - MAX_SKEW_SECONDS)} ({_amz(now)} - 15 min.)"
        )
    else:
        message = (
            f"Signature not yet current: {signed.amz_date} is still later than "
            f"{_amz(now + MAX_SKEW_SECONDS)} ({_amz(now)} + 15 min.)"
        )
    raise AwsError(code, message, status)


def authenticate(state: EmulatorState, req: AwsRequest, errors: AuthErrors) -> Credential:
    """Verify the request's SigV4 signature against known credentials and return the caller.

    Raises:
        AwsError: with the service's code for a missing, unknown, expired or bad signature.
    """
    try:
        signed = sigv4.parse_request(req.headers, req.query)
    except sigv4.SignatureError as exc:
        raise AwsError(exc.code, exc.message, 400 if exc.code != "AccessDenied" else 403) from exc
    if signed is None:
        code, status = errors.missing
        raise AwsError(code, "Request is missing Authentication Token", status)
    now = state.now()
    check_skew(signed, now, errors)
    credential = state.lookup(signed.credential.access_key)
    if credential is None:
        code, status = errors.unknown_key
        raise AwsError(code, "The AWS Access Key Id you provided does not exist in our records.", status)
    if credential.session_token is not None and signed.security_token != credential.session_token:
        code, status = errors.bad_token
        raise AwsError(code, "The provided token is malformed or otherwise invalid.", status)
    if credential.expired(now):
        code, status = errors.expired
        raise AwsError(code, "The provided token has expired.", status)
    try:
        message = sigv4.HttpMessage(req.method, req.raw_path, req.raw_query, req.headers, req.body)
        sigv4.verify(signed, credential.secret_key, message)
    except sigv4.SignatureError as exc:
        if exc.code == "SignatureDoesNotMatch":
            code, status = errors.bad_signature
            raise AwsError(code, exc.message, status) from exc
        raise AwsError(exc.code, exc.message, 400) from exc
    req.caller = credential
    return credential


def iso8601(epoch: float) -> str:
    """Format epoch seconds as `2025-01-01T00:00:00Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
