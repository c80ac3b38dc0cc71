"""Which emulated AWS service a request is for, and under which operation name, as AWS endpoints tell."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import parse_qsl, quote

from werkzeug.wsgi import get_input_stream

from emulator import hosted_ui, sigv4
from emulator.sts import form_params
from emulator.wire import AwsRequest, Protocol

# SigV4 signing name → moto backend / emulator service name.
SIGNING_NAMES = {"sso-oauth": "sso-oidc", "sso": "sso-admin", "email": "ses"}
JSON_TARGETS = {
    "AWSCognitoIdentityProviderService": "cognito-idp",
    "AWSIdentityStore": "identitystore",
    "SWBExternalService": "sso-admin",
}
PROTOCOLS: dict[str, Protocol] = {
    "sso-oidc": "oauth-json",
    "sts": "query",
    "iam": "query",
    "s3": "s3-xml",
    "s3control": "s3-xml",
}
WELL_KNOWN_RE = re.compile(r"/[^/]+/\.well-known/(jwks\.json|openid-configuration)")
# An S3 bucket name as virtual-hosted addressing can carry it (docs/aws.md#virtual-hosted-addressing).
BUCKET_HOST_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    return headers


def build_request(environ: dict[str, Any]) -> AwsRequest:
    """Read the body once and keep the raw path and query for signature checks."""
    body = get_input_stream(environ).read()
    raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/"))
    raw_path = sigv4.raw_path_of(raw_uri)
    raw_query = environ.get("QUERY_STRING", "")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return AwsRequest(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        raw_path=raw_path,
        path=environ.get("PATH_INFO", "/") or "/",
        raw_query=raw_query,
        query=parse_qsl(raw_query, keep_blank_values=True),
        headers=_headers(environ),
        body=body,
        environ=environ,
    )


def detect_service(req: AwsRequest) -> str:
    """Name the AWS service a request is for: credential scope, path, target header, action."""
    if req.path.startswith("/_emulator/") or req.path == "/_emulator":
        return "admin"
    if req.path.startswith("/v20180820/"):
        return "s3control"
    auth = req.headers.get("authorization", "")
    scope = sigv4.credential_from_authorization(auth) if auth else None
    if scope is None and req.arg("X-Amz-Credential"):
        try:
            scope = sigv4.parse_credential(req.arg("X-Amz-Credential") or "")
        except sigv4.SignatureError:
            scope = None
    if scope is not None:
        return SIGNING_NAMES.get(scope.service.lower(), scope.service.lower())
    target = req.headers.get("x-amz-target", "")
    if target:
        return JSON_TARGETS.get(target.split(".", 1)[0], "unknown")
    if WELL_KNOWN_RE.fullmatch(req.path) or hosted_ui.owns(req.path):
        return "cognito-idp"
    if req.path in ("/token", "/client/register", "/device_authorization"):
        return "sso-oidc"
    is_form = req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if (
        req.method == "POST"
        and is_form
        and form_params(req).get("Action") in ("AssumeRoleWithWebIdentity", "AssumeRoleWithSAML")
    ):
        return "sts"
    return "s3"


def split_virtual_host(host: str, base_hosts: frozenset[str]) -> tuple[str, str] | None:
    """Return `(bucket, emulator host[:port])` for a Host `<bucket>.<emulator host>[:port]`, else None.

    `base_hosts` are the names the emulator answers to (lower case, without port).
    """
    name, sep, port = host.lower().rpartition(":")
    if not sep or not port.isdigit():
        name, port = host.lower(), ""
    for base in base_hosts:
        if name.endswith("." + base):
            bucket = name[: -len(base) - 1]
            if BUCKET_HOST_RE.fullmatch(bucket):
                return bucket, base + (f":{port}" if port else "")
    return None


def operation_hint(service: str, req: AwsRequest) -> str:
    """Name the operation from what the request shows without parsing it for its handler."""
    target = req.headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    if PROTOCOLS.get(service) == "query":
        return form_params(req).get("Action", "Unknown")
    match = WELL_KNOWN_RE.fullmatch(req.path)
    if match:
        return "GetJwks" if match.group(1) == "jwks.json" else "GetOpenIdConfiguration"
    return f"{req.method} {req.path}"
