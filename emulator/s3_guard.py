"""S3 guard in front of moto's storage: authenticates requests, confines vended credentials to their grant."""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto.s3.models import s3_backends
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Request

from emulator import sigv4
from emulator.access_grants.matching import covers
from emulator.s3_operations import READ, WRITE, S3Operation, classify
from emulator.state import Credential, EmulatorState
from emulator.wire import S3_AUTH, AwsError, AwsRequest, authenticate

MAX_PRESIGN_EXPIRES = 604800  # 7 days (docs/aws.md#presigned-urls)
BUCKET_REGION_HEADER = "x-amz-bucket-region"


def _in_scope(scope: str, bucket: str, key: str) -> bool:
    uri = f"s3://{bucket}/{key}"
    if scope.endswith("*"):
        return uri.startswith(scope[:-1])
    return uri == scope


def _scope_bucket(scope: str) -> str:
    return scope[5:].split("/", 1)[0].rstrip("*")


def _check_signed_region(req: AwsRequest, presigned: str | None, region: str) -> None:
    """Refuse a request signed for another region than the bucket's, as S3 does (before the signature)."""
    scope: sigv4.CredentialScope | None
    try:
        if presigned is not None:
            scope = sigv4.parse_credential(presigned)
        else:
            scope = sigv4.credential_from_authorization(req.headers.get("authorization", ""))
    except sigv4.SignatureError:
        return  # malformed: authentication reports it
    if scope is None or scope.region == region:
        return
    code = "AuthorizationQueryParametersError" if presigned is not None else "AuthorizationHeaderMalformed"
    raise _wrong_region(code, scope.region, region)


def _wrong_region(code: str, signed: str, expected: str) -> AwsError:
    what = (
        "Error parsing the X-Amz-Credential parameter"
        if code == "AuthorizationQueryParametersError"
        else "The authorization header is malformed"
    )
    return AwsError(
        code,
        f"{what}; the region '{signed}' is wrong; expecting '{expected}'",
        400,
        fields={"Region": expected},
        headers={BUCKET_REGION_HEADER: expected},
    )


def _permits(granted: str | None, needs: str) -> bool:
    return granted in (needs, "READWRITE")


class S3Guard:
    """Authenticate S3 requests; vended credentials are confined to their scope and permission."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def check(self, req: AwsRequest) -> None:
        """Raise AwsError (S3 XML codes) unless the request may reach moto's storage.

        Raises:
            AwsError: AccessDenied, ExpiredToken, SignatureDoesNotMatch, InvalidAccessKeyId, ….
        """
        op = classify(req)
        req.operation = op.name
        if req.method == "OPTIONS":
            return
        region = self.bucket_region(op.bucket) if op.bucket is not None else None
        try:
            self._check(req, op, region)
        except AwsError as err:
            # S3 names an existing bucket's region on its errors too (HeadBucket's 403 included).
            if region is not None:
                err.headers.setdefault(BUCKET_REGION_HEADER, region)
            raise

    def bucket_region(self, bucket: str) -> str | None:
        """Return the region of an existing bucket, or None."""
        found = s3_backends[self.state.account_id]["aws"].buckets.get(bucket)
        return str(found.region_name) if found is not None else None

    def _check(self, req: AwsRequest, op: S3Operation, region: str | None) -> None:
        if op.name == "PostObject":
            self._check_post(req, op, region)
            return
        presigned = req.arg("X-Amz-Credential")
        if region is not None:
            _check_signed_region(req, presigned, region)
        if presigned is not None:
            self._check_presigned_window(req)
        caller = authenticate(self.state, req, S3_AUTH)
        self._authorize(req, caller, op)

    def _check_presigned_window(self, req: AwsRequest) -> None:
        try:
            expires = int(req.arg("X-Amz-Expires") or "")
        except ValueError as exc:
            raise AwsError(
                "AuthorizationQueryParametersError", "X-Amz-Expires should be a number", 400
            ) from exc
        if expires < 1:
            raise AwsError("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative", 400)
        if expires > MAX_PRESIGN_EXPIRES:
            raise AwsError(
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds); "
                "that is, the given X-Amz-Expires must be less than 604800 seconds",
                400,
            )
        try:
            signed_at = datetime.strptime(req.arg("X-Amz-Date") or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError as exc:
            raise AwsError(
                "AuthorizationQueryParametersError", "X-Amz-Date must be in ISO 8601 format", 400
            ) from exc
        if self.state.now() > signed_at.timestamp() + expires:
            raise AwsError("AccessDenied", "Request has expired", 403)

    def _authorize(self, req: AwsRequest, caller: Credential, op: S3Operation) -> None:
        if caller.kind == "iam_user":
            return
        if caller.kind != "vended":
            raise AwsError("AccessDenied", "Access Denied", 403)
        if caller.identity is not None:
            req.annotations["on_behalf_of"] = caller.identity.user_id
        scope = caller.scope or ""
        if op.needs is None or op.bucket is None or not _permits(caller.permission, op.needs):
            raise AwsError("AccessDenied", "Access Denied", 403)
        if op.name in {"HeadBucket", "GetBucketLocation"}:
            if _scope_bucket(scope) != op.bucket:
                raise AwsError("AccessDenied", "Access Denied", 403)
            return
        if op.list_prefix is not None:
            if not covers(scope, f"s3://{op.bucket}/{op.list_prefix}*"):
                raise AwsError("AccessDenied", "Access Denied", 403)
            return
        keys = list(op.keys)
        if op.name == "CopyObject":
            source = unquote(req.headers.get("x-amz-copy-source", "")).lstrip("/").split("?", 1)[0]
            src_bucket, _, src_key = source.partition("/")
            if src_bucket != op.bucket or not _permits(caller.permission, READ):
                raise AwsError("AccessDenied", "Access Denied", 403)
            keys.append(src_key)
        if not keys or not all(_in_scope(scope, op.bucket, k) for k in keys):
            raise AwsError("AccessDenied", "Access Denied", 403)

    # --- presigned POST ---------------------------------------------------------------------------

    def _check_post(self, req: AwsRequest, op: S3Operation, region: str | None) -> None:
        form_req = Request(
            {**req.environ, "wsgi.input": io.BytesIO(req.body), "CONTENT_LENGTH": str(len(req.body))}
        )
        try:
            self._check_post_form(req, op, form_req, region)
        finally:
            form_req.close()

    def _check_post_form(
        self, req: AwsRequest, op: S3Operation, form_req: Request, region: str | None
    ) -> None:
        fields = {k.lower(): v for k, v in form_req.form.items()}
        upload = form_req.files.get("file")
        policy_b64 = fields.get("policy", "")
        credential_field = fields.get("x-amz-credential")
        if not policy_b64 or not credential_field:
            raise AwsError("AccessDenied", "Access Denied", 403)
        try:
            scope = sigv4.parse_credential(credential_field)
        except sigv4.SignatureError as exc:
            raise AwsError("InvalidArgument", exc.message, 400) from exc
        if region is not None and scope.region != region:
            raise _wrong_region("AuthorizationQueryParametersError", scope.region, region)
        caller = self.state.lookup(scope.access_key)
        if caller is None:
            raise AwsError(
                "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
            )
        if caller.session_token is not None and fields.get("x-amz-security-token") != caller.session_token:
            raise AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        if caller.expired(self.state.now()):
            raise AwsError("ExpiredToken", "The provided token has expired.", 400)
        expected = sigv4.post_policy_signature(caller.secret_key, scope, policy_b64)
        if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
            raise AwsError(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                403,
            )
        req.caller = caller
        key = fields.get("key", "")
        if "${filename}" in key and upload is not None:
            key = key.replace("${filename}", upload.filename or "")
        self._check_policy(policy_b64, {**fields, "bucket": op.bucket or "", "key": key}, upload)
        self._authorize(req, caller, S3Operation("PostObject", op.bucket, (key,), WRITE))

    def _check_policy(self, policy_b64: str, fields: dict[str, str], upload: FileStorage | None) -> None:
        try:
            policy: dict[str, Any] = json.loads(base64.b64decode(policy_b64))
            expiration = datetime.strptime(policy["expiration"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AwsError("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.", 400) from exc
        if self.state.now() > expiration.timestamp():
            raise AwsError("AccessDenied", "Invalid according to Policy: Policy expired.", 403)
        size = len(upload.stream.read()) if upload is not None else 0
        failed = AwsError("AccessDenied", "Invalid according to Policy: Policy Condition failed", 403)
        for condition in policy.get("conditions", []):
            if isinstance(condition, dict):
                for name, value in condition.items():
                    if fields.get(name.lower()) != value:
                        raise failed
            elif isinstance(condition, list) and len(condition) == 3:
                kind, subject, value = condition
                if kind == "content-length-range":
                    if not int(subject) <= size <= int(value):
                        raise AwsError(
                            "EntityTooLarge" if size > int(value) else "EntityTooSmall",
                            "Your proposed upload size is outside the allowed range",
                            400,
                        )
                    continue
                actual = fields.get(str(subject).lstrip("$").lower(), "")
                if (kind == "eq" and actual != value) or (
                    kind == "starts-with" and not actual.startswith(value)
                ):
                    raise failed
