"""The S3 POST policy and form fields of a browser upload, signed as botocore's generate_presigned_post."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from service.adapters.sigv4_keys import ALGORITHM, Identity
from service.domain.credentials import TemporaryCredentials


def post_form_fields(
    credentials: TemporaryCredentials,
    identity: Identity,
    *,
    bucket: str,
    form_key: str,
    content_type: str | None,
    max_bytes: int | None,
    amz_date: str,
    expiration: str,
) -> dict[str, str]:
    """Return the form fields (policy and signature included) for an upload of ``form_key``."""

    fields: dict[str, str] = {}
    conditions: list[dict[str, str] | list[str | int]] = []
    if content_type is not None:
        fields["Content-Type"] = content_type
        conditions.append({"Content-Type": content_type})
    if max_bytes is not None:
        # Minimum 1 rejects empty uploads (docs/aws.md#presigned-post).
        conditions.append(["content-length-range", 1, max_bytes])
    conditions.append({"bucket": bucket})
    # botocore turns any key ending in ${filename} into a starts-with condition.
    if form_key.endswith("${filename}"):
        conditions.append(["starts-with", "$key", form_key[: -len("${filename}")]])
    else:
        conditions.append({"key": form_key})
    fields["key"] = form_key
    fields["x-amz-algorithm"] = ALGORITHM
    fields["x-amz-credential"] = identity.credential
    fields["x-amz-date"] = amz_date
    fields["x-amz-security-token"] = credentials.session_token
    conditions.append({"x-amz-algorithm": ALGORITHM})
    conditions.append({"x-amz-credential": identity.credential})
    conditions.append({"x-amz-date": amz_date})
    conditions.append({"x-amz-security-token": credentials.session_token})
    policy = base64.b64encode(
        json.dumps({"expiration": expiration, "conditions": conditions}).encode()
    ).decode()
    fields["policy"] = policy
    fields["x-amz-signature"] = hmac.new(identity.signing_key, policy.encode(), hashlib.sha256).hexdigest()
    return fields
