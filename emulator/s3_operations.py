"""Name an S3 request's operation, its bucket and keys, and the grant permission it needs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import unquote

from emulator.wire import AwsError, AwsRequest

READ, WRITE = "READ", "WRITE"


@dataclass(frozen=True)
class S3Operation:
    """An S3 request classified: operation name, bucket, keys touched, permission needed."""

    name: str
    bucket: str | None
    keys: tuple[str, ...]
    needs: str | None
    list_prefix: str | None = None


def _has(req: AwsRequest, name: str) -> bool:
    return any(k == name for k, _ in req.query)


# (method, sub-resource query parameter) → (operation, permission needed; None = never via a grant).
_OBJECT_SUBRESOURCES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("GET", "uploadId"): ("ListParts", READ),
    ("GET", "acl"): ("GetObjectAcl", READ),
    ("GET", "attributes"): ("GetObjectAttributes", READ),
    ("GET", "tagging"): ("GetObjectTagging", None),
    ("PUT", "uploadId"): ("UploadPart", WRITE),
    ("PUT", "acl"): ("PutObjectAcl", WRITE),
    ("PUT", "tagging"): ("PutObjectTagging", None),
    ("PUT", "retention"): ("PutObjectRetention", None),
    ("PUT", "legal-hold"): ("PutObjectLegalHold", None),
    ("POST", "uploads"): ("CreateMultipartUpload", WRITE),
    ("POST", "uploadId"): ("CompleteMultipartUpload", WRITE),
    ("DELETE", "uploadId"): ("AbortMultipartUpload", WRITE),
}
_OBJECT_DEFAULTS: dict[str, tuple[str, str | None]] = {
    "GET": ("GetObject", READ),
    "HEAD": ("HeadObject", READ),
    "PUT": ("PutObject", WRITE),
    "DELETE": ("DeleteObject", WRITE),
}
_LIST_PARAMS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "marker",
        "continuation-token",
        "start-after",
        "encoding-type",
        "fetch-owner",
    }
)
_BUCKET_LISTS = {"uploads": "ListMultipartUploads", "versions": "ListObjectVersions"}


def classify(req: AwsRequest) -> S3Operation:
    """Name the S3 operation of a request and the permission it needs (None = not grantable)."""
    bucket_raw, _, key_raw = req.s3_raw_path().lstrip("/").partition("/")
    bucket = unquote(bucket_raw)
    if not bucket:
        return S3Operation("ListBuckets", None, (), None)
    if key_raw:
        return _classify_object(req, bucket, unquote(key_raw))
    return _classify_bucket(req, bucket)


def _classify_bucket(req: AwsRequest, bucket: str) -> S3Operation:
    m = req.method
    if m == "HEAD":
        return S3Operation("HeadBucket", bucket, (), READ)
    if m == "GET":
        for param, name in _BUCKET_LISTS.items():
            if _has(req, param):
                return S3Operation(name, bucket, (), READ, req.arg("prefix") or "")
        if _has(req, "location"):
            return S3Operation("GetBucketLocation", bucket, (), READ)
        # A presigned list carries its SigV4 query parameters (X-Amz-*) besides the list's own.
        if all(k in _LIST_PARAMS or k.startswith("X-Amz-") for k, _ in req.query):
            name = "ListObjectsV2" if req.arg("list-type") == "2" else "ListObjects"
            return S3Operation(name, bucket, (), READ, req.arg("prefix") or "")
    if m == "POST" and _has(req, "delete"):
        return S3Operation("DeleteObjects", bucket, _delete_keys(req.body), WRITE)
    if m == "POST" and req.headers.get("content-type", "").startswith("multipart/form-data"):
        return S3Operation("PostObject", bucket, (), WRITE)
    names = {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "GET": "GetBucketSubresource"}
    return S3Operation(names.get(m, "BucketOperation"), bucket, (), None)


def _classify_object(req: AwsRequest, bucket: str, key: str) -> S3Operation:
    method = "GET" if req.method == "HEAD" else req.method
    for (m, param), (name, needs) in _OBJECT_SUBRESOURCES.items():
        if m == method and _has(req, param):
            return S3Operation(name, bucket, (key,), needs)
    if req.method == "PUT" and "x-amz-copy-source" in req.headers:
        return S3Operation("CopyObject", bucket, (key,), WRITE)
    name, needs = _OBJECT_DEFAULTS.get(req.method, (f"{req.method}Object", None))
    return S3Operation(name, bucket, (key,), needs)


def _delete_keys(body: bytes) -> tuple[str, ...]:
    try:
        root = ET.fromstring(body)  # noqa: S314 - local emulator parsing its own clients' requests
    except ET.ParseError as exc:
        raise AwsError("MalformedXML", "The XML you provided was not well-formed", 400) from exc
    return tuple(el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Key")
