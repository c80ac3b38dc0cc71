"""SigV4Presigner against botocore itself: byte-identical URLs and POST forms for the same clock."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

import boto3
import botocore.credentials
import pytest
from botocore.config import Config
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.adapters.s3_presigner import SigV4Presigner
from service.domain.credentials import TemporaryCredentials

_NOW = datetime(2026, 11, 27, 12, 1, 42, 123456, tzinfo=UTC)
_CREDS = TemporaryCredentials(
    access_key_id="ASIAEXAMPLE",
    secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    session_token="TOKEN/with+chars=",
    expiration=_NOW + timedelta(hours=1),
)
_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
_CUSTOM_ENDPOINTS = ("http://127.0.0.1:9000", "https://s3.example.test", "http://minio.local:9000/")
_OPERATIONS = {"GET": "get_object", "PUT": "put_object", "HEAD": "head_object", "DELETE": "delete_object"}


# --- botocore oracle -------------------------------------------------------------------------------


@functools.cache
def _botocore_client(region: str, endpoint_url: str | None, addressing_style: str) -> Any:
    """Build one botocore client per variant: client creation costs tens of milliseconds."""
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="placeholder",
        aws_secret_access_key="placeholder",
        aws_session_token="placeholder",
        config=Config(signature_version="s3v4", s3={"addressing_style": addressing_style}),
    )


@functools.cache
def _presigner(region: str, endpoint_url: str | None, addressing_style: str) -> SigV4Presigner:
    return SigV4Presigner(region, endpoint_url, addressing_style)  # type: ignore[arg-type]


@contextmanager
def _botocore_at(now: datetime, client: Any, credentials: TemporaryCredentials) -> Iterator[None]:
    """Freeze botocore's clock at ``now`` and make ``client`` sign with ``credentials``.

    botocore 1.44.8 reads the time through ``get_current_datetime`` (naive UTC), imported by name into
    ``botocore.auth`` (X-Amz-Date) and ``botocore.signers`` (the POST policy's expiration).
    """
    naive_utc = now.astimezone(UTC).replace(tzinfo=None)
    # The signer holds the client's credentials; swapping them avoids one client per credential set.
    client._request_signer._credentials = botocore.credentials.Credentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc),
        mock.patch("botocore.signers.get_current_datetime", return_value=naive_utc),
    ):
        yield


def _botocore_url(
    variant: tuple[str, str | None, str],
    credentials: TemporaryCredentials,
    *,
    method: str,
    bucket: str,
    key: str,
    expires_in: int,
    now: datetime,
    content_type: str | None,
    content_disposition: str | None,
) -> str:
    params: dict[str, str] = {"Bucket": bucket, "Key": key}
    if method == "PUT":
        if content_type is not None:
            params["ContentType"] = content_type
        if content_disposition is not None:
            params["ContentDisposition"] = content_disposition
    elif method in ("GET", "HEAD"):
        if content_type is not None:
            params["ResponseContentType"] = content_type
        if content_disposition is not None:
            params["ResponseContentDisposition"] = content_disposition
    client = _botocore_client(*variant)
    with _botocore_at(now, client, credentials):
        url: str = client.generate_presigned_url(_OPERATIONS[method], Params=params, ExpiresIn=expires_in)
    return url


def _botocore_post(
    variant: tuple[str, str | None, str],
    credentials: TemporaryCredentials,
    *,
    bucket: str,
    key: str | None,
    key_prefix: str | None,
    content_type: str | None,
    max_bytes: int | None,
    expires_in: int,
    now: datetime,
) -> dict[str, Any]:
    fields: dict[str, str] = {}
    conditions: list[Any] = []
    if content_type is not None:
        fields["Content-Type"] = content_type
        conditions.append({"Content-Type": content_type})
    if max_bytes is not None:
        conditions.append(["content-length-range", 1, max_bytes])
    form_key = key if key is not None else f"{key_prefix}${{filename}}"
    client = _botocore_client(*variant)
    with _botocore_at(now, client, credentials):
        post: dict[str, Any] = client.generate_presigned_post(
            bucket, form_key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
        )
    return post


# --- strategies ------------------------------------------------------------------------------------

_SPECIAL = list(" +~%/=&?#.;:@!$'()*,[]\\\"<>^`{|}\t\n\x00\x7féü€☃😀")
_dns_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
_buckets = st.one_of(
    st.from_regex(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", fullmatch=True),
    st.lists(_dns_label, min_size=2, max_size=4).map(".".join),  # dotted: no virtual host over https
    st.from_regex(r"[a-zA-Z0-9._-]{1,70}", fullmatch=True),  # valid for botocore, not for DNS
).filter(lambda b: len(b) <= 255 and not b.endswith(("--x-s3", "--xa-s3", "--op-s3")))
_keys = st.one_of(
    st.text(st.one_of(st.sampled_from(_SPECIAL), st.characters(exclude_categories=("Cs",))), max_size=200),
    st.lists(st.sampled_from(["", "a", "..", ".", "b c", "x+y"]), min_size=1, max_size=6).map("/".join),
).filter(bool)
_header_values = st.none() | st.text(
    st.one_of(st.sampled_from(_SPECIAL), st.characters(exclude_categories=("Cs",))), max_size=60
)
_credentials = st.builds(
    TemporaryCredentials,
    access_key_id=st.from_regex(r"ASIA[A-Z0-9]{12,16}", fullmatch=True),
    secret_access_key=st.from_regex(r"[A-Za-z0-9/+]{40}", fullmatch=True),
    session_token=st.from_regex(r"[A-Za-z0-9/+=]{1,400}", fullmatch=True),
    expiration=st.just(_NOW),
)
_nows = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]),
)
_expires = st.integers(min_value=1, max_value=604_800)


@st.composite
def _url_cases(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(st.sampled_from(sorted(_OPERATIONS)))
    no_overrides = method == "DELETE"
    return {
        "method": method,
        "bucket": draw(_buckets),
        "key": draw(_keys),
        "expires_in": draw(_expires),
        "now": draw(_nows),
        "content_type": None if no_overrides else draw(_header_values),
        "content_disposition": None if no_overrides else draw(_header_values),
    }


def _assert_url_matches_botocore(
    variant: tuple[str, str | None, str], credentials: TemporaryCredentials, case: dict[str, Any]
) -> None:
    ours = _presigner(*variant).presign_url(credentials, **case).url
    assert ours == _botocore_url(variant, credentials, **case)


# --- presign_url: differential tests -----------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(region=st.sampled_from(_REGIONS), credentials=_credentials, case=_url_cases())
@example(
    region="us-east-1",
    credentials=_CREDS,
    case={
        "method": "GET",
        "bucket": "my-bucket",
        "key": "/a//b c/+~%=&?#é☃",
        "expires_in": 900,
        "now": _NOW,
        "content_type": "text/plain",
        "content_disposition": 'attachment; filename="a b.txt"',
    },
)
def test_presign_url_matches_botocore_when_real_endpoint_virtual_style(
    region: str, credentials: TemporaryCredentials, case: dict[str, Any]
) -> None:
    _assert_url_matches_botocore((region, None, "virtual"), credentials, case)


@settings(max_examples=400, deadline=None)
@given(region=st.sampled_from(_REGIONS), credentials=_credentials, case=_url_cases())
@example(
    region="eu-west-1",
    credentials=_CREDS,
    case={
        "method": "PUT",
        "bucket": "My_Bucket",
        "key": "a b",
        "expires_in": 604_800,
        "now": _NOW,
        "content_type": " text/plain;\t charset=utf-8  ",
        "content_disposition": "attachment;\n\n filename=x",
    },
)
def test_presign_url_matches_botocore_when_real_endpoint_path_style(
    region: str, credentials: TemporaryCredentials, case: dict[str, Any]
) -> None:
    _assert_url_matches_botocore((region, None, "path"), credentials, case)


@settings(max_examples=600, deadline=None)
@given(
    region=st.sampled_from(_REGIONS),
    endpoint_url=st.sampled_from(_CUSTOM_ENDPOINTS),
    addressing_style=st.sampled_from(["path", "virtual"]),
    credentials=_credentials,
    case=_url_cases(),
)
def test_presign_url_matches_botocore_when_custom_endpoint(
    region: str,
    endpoint_url: str,
    addressing_style: str,
    credentials: TemporaryCredentials,
    case: dict[str, Any],
) -> None:
    _assert_url_matches_botocore((region, endpoint_url, addressing_style), credentials, case)


@pytest.mark.parametrize(
    ("variant", "bucket", "expected_prefix"),
    [
        (("us-east-1", None, "virtual"), "my-bucket", "https://my-bucket.s3.amazonaws.com/k?"),
        (("eu-west-1", None, "virtual"), "my-bucket", "https://my-bucket.s3.eu-west-1.amazonaws.com/k?"),
        (("us-east-1", None, "path"), "my-bucket", "https://s3.amazonaws.com/my-bucket/k?"),
        (("eu-west-1", None, "path"), "my-bucket", "https://s3.eu-west-1.amazonaws.com/my-bucket/k?"),
        (("eu-west-1", None, "virtual"), "my.bucket", "https://s3.eu-west-1.amazonaws.com/my.bucket/k?"),
        (("eu-west-1", None, "virtual"), "My_Bucket", "https://s3.eu-west-1.amazonaws.com/My_Bucket/k?"),
        (
            ("eu-west-1", "http://127.0.0.1:9000", "virtual"),
            "my-bucket",
            "http://127.0.0.1:9000/my-bucket/k?",
        ),
        (
            ("eu-west-1", "http://127.0.0.1:9000", "virtual"),
            "my.bucket",
            "http://my.bucket.127.0.0.1:9000/k?",
        ),
        (
            ("eu-west-1", "https://s3.example.test", "virtual"),
            "my.bucket",
            "https://s3.example.test/my.bucket/k?",
        ),
    ],
)
def test_presign_url_places_bucket_like_botocore_when_bucket_is_not_virtual_hostable(
    variant: tuple[str, str | None, str], bucket: str, expected_prefix: str
) -> None:
    case: dict[str, Any] = {"method": "GET", "bucket": bucket, "key": "k", "expires_in": 60, "now": _NOW}
    ours = _presigner(*variant).presign_url(_CREDS, **case).url

    assert ours.startswith(expected_prefix)
    assert ours == _botocore_url(variant, _CREDS, content_type=None, content_disposition=None, **case)


# --- presign_url: headers and validation ------------------------------------------------------------


def test_presign_url_returns_signed_content_type_header_when_put_with_content_type() -> None:
    signed = _presigner("eu-west-1", None, "virtual").presign_url(
        _CREDS, method="PUT", bucket="b-b-b", key="k", expires_in=60, now=_NOW, content_type="text/plain"
    )

    assert signed.headers == {"Content-Type": "text/plain"}
    assert "X-Amz-SignedHeaders=content-type%3Bhost&" in signed.url


def test_presign_url_returns_no_headers_when_get_with_content_type() -> None:
    signed = _presigner("eu-west-1", None, "virtual").presign_url(
        _CREDS, method="GET", bucket="b-b-b", key="k", expires_in=60, now=_NOW, content_type="text/plain"
    )

    assert signed.headers == {}
    assert "?response-content-type=text%2Fplain&" in signed.url


@pytest.mark.parametrize("expires_in", [0, -1, 604_801])
def test_presign_url_rejects_expires_in_when_outside_sigv4_limits(expires_in: int) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        _presigner("eu-west-1", None, "virtual").presign_url(
            _CREDS, method="GET", bucket="b-b-b", key="k", expires_in=expires_in, now=_NOW
        )


def test_presign_url_rejects_now_when_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _presigner("eu-west-1", None, "virtual").presign_url(
            _CREDS, method="GET", bucket="b-b-b", key="k", expires_in=60, now=datetime(2026, 1, 1)
        )


@pytest.mark.parametrize(
    ("method", "bucket", "key", "content_type"),
    [
        ("POST", "b-b-b", "k", None),
        ("get", "b-b-b", "k", None),
        ("DELETE", "b-b-b", "k", "text/plain"),
        ("GET", "b-b-b", "", None),
        ("GET", "bad/bucket", "k", None),
        ("GET", "zone--x-s3", "k", None),
    ],
)
def test_presign_url_rejects_request_when_botocore_would_not_sign_a_plain_object_url(
    method: str, bucket: str, key: str, content_type: str | None
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        _presigner("eu-west-1", None, "virtual").presign_url(
            _CREDS, method=method, bucket=bucket, key=key, expires_in=60, now=_NOW, content_type=content_type
        )


@pytest.mark.parametrize(
    ("region", "endpoint_url"),
    [("cn-north-1", None), ("us-gov-west-1", None), ("eu west", None), ("eu-west-1", "https://h/prefix")],
)
def test_presigner_rejects_configuration_when_outside_supported_endpoints(
    region: str, endpoint_url: str | None
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        SigV4Presigner(region, endpoint_url, "virtual")


# --- presign_post --------------------------------------------------------------------------------------


_POST_VARIANTS = [
    ("us-east-1", None, "virtual"),
    ("us-east-1", None, "path"),
    ("eu-west-1", None, "virtual"),
    ("ap-southeast-2", None, "path"),
    ("eu-west-1", "http://127.0.0.1:9000", "virtual"),
    ("eu-west-1", "http://127.0.0.1:9000", "path"),
]
_POST_CASES = [
    {"bucket": "uploads-b", "key_prefix": "uploads/", "content_type": "text/plain", "max_bytes": 1_048_576},
    {"bucket": "uploads-b", "key": "exact/key é.txt", "content_type": None, "max_bytes": None},
    {"bucket": "my.bucket", "key_prefix": "", "content_type": None, "max_bytes": 10},
    {"bucket": "uploads-b", "key": "x${filename}", "content_type": "image/png", "max_bytes": None},
]


def _decoded_policy(fields: dict[str, str]) -> Any:
    return json.loads(base64.b64decode(fields["policy"]))


@pytest.mark.parametrize("variant", _POST_VARIANTS)
@pytest.mark.parametrize("case", _POST_CASES)
def test_presign_post_matches_botocore_policy_and_signature(
    variant: tuple[str, str | None, str], case: dict[str, Any]
) -> None:
    args = {"key": None, "key_prefix": None, **case, "expires_in": 600, "now": _NOW}
    ours = _presigner(*variant).presign_post(_CREDS, **args)
    theirs = _botocore_post(variant, _CREDS, **args)

    assert _decoded_policy(ours.fields) == _decoded_policy(theirs["fields"])
    assert ours.fields["x-amz-signature"] == theirs["fields"]["x-amz-signature"]
    assert ours.fields == theirs["fields"]
    assert ours.url == theirs["url"]


@st.composite
def _post_cases(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(_keys | st.just(""))
    use_prefix = draw(st.booleans())
    return {
        "bucket": draw(_buckets),
        "key": None if use_prefix else key,
        "key_prefix": key if use_prefix else None,
        "content_type": draw(_header_values),
        "max_bytes": draw(st.none() | st.integers(min_value=1, max_value=5 * 1024**3)),
        "expires_in": draw(_expires),
        "now": draw(_nows),
    }


@settings(max_examples=200, deadline=None)
@given(region=st.sampled_from(_REGIONS), credentials=_credentials, case=_post_cases())
def test_presign_post_matches_botocore_when_inputs_vary(
    region: str, credentials: TemporaryCredentials, case: dict[str, Any]
) -> None:
    variant = (region, None, "virtual")
    ours = _presigner(*variant).presign_post(credentials, **case)
    theirs = _botocore_post(variant, credentials, **case)

    assert (ours.url, ours.fields) == (theirs["url"], theirs["fields"])


def test_presign_post_expires_policy_expires_in_seconds_after_now() -> None:
    post = _presigner("eu-west-1", None, "virtual").presign_post(
        _CREDS, bucket="b-b-b", key="k", expires_in=600, now=_NOW
    )

    assert _decoded_policy(post.fields)["expiration"] == "2026-11-27T12:11:42Z"


@pytest.mark.parametrize(("key", "key_prefix"), [(None, None), ("k", "p/")])
def test_presign_post_rejects_key_when_not_exactly_one_of_key_and_prefix(
    key: str | None, key_prefix: str | None
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        _presigner("eu-west-1", None, "virtual").presign_post(
            _CREDS, bucket="b-b-b", key=key, key_prefix=key_prefix, expires_in=60, now=_NOW
        )


# --- signing key cache -----------------------------------------------------------------------------


def test_signing_key_returns_cached_object_when_inputs_repeat() -> None:
    presigner = SigV4Presigner("eu-west-1")
    first = presigner._signing_key("secret", "20261127", "eu-west-1", "s3")

    assert presigner._signing_key("secret", "20261127", "eu-west-1", "s3") is first


def test_signing_key_differs_when_date_differs() -> None:
    presigner = SigV4Presigner("eu-west-1")

    assert presigner._signing_key("secret", "20261127", "eu-west-1", "s3") != presigner._signing_key(
        "secret", "20261128", "eu-west-1", "s3"
    )


def test_signing_key_matches_aws_published_derivation() -> None:
    # "Examples of how to derive a signing key for Signature Version 4", AWS General Reference.
    derived = SigV4Presigner("us-east-1")._signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"
    )

    assert derived.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signing_key_cache_evicts_oldest_when_full() -> None:
    presigner = SigV4Presigner("eu-west-1")
    first = presigner._signing_key("secret-0", "20261127", "eu-west-1", "s3")
    for i in range(1, 4097):
        presigner._signing_key(f"secret-{i}", "20261127", "eu-west-1", "s3")

    assert len(presigner._signing_keys) == 4096
    assert presigner._signing_key("secret-0", "20261127", "eu-west-1", "s3") is not first


def test_presign_url_leaves_content_type_unsigned_when_put_with_botocore_form_default() -> None:
    # botocore strips its own default form Content-Type before signing; so must we, to stay identical.
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    case: dict[str, Any] = {
        "method": "PUT",
        "bucket": "b-b-b",
        "key": "k",
        "expires_in": 60,
        "now": _NOW,
        "content_type": content_type,
        "content_disposition": None,
    }
    variant = ("eu-west-1", None, "virtual")
    ours = _presigner(*variant).presign_url(_CREDS, **case)

    assert "X-Amz-SignedHeaders=host&" in ours.url
    assert ours.url == _botocore_url(variant, _CREDS, **case)


# --- presign_list: differential tests ---------------------------------------------------------------


@st.composite
def _list_cases(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "bucket": draw(_buckets),
        "prefix": draw(st.just("") | _keys),
        "delimiter": draw(st.none() | st.sampled_from(["/", "-", "é"])),
        "max_keys": draw(st.none() | st.integers(min_value=1, max_value=1000)),
        "continuation_token": draw(st.none() | st.from_regex(r"[A-Za-z0-9/+=]{1,60}", fullmatch=True)),
        "expires_in": draw(_expires),
        "now": draw(_nows),
    }


def _botocore_list_url(
    variant: tuple[str, str | None, str], credentials: TemporaryCredentials, case: dict[str, Any]
) -> str:
    names = {"prefix": "Prefix", "delimiter": "Delimiter", "max_keys": "MaxKeys"}
    params: dict[str, Any] = {"Bucket": case["bucket"]}
    params |= {names[k]: case[k] for k in names if case[k] is not None}
    if case["continuation_token"] is not None:
        params["ContinuationToken"] = case["continuation_token"]
    client = _botocore_client(*variant)
    with _botocore_at(case["now"], client, credentials):
        url: str = client.generate_presigned_url(
            "list_objects_v2", Params=params, ExpiresIn=case["expires_in"]
        )
    return url


@settings(max_examples=300, deadline=None)
@given(
    variant=st.sampled_from(
        [(r, None, s) for r in _REGIONS for s in ("virtual", "path")]
        + [("us-east-1", e, s) for e in _CUSTOM_ENDPOINTS for s in ("virtual", "path")]
    ),
    credentials=_credentials,
    case=_list_cases(),
)
def test_presign_list_matches_botocore_list_objects_v2(
    variant: tuple[str, str | None, str], credentials: TemporaryCredentials, case: dict[str, Any]
) -> None:
    ours = _presigner(*variant).presign_list(credentials, **case)

    assert ours.url == _botocore_list_url(variant, credentials, case)
    assert ours.headers == {}


def test_presign_list_rejects_max_keys_below_one() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        _presigner("us-east-1", None, "virtual").presign_list(
            _CREDS, bucket="b-1", prefix="", expires_in=60, now=_NOW, max_keys=0
        )
