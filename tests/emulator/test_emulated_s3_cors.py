"""The emulator's S3 answers CORS as S3 does: bucket rules, preflight OPTIONS, headers on real answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from emulator.server import EmulatorServer

APP = "http://127.0.0.1:5173"
OTHER = "http://evil.example"
ACCOUNT = "111122223333"
RULES = [
    {
        "AllowedOrigins": [APP],
        "AllowedMethods": ["GET", "HEAD", "PUT", "POST"],
        "AllowedHeaders": ["authorization", "x-amz-*", "content-type"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 300,
    },
    # Never reached for APP: the first matching rule wins.
    {"AllowedOrigins": ["http://127.0.0.1:*"], "AllowedMethods": ["GET", "DELETE"], "ExposeHeaders": ["x"]},
]


@pytest.fixture(scope="module")
def s3_admin(admin: boto3.session.Session, client_for: Callable[..., Any]) -> Any:
    client = client_for(admin, "s3")
    client.put_bucket_cors(Bucket="demo-data", CORSConfiguration={"CORSRules": RULES})
    client.create_bucket(Bucket="open-data")
    client.put_bucket_cors(
        Bucket="open-data",
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]},
    )
    client.put_object(Bucket="open-data", Key="hello.txt", Body=b"hello")
    return client


def preflight(
    emulator: EmulatorServer, path: str, origin: str | None, method: str | None, headers: str = ""
) -> httpx.Response:
    sent = {}
    if origin is not None:
        sent["Origin"] = origin
    if method is not None:
        sent["Access-Control-Request-Method"] = method
    if headers:
        sent["Access-Control-Request-Headers"] = headers
    return httpx.request("OPTIONS", emulator.url + path, headers=sent)


def test_s3_cors_bucket_configuration_round_trips(s3_admin: Any) -> None:
    rules = s3_admin.get_bucket_cors(Bucket="demo-data")["CORSRules"]

    assert rules[0]["AllowedOrigins"] == [APP]
    assert rules[0]["ExposeHeaders"] == ["ETag", "x-amz-request-id"]


def test_s3_cors_preflight_answers_with_the_first_matching_rule(
    emulator: EmulatorServer, s3_admin: Any
) -> None:
    response = preflight(
        emulator, "/demo-data/users/alice/notes.txt", APP, "PUT", "Authorization, X-Amz-Date, content-type"
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, PUT, POST"
    assert response.headers["access-control-allow-headers"] == "authorization, x-amz-date, content-type"
    assert response.headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    assert response.headers["access-control-max-age"] == "300"
    assert "Origin" in response.headers["vary"]


def test_s3_cors_preflight_uses_a_later_rule_when_the_first_does_not_allow_the_method(
    emulator: EmulatorServer, s3_admin: Any
) -> None:
    response = preflight(emulator, "/demo-data/users/alice/notes.txt", APP, "DELETE")

    assert response.status_code == 200
    assert response.headers["access-control-allow-methods"] == "GET, DELETE"
    assert response.headers["access-control-expose-headers"] == "x"


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [(OTHER, "GET", ""), (APP, "PATCH", ""), ("http://127.0.0.1:5173", "PUT", "x-custom-header")],
    ids=["origin", "method", "header"],
)
def test_s3_cors_preflight_refuses_what_no_rule_allows(
    emulator: EmulatorServer, s3_admin: Any, origin: str, method: str, headers: str
) -> None:
    response = preflight(emulator, "/demo-data/users/alice/notes.txt", origin, method, headers)

    assert response.status_code == 403
    assert "<Code>AccessForbidden</Code>" in response.text
    assert "This CORS request is not allowed" in response.text
    assert not [h for h in response.headers if h.startswith("access-control-")]


def test_s3_cors_preflight_refuses_a_bucket_without_cors(emulator: EmulatorServer, s3_admin: Any) -> None:
    response = preflight(emulator, "/demo-uploads/bob/x", APP, "PUT")

    assert response.status_code == 403
    assert "CORS is not enabled for this bucket" in response.text


def test_s3_cors_preflight_needs_an_origin(emulator: EmulatorServer, s3_admin: Any) -> None:
    response = preflight(emulator, "/demo-data/users/alice/notes.txt", None, "GET")

    assert response.status_code == 400
    assert "Origin request header needed" in response.text


def test_s3_cors_wildcard_rule_answers_star_without_credentials(
    emulator: EmulatorServer, s3_admin: Any
) -> None:
    response = preflight(emulator, "/open-data/hello.txt", OTHER, "GET")

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_s3_cors_presigned_get_carries_the_rule_headers(emulator: EmulatorServer, s3_admin: Any) -> None:
    url = s3_admin.generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "users/alice/notes.txt"}
    )

    response = httpx.get(url, headers={"Origin": APP})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-expose-headers"] == "ETag, x-amz-request-id"


def test_s3_cors_response_has_no_cors_headers_for_an_unlisted_origin(
    emulator: EmulatorServer, s3_admin: Any
) -> None:
    url = s3_admin.generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "users/alice/notes.txt"}
    )

    response = httpx.get(url, headers={"Origin": OTHER})

    assert response.status_code == 200
    assert not [h for h in response.headers if h.startswith("access-control-")]


def test_s3_cors_refused_presigned_url_still_carries_cors_headers(
    emulator: EmulatorServer, s3_admin: Any
) -> None:
    url = s3_admin.generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "users/alice/notes.txt"}
    )
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")

    response = httpx.get(tampered, headers={"Origin": APP})

    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text
    assert response.headers["access-control-allow-origin"] == APP


def test_s3_cors_storage_error_carries_cors_headers(emulator: EmulatorServer, s3_admin: Any) -> None:
    url = s3_admin.generate_presigned_url("get_object", Params={"Bucket": "demo-data", "Key": "missing"})

    response = httpx.get(url, headers={"Origin": APP})

    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == APP


def test_s3_cors_presigned_post_upload_carries_cors_headers(emulator: EmulatorServer, s3_admin: Any) -> None:
    form = s3_admin.generate_presigned_post(Bucket="demo-data", Key="users/alice/cors-upload.txt")

    response = httpx.post(
        form["url"], data=form["fields"], files={"file": ("a.txt", b"uploaded")}, headers={"Origin": APP}
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    body = s3_admin.get_object(Bucket="demo-data", Key="users/alice/cors-upload.txt")["Body"].read()
    assert body == b"uploaded"


def test_s3_cors_preflight_works_under_virtual_hosted_addressing(
    emulator: EmulatorServer, s3_admin: Any
) -> None:
    response = httpx.request(
        "OPTIONS",
        f"{emulator.url}/users/alice/notes.txt",
        headers={
            "Host": f"demo-data.localhost:{emulator.port}",
            "Origin": APP,
            "Access-Control-Request-Method": "GET",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP


def test_s3_cors_preflight_needs_no_credentials_and_reaches_no_storage(
    emulator: EmulatorServer, s3_admin: Any
) -> None:
    with pytest.raises(ClientError):
        s3_admin.get_object(Bucket="demo-data", Key="users/alice/never-written.txt")

    preflight(emulator, "/demo-data/users/alice/never-written.txt", APP, "PUT")

    with pytest.raises(ClientError):
        s3_admin.head_object(Bucket="demo-data", Key="users/alice/never-written.txt")
