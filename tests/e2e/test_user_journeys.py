"""A demo user signs in with Cognito, asks the broker for S3 access and uses it, all over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def _error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_read_grant_reads_inside_and_is_refused_outside_and_for_writes(stack: Stack) -> None:
    token = stack.sign_in("alice")
    response = stack.issue(token, "s3://demo-data/users/alice/*", "READ")
    assert response.status_code == 200, response.text
    assert response.json()["matched_grant_target"] == "s3://demo-data/users/alice/*"
    s3 = stack.s3_with(response.json())
    body = s3.get_object(Bucket="demo-data", Key="users/alice/notes.txt")["Body"].read()
    assert body == b"alice's notes\n"
    with pytest.raises(ClientError) as outside:
        s3.get_object(Bucket="demo-data", Key="users/bob/todo.txt")
    assert _error_code(outside) == "AccessDenied"
    with pytest.raises(ClientError) as write:
        s3.put_object(Bucket="demo-data", Key="users/alice/new.txt", Body=b"x")
    assert _error_code(write) == "AccessDenied"


def test_write_grant_lets_a_put_through(stack: Stack) -> None:
    token = stack.sign_in("bob")
    response = stack.issue(token, "s3://demo-uploads/bob/*", "WRITE")
    assert response.status_code == 200, response.text
    s3 = stack.s3_with(response.json())
    s3.put_object(Bucket="demo-uploads", Key="bob/upload.txt", Body=b"hello from bob")
    admin = stack.admin_client("s3")
    assert admin.get_object(Bucket="demo-uploads", Key="bob/upload.txt")["Body"].read() == b"hello from bob"


def test_group_grant_works_for_member_not_for_non_member(stack: Stack) -> None:
    member = stack.issue(stack.sign_in("bob"), "s3://demo-data/shared/engineering/*", "READ")
    assert member.status_code == 200, member.text
    assert member.json()["grantee"]["type"] == "DIRECTORY_GROUP"
    s3 = stack.s3_with(member.json())
    assert (
        s3.get_object(Bucket="demo-data", Key="shared/engineering/design.md")["Body"].read() == b"# design\n"
    )
    outsider = stack.issue(stack.sign_in("carol"), "s3://demo-data/shared/engineering/*", "READ")
    assert outsider.status_code == 403
    assert outsider.json()["code"] == "access_denied"


def test_presigned_get_and_put_work_with_plain_http_then_expire(stack: Stack) -> None:
    with stack.broker(stack.sign_in("alice")) as broker:
        get = broker.post(
            "/v1/presign",
            json={"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET", "expires_in": 2},
        ).json()
        put = broker.post(
            "/v1/presign",
            json={
                "bucket": "demo-data",
                "key": "users/alice/presigned.txt",
                "method": "PUT",
                "content_type": "text/plain",
                "expires_in": 2,
            },
        ).json()
    assert httpx.get(get["url"]).content == b"alice's notes\n"
    assert httpx.put(put["url"], content=b"via presigned put", headers=put["headers"]).status_code == 200
    time.sleep(3)
    assert httpx.get(get["url"]).status_code == 403
    assert httpx.put(put["url"], content=b"again", headers=put["headers"]).status_code == 403


def test_presigned_post_upload_works(stack: Stack) -> None:
    with stack.broker(stack.sign_in("alice")) as broker:
        form = broker.post(
            "/v1/presign/post",
            json={"bucket": "demo-data", "key_prefix": "users/alice/uploads/", "content_type": "text/plain"},
        ).json()
    response = httpx.post(
        form["url"], data=form["fields"], files={"file": ("hello.txt", b"posted", "text/plain")}
    )
    assert response.status_code in {200, 201, 204}, response.text
    admin = stack.admin_client("s3")
    assert (
        admin.get_object(Bucket="demo-data", Key="users/alice/uploads/hello.txt")["Body"].read() == b"posted"
    )


def test_presign_batch_mixes_urls_and_denials(stack: Stack) -> None:
    with stack.broker(stack.sign_in("carol")) as broker:
        results = broker.post(
            "/v1/presign/batch",
            json={
                "items": [
                    {"bucket": "demo-data", "key": "finance/budget.csv", "method": "GET"},
                    {"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET"},
                ]
            },
        ).json()["results"]
    assert httpx.get(results[0]["url"]).content.startswith(b"item,amount")
    assert results[1]["error"]["code"] == "access_denied"


def _sign_out(stack: Stack, token: str) -> None:
    """Sign out, then wait for the next second: a token issued in the sign-out's second is refused."""
    with stack.broker(token) as broker:
        assert broker.delete("/v1/session").status_code == 204
    time.sleep(1.05 - time.time() % 1)


def test_same_token_for_many_calls_makes_one_exchange(stack: Stack) -> None:
    _sign_out(stack, stack.sign_in("bob"))  # start from an empty cache for bob
    token = stack.sign_in("bob")
    before = stack.counts()
    for _ in range(5):
        assert stack.issue(token, "s3://demo-data/users/bob/*", "READ").status_code == 200
    with stack.broker(token) as broker:
        assert broker.get("/v1/me").json()["idc_user_id"]
    after = stack.counts()
    assert after.get("CreateTokenWithIAM", 0) - before.get("CreateTokenWithIAM", 0) == 1
    assert after.get("AssumeRole", 0) - before.get("AssumeRole", 0) == 1
    assert after.get("GetDataAccess", 0) - before.get("GetDataAccess", 0) == 1


def test_grants_and_me_describe_the_user(stack: Stack) -> None:
    with stack.broker(stack.sign_in("alice")) as broker:
        grants = broker.get("/v1/grants").json()["grants"]
        me = broker.get("/v1/me").json()
    scopes = {g["grant_scope"] for g in grants}
    assert "s3://demo-data/users/alice/*" in scopes
    assert "s3://demo-data/shared/engineering/*" in scopes
    # Listed as GetDataAccess honours them through the broker's application: NA and ALL, not another app's.
    assert "s3://demo-data/shared/all-apps/*" in scopes
    assert "s3://demo-data/shared/other-app/*" not in scopes
    alice = next(u for u in stack.config["users"] if u["username"] == "alice")
    assert me["idc_user_id"] == alice["idc_user_id"]


def test_token_used_before_sign_out_is_refused_after_it(stack: Stack) -> None:
    _sign_out(stack, stack.sign_in("bob"))  # the next token must be exchanged
    token = stack.sign_in("bob")
    assert stack.issue(token, "s3://demo-data/users/bob/*", "READ").status_code == 200
    with stack.broker(token) as broker:
        assert broker.delete("/v1/session").status_code == 204
    again = stack.issue(token, "s3://demo-data/users/bob/*", "READ")
    assert again.status_code == 401
    assert again.json()["code"] == "session_revoked"


def test_deleted_grant_refused_after_sign_out(stack: Stack) -> None:
    token = stack.sign_in("carol")
    assert stack.issue(token, "s3://demo-data/reports/q3.csv", "READ").status_code == 200
    s3control = stack.admin_client("s3control")
    account = stack.config["account_id"]
    listed = s3control.list_access_grants(AccountId=account)["AccessGrantsList"]
    grant = next(g for g in listed if g["GrantScope"] == "s3://demo-data/reports/q3.csv")
    s3control.delete_access_grant(AccountId=account, AccessGrantId=grant["AccessGrantId"])
    assert stack.issue(token, "s3://demo-data/reports/q3.csv", "READ").status_code == 200  # still cached
    _sign_out(stack, token)
    refused = stack.issue(stack.sign_in("carol"), "s3://demo-data/reports/q3.csv", "READ")
    assert refused.status_code == 403
    assert refused.json()["code"] == "access_denied"
