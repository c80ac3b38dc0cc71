"""AWS Signature Version 4 parsing and verification for requests received by the emulator."""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<sh>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]+)"
)
# botocore signs S3 and s3-control paths as sent; every other service gets the path normalized and
# percent-encoded a second time (botocore.auth.SigV4Auth._normalize_url_path).
_RAW_PATH_SERVICES = frozenset({"s3"})


class SignatureError(Exception):
    """A request's SigV4 signature is malformed or does not verify."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CredentialScope:
    """The `Credential=` element: access key, date, region, service."""

    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        """Return the credential scope string (without the access key)."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class SignedRequest:
    """The SigV4 elements of a request, from its Authorization header or its presigned query."""

    credential: CredentialScope
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    presigned: bool
    expires: int | None
    security_token: str | None

    def signed_at(self) -> datetime:
        """Return X-Amz-Date as an aware datetime."""
        return datetime.strptime(self.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class HttpMessage:
    """The parts of a received request that SigV4 covers (raw path and query, lower-case header names)."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes


def parse_credential(value: str) -> CredentialScope:
    """Split `AKID/date/region/service/aws4_request`."""
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise SignatureError("AuthorizationHeaderMalformed", f"Malformed credential scope: {value}")
    return CredentialScope(parts[0], parts[1], parts[2], parts[3])


def credential_from_authorization(header: str) -> CredentialScope | None:
    """Return the credential scope of an `Authorization` header, or None if it is not SigV4."""
    match = _AUTH_RE.match(header.strip())
    if not match:
        return None
    return parse_credential(match.group("cred"))


def parse_request(headers: dict[str, str], query: list[tuple[str, str]]) -> SignedRequest | None:
    """Extract the SigV4 elements; None when the request carries no SigV4 authentication.

    `headers` must have lower-case names.
    """
    auth = headers.get("authorization")
    if auth:
        match = _AUTH_RE.match(auth.strip())
        if not match:
            raise SignatureError("AuthorizationHeaderMalformed", "Unsupported Authorization header")
        amz_date = headers.get("x-amz-date", "")
        if not amz_date:
            raise SignatureError(
                "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
            )
        return SignedRequest(
            credential=parse_credential(match.group("cred")),
            signed_headers=tuple(match.group("sh").split(";")),
            signature=match.group("sig"),
            amz_date=amz_date,
            presigned=False,
            expires=None,
            security_token=headers.get("x-amz-security-token"),
        )
    params = dict(query)
    if "X-Amz-Credential" not in params:
        return None
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise SignatureError(
            "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports AWS4-HMAC-SHA256"
        )
    try:
        expires = int(params["X-Amz-Expires"])
    except (KeyError, ValueError) as exc:
        raise SignatureError("AuthorizationQueryParametersError", "X-Amz-Expires must be a number") from exc
    return SignedRequest(
        credential=parse_credential(params["X-Amz-Credential"]),
        signed_headers=tuple(params.get("X-Amz-SignedHeaders", "host").split(";")),
        signature=params.get("X-Amz-Signature", ""),
        amz_date=params.get("X-Amz-Date", ""),
        presigned=True,
        expires=expires,
        security_token=params.get("X-Amz-Security-Token"),
    )


def _canonical_path(raw_path: str, service: str) -> str:
    if service in _RAW_PATH_SERVICES:
        return raw_path or "/"
    normalized = posixpath.normpath(raw_path) if raw_path else "/"
    if raw_path.endswith("/") and normalized != "/":
        normalized += "/"
    normalized = normalized.replace("//", "/")
    return quote(normalized, safe="/~")


def canonical_query(raw_query: str, exclude_signature: bool) -> str:
    """Return the canonical query string: decoded pairs re-encoded RFC 3986 style and sorted."""
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    encoded = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in pairs
        if not (exclude_signature and k == "X-Amz-Signature")
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def _canonical_header_value(value: str) -> str:
    return " ".join(value.strip().split())


def signing_key(secret_key: str, scope: CredentialScope) -> bytes:
    """Derive the SigV4 signing key for a credential scope."""
    key = _hmac(("AWS4" + secret_key).encode(), scope.date)
    key = _hmac(key, scope.region)
    key = _hmac(key, scope.service)
    return _hmac(key, "aws4_request")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def expected_signature(
    signed: SignedRequest,
    secret_key: str,
    message: HttpMessage,
) -> str:
    """Compute the signature the request should carry if signed with `secret_key`."""
    method, raw_path, raw_query = message.method, message.raw_path, message.raw_query
    headers, body = message.headers, message.body
    service = signed.credential.service
    if signed.presigned:
        payload_hash = dict(parse_qsl(raw_query)).get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD)
    elif "x-amz-content-sha256" in headers:
        payload_hash = headers["x-amz-content-sha256"]
    else:
        payload_hash = hashlib.sha256(body).hexdigest()
    canonical_headers = "".join(
        f"{name}:{_canonical_header_value(headers.get(name, ''))}\n" for name in signed.signed_headers
    )
    canonical_request = "\n".join(
        [
            method.upper(),
            _canonical_path(raw_path, service),
            canonical_query(raw_query, exclude_signature=signed.presigned),
            canonical_headers,
            ";".join(signed.signed_headers),
            payload_hash,
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            signed.amz_date,
            signed.credential.scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    return hmac.new(
        signing_key(secret_key, signed.credential), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()


def verify(
    signed: SignedRequest,
    secret_key: str,
    message: HttpMessage,
) -> None:
    """Raise SignatureError unless the signature and the declared payload hash verify.

    Raises:
        SignatureError: `SignatureDoesNotMatch` or `XAmzContentSHA256Mismatch`.
    """
    headers, body = message.headers, message.body
    if "host" not in signed.signed_headers:
        raise SignatureError("AccessDenied", "The host header must be signed")
    declared = headers.get("x-amz-content-sha256")
    if (
        not signed.presigned
        and declared
        and re.fullmatch(r"[0-9a-f]{64}", declared)
        and hashlib.sha256(body).hexdigest() != declared
    ):
        raise SignatureError(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    expected = expected_signature(signed, secret_key, message)
    if not hmac.compare_digest(expected, signed.signature):
        raise SignatureError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )


def post_policy_signature(secret_key: str, scope: CredentialScope, policy_b64: str) -> str:
    """Return the SigV4 signature of a browser POST policy (HMAC over the base64 policy)."""
    return hmac.new(signing_key(secret_key, scope), policy_b64.encode(), hashlib.sha256).hexdigest()


def raw_path_of(request_uri: str) -> str:
    """Return the still-encoded path part of a request URI."""
    path = request_uri.split("?", 1)[0]
    if path.startswith(("http://", "https://")):
        path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
    return path or "/"


def decoded(value: str) -> str:
    """Percent-decode a path segment."""
    return unquote(value)
