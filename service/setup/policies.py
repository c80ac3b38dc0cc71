"""The policy documents a setup writes, and a normal form to compare them with what AWS answers.

IAM may answer a one-element list as a plain string, an account id as its root ARN and a document as
URL-encoded JSON; the normal form removes those differences so an unchanged policy plans no change.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from service.setup.model import LocationSpec

VERSION = "2012-10-17"
ACCESS_GRANTS_SERVICE = "access-grants.s3.amazonaws.com"
ACCOUNT_ID = re.compile(r"\d{12}")
_LISTED = frozenset({"Action", "NotAction", "Resource", "NotResource"})
# docs/aws.md#identity-bearer-role: what the broker's identity-enhanced sessions call.
BEARER_ACTIONS = ("s3:GetDataAccess", "s3:ListCallerAccessGrants", "s3:GetAccessGrantsInstanceForPrefix")
READ_OBJECTS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectAcl",
    "s3:GetObjectVersionAcl",
    "s3:ListMultipartUploadParts",
)
WRITE_OBJECTS = (
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:AbortMultipartUpload",
)


def principal_arn(principal: str) -> str:
    """Return an account id as the root ARN IAM stores for it; any other principal unchanged."""
    return f"arn:aws:iam::{principal}:root" if ACCOUNT_ID.fullmatch(principal) else principal


def _sorted_list(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    return sorted((principal_arn(i) if isinstance(i, str) else i for i in items), key=json.dumps)


def normal(document: Any) -> Any:
    """Return ``document`` (a dict, or JSON text as IAM may answer it) in the form policies compare in."""
    if isinstance(document, str):
        text = document if document.lstrip().startswith("{") else unquote(document)
        document = json.loads(text)
    return _normal(document)


def _normal(document: Any) -> Any:
    if isinstance(document, dict):
        result: dict[str, Any] = {}
        for key, value in document.items():
            if key in _LISTED:
                result[key] = _sorted_list(value)
            elif key == "Principal" and isinstance(value, dict):
                result[key] = {k: _sorted_list(v) for k, v in value.items()}
            elif key == "Statement":
                statements = value if isinstance(value, list) else [value]
                result[key] = sorted((_normal(s) for s in statements), key=json.dumps)
            else:
                result[key] = _normal(value)
        return result
    if isinstance(document, list):
        return [_normal(v) for v in document]
    return document


def same(left: Any, right: Any) -> bool:
    """Return True when two policy documents mean the same after normalisation."""
    return bool(normal(left) == normal(right))


def actor_policy(principals: tuple[str, ...]) -> dict[str, Any]:
    """Return the application's authentication method: who may call CreateTokenWithIAM on it."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": list(principals)},
                "Action": "sso-oauth:CreateTokenWithIAM",
                "Resource": "*",
            }
        ],
    }


def actor_principals(document: Any) -> frozenset[str]:
    """Return the principals an actor policy allows to call CreateTokenWithIAM."""
    found: set[str] = set()
    for statement in normal(document).get("Statement", []) if document else []:
        if statement.get("Effect") == "Allow" and "sso-oauth:CreateTokenWithIAM" in statement.get(
            "Action", []
        ):
            found.update(str(p) for p in (statement.get("Principal") or {}).get("AWS", []))
    return frozenset(found)


def bearer_trust(principals: tuple[str, ...], instance_arn: str) -> dict[str, Any]:
    """Return the identity-bearer role's trust policy (docs/aws.md#assumerole).

    Only assertions of this Identity Center instance are accepted (docs/aws.md#context-assertion-conditions).
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": list(principals)},
                "Action": ["sts:AssumeRole", "sts:SetContext"],
                "Condition": {
                    "StringEquals": {"sts:RequestContext/identitycenter:InstanceArn": instance_arn}
                },
            }
        ],
    }


def bearer_policy(resources: tuple[str, ...]) -> dict[str, Any]:
    """Return the identity-bearer role's policy: the Access Grants calls of its sessions."""
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Action": list(BEARER_ACTIONS), "Resource": list(resources)}],
    }


def location_trust(account: str) -> dict[str, Any]:
    """Return the location role's trust policy: S3 Access Grants of this account may assume it."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ACCESS_GRANTS_SERVICE},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:SetContext"],
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def location_policy(locations: tuple[LocationSpec, ...], account: str, instance_arn: str) -> dict[str, Any]:
    """Return the location role's S3 policy for the buckets the locations name (AWS's documented one)."""
    buckets = sorted({loc.scope[len("s3://") :].split("/", 1)[0] or "*" for loc in locations}) or ["*"]
    if "*" in buckets:
        buckets = ["*"]
    condition = {
        "StringEquals": {"aws:ResourceAccount": account},
        "ArnEquals": {"s3:AccessGrantsInstanceArn": [instance_arn]},
    }
    objects = [f"arn:aws:s3:::{bucket}/*" for bucket in buckets]
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ObjectLevelRead",
                "Effect": "Allow",
                "Action": list(READ_OBJECTS),
                "Resource": objects,
                "Condition": condition,
            },
            {
                "Sid": "ObjectLevelWrite",
                "Effect": "Allow",
                "Action": list(WRITE_OBJECTS),
                "Resource": objects,
                "Condition": condition,
            },
            {
                "Sid": "BucketLevelRead",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}" for bucket in buckets],
                "Condition": condition,
            },
        ],
    }
