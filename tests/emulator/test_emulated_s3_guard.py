"""S3 guard against the emulator: vended credentials confined to scope, permission, expiry and signature."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"


@pytest.fixture(scope="module")
def vend(user_session: Any, client_for: Any, make_session: Any) -> Any:
    """Return `vend(user, target, permission, **kw) -> s3 client` signed with GetDataAccess credentials."""
    sessions: dict[str, Any] = {}

    def run(user: str, target: str, permission: str = "READ", **kwargs: Any) -> Any:
        if user not in sessions:
            sessions[user] = client_for(user_session(user), "s3control")
        creds = sessions[user].get_data_access(
            AccountId=ACCOUNT, Target=target, Permission=permission, **kwargs
        )
        return client_for(make_session(creds["Credentials"]), "s3")

    return run


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_s3_guard_allows_read_inside_scope(vend: Any) -> None:
    s3 = vend("bob", "s3://demo-data/shared/engineering/*")

    assert (
        s3.get_object(Bucket="demo-data", Key="shared/engineering/design.md")["Body"].read() == b"# design\n"
    )


def test_s3_guard_denies_read_outside_scope(vend: Any) -> None:
    s3 = vend("bob", "s3://demo-data/shared/engineering/*")

    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="demo-data", Key="finance/budget.csv")

    assert _code(err) == "AccessDenied"


def test_s3_guard_denies_write_with_read_credentials(vend: Any) -> None:
    s3 = vend("bob", "s3://demo-data/users/bob/*")

    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="demo-data", Key="users/bob/new.txt", Body=b"x")

    assert _code(err) == "AccessDenied"


def test_s3_guard_allows_write_with_write_credentials(vend: Any, admin: Any, client_for: Any) -> None:
    s3 = vend("bob", "s3://demo-uploads/bob/*", "WRITE")

    s3.put_object(Bucket="demo-uploads", Key="bob/report.txt", Body=b"uploaded")

    stored = client_for(admin, "s3").get_object(Bucket="demo-uploads", Key="bob/report.txt")["Body"].read()
    assert stored == b"uploaded"


def test_s3_guard_limits_readwrite_grant_to_requested_permission(vend: Any) -> None:
    s3 = vend("alice", "s3://demo-data/users/alice/*", "READ")

    with pytest.raises(ClientError) as err:
        s3.delete_object(Bucket="demo-data", Key="users/alice/notes.txt")

    assert _code(err) == "AccessDenied"


def test_s3_guard_allows_listing_inside_scope_only(vend: Any) -> None:
    s3 = vend("alice", "s3://demo-data/users/alice/*")

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="demo-data", Prefix="users/alice/")["Contents"]]
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="demo-data")

    assert keys == ["users/alice/notes.txt", "users/alice/reports/2024.csv"]
    assert _code(err) == "AccessDenied"


def test_s3_guard_minimal_object_scope_denies_sibling(vend: Any) -> None:
    s3 = vend("alice", "s3://demo-data/users/alice/notes.txt", Privilege="Minimal", TargetType="Object")

    assert s3.head_object(Bucket="demo-data", Key="users/alice/notes.txt")["ContentLength"] > 0
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="demo-data", Key="users/alice/reports/2024.csv")
    assert _code(err) == "AccessDenied"


def test_s3_guard_serves_presigned_get_inside_scope(vend: Any) -> None:
    url = vend("carol", "s3://demo-data/reports/q3.csv").generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "reports/q3.csv"}, ExpiresIn=60
    )

    resp = httpx.get(url)

    assert resp.status_code == 200
    assert resp.content == b"quarter,revenue\nq3,100\n"


def test_s3_guard_refuses_expired_presigned_url(vend: Any) -> None:
    url = vend("carol", "s3://demo-data/reports/q3.csv").generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "reports/q3.csv"}, ExpiresIn=1
    )
    time.sleep(2.1)

    resp = httpx.get(url)

    assert resp.status_code == 403
    assert b"<Code>AccessDenied</Code>" in resp.content
    assert b"Request has expired" in resp.content


def test_s3_guard_refuses_presigned_url_longer_than_a_week(vend: Any) -> None:
    url = vend("carol", "s3://demo-data/reports/q3.csv").generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "reports/q3.csv"}, ExpiresIn=700000
    )

    resp = httpx.get(url)

    assert resp.status_code == 400
    assert b"<Code>AuthorizationQueryParametersError</Code>" in resp.content


def test_s3_guard_refuses_tampered_presigned_signature(vend: Any) -> None:
    url = vend("carol", "s3://demo-data/reports/q3.csv").generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "reports/q3.csv"}, ExpiresIn=60
    )
    sig_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    tampered = url[:sig_at] + ("0" if url[sig_at] != "0" else "1") + url[sig_at + 1 :]

    resp = httpx.get(tampered)

    assert resp.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in resp.content


def test_s3_guard_refuses_wrong_session_token(vend: Any) -> None:
    url = vend("carol", "s3://demo-data/reports/q3.csv").generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "reports/q3.csv"}, ExpiresIn=60
    )

    resp = httpx.get(url.replace("X-Amz-Security-Token=", "X-Amz-Security-Token=x"))

    assert resp.status_code == 400
    assert b"<Code>InvalidToken</Code>" in resp.content


def test_s3_guard_accepts_presigned_post_inside_scope(vend: Any, admin: Any, client_for: Any) -> None:
    post = vend("bob", "s3://demo-uploads/bob/*", "WRITE").generate_presigned_post(
        "demo-uploads",
        "bob/${filename}",
        Conditions=[["starts-with", "$key", "bob/"], ["content-length-range", 1, 1024]],
        ExpiresIn=60,
    )

    resp = httpx.post(post["url"], data=post["fields"], files={"file": ("form.txt", b"posted", "text/plain")})

    assert resp.status_code == 204
    stored = client_for(admin, "s3").get_object(Bucket="demo-uploads", Key="bob/form.txt")["Body"].read()
    assert stored == b"posted"


def test_s3_guard_refuses_presigned_post_outside_scope(vend: Any) -> None:
    post = vend("bob", "s3://demo-uploads/bob/*", "WRITE").generate_presigned_post(
        "demo-uploads", "alice/evil.txt", ExpiresIn=60
    )

    resp = httpx.post(post["url"], data=post["fields"], files={"file": ("evil.txt", b"x", "text/plain")})

    assert resp.status_code == 403
    assert b"<Code>AccessDenied</Code>" in resp.content


def test_s3_guard_refuses_presigned_post_with_tampered_policy_field(vend: Any) -> None:
    post = vend("bob", "s3://demo-uploads/bob/*", "WRITE").generate_presigned_post(
        "demo-uploads", "bob/a.txt", ExpiresIn=60
    )
    fields = {**post["fields"], "key": "bob/b.txt"}

    resp = httpx.post(post["url"], data=fields, files={"file": ("a.txt", b"x", "text/plain")})

    assert resp.status_code == 403


def test_s3_guard_denies_identity_bearer_session_direct_access(user_session: Any, client_for: Any) -> None:
    s3 = client_for(user_session("alice"), "s3")

    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="demo-data", Key="users/alice/notes.txt")

    assert _code(err) == "AccessDenied"


def test_s3_guard_passes_admin_requests_to_storage(admin: Any, client_for: Any) -> None:
    buckets = {b["Name"] for b in client_for(admin, "s3").list_buckets()["Buckets"]}

    assert {"demo-data", "demo-uploads"} <= buckets


def test_s3_guard_refuses_unsigned_request(emulator: Any) -> None:
    resp = httpx.get(f"{emulator.url}/demo-data/reports/q3.csv")

    assert resp.status_code == 403


def test_s3_guard_allows_multipart_upload_inside_write_scope(vend: Any, admin: Any, client_for: Any) -> None:
    s3 = vend("bob", "s3://demo-uploads/bob/*", "WRITE")
    upload = s3.create_multipart_upload(Bucket="demo-uploads", Key="bob/big.bin")
    part = s3.upload_part(
        Bucket="demo-uploads", Key="bob/big.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1024
    )

    s3.complete_multipart_upload(
        Bucket="demo-uploads",
        Key="bob/big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )

    head = client_for(admin, "s3").head_object(Bucket="demo-uploads", Key="bob/big.bin")
    assert head["ContentLength"] == 1024


def test_s3_guard_denies_delete_objects_with_key_outside_scope(vend: Any) -> None:
    s3 = vend("bob", "s3://demo-uploads/bob/*", "WRITE")

    with pytest.raises(ClientError) as err:
        s3.delete_objects(
            Bucket="demo-uploads", Delete={"Objects": [{"Key": "bob/.keep"}, {"Key": "alice/x.txt"}]}
        )

    assert _code(err) == "AccessDenied"


def test_s3_guard_allows_presigned_list_inside_scope(vend: Any) -> None:
    s3 = vend("bob", "s3://demo-data/users/bob/*")
    url = s3.generate_presigned_url(
        "list_objects_v2", Params={"Bucket": "demo-data", "Prefix": "users/bob/", "Delimiter": "/"}
    )

    response = httpx.get(url)

    assert response.status_code == 200, response.text
    assert "<Key>users/bob/todo.txt</Key>" in response.text


def test_s3_guard_denies_presigned_list_outside_scope(vend: Any) -> None:
    s3 = vend("bob", "s3://demo-data/users/bob/*")
    url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": "demo-data", "Prefix": "users/"})

    response = httpx.get(url)

    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text
