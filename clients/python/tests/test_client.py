"""BrokerClient against a running broker and the emulator: each method and each kind of error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import httpx
import pytest

from bench.stack import Broker
from tip_broker_client import (
    AccessDeniedError,
    AuthenticationError,
    BatchItemError,
    BrokerClient,
    BrokerUnavailable,
    Credentials,
    InvalidRequestError,
    InvalidTokenError,
    PermissionDeniedError,
    PresignedUrl,
    PresignItem,
    RateLimitedError,
    SessionRevokedError,
)

pytestmark = pytest.mark.e2e

ALICE_PREFIX = "s3://demo-data/users/alice/*"


@pytest.fixture
def alice(broker_url: str, sign_in: Callable[[str], str]) -> Iterator[BrokerClient]:
    with BrokerClient(broker_url, sign_in("alice")) as client:
        yield client


def test_credentials_are_typed_and_scoped_to_the_matched_grant(alice: BrokerClient) -> None:
    credentials = alice.credentials(ALICE_PREFIX, "READ")
    assert isinstance(credentials, Credentials)
    assert credentials.matched_grant_target == ALICE_PREFIX
    assert credentials.expiration > datetime.now(UTC)
    assert credentials.region == "us-east-1"
    assert credentials.grantee.type == "DIRECTORY_USER"


def test_credentials_repr_shows_no_secret(alice: BrokerClient) -> None:
    credentials = alice.credentials(ALICE_PREFIX, "READ")
    shown = repr(credentials)
    assert credentials.access_key_id in shown
    assert credentials.secret_access_key not in shown
    assert credentials.session_token not in shown


def test_token_callable_is_asked_before_every_request(broker_url: str, sign_in: Callable[[str], str]) -> None:
    token = sign_in("alice")
    asked: list[int] = []

    def current_token() -> str:
        asked.append(1)
        return token

    with BrokerClient(broker_url, current_token) as client:
        client.grants()
        client.me()
    assert len(asked) == 2


def test_presigned_get_downloads_the_object(alice: BrokerClient) -> None:
    presigned = alice.presign("demo-data", "users/alice/notes.txt")
    assert presigned.method == "GET"
    assert presigned.url not in repr(presigned)
    assert httpx.get(presigned.url, headers=presigned.headers).content == b"alice's notes\n"


def test_presign_batch_keeps_order_and_types_refused_items(alice: BrokerClient) -> None:
    results = alice.presign_batch(
        [
            PresignItem("demo-data", "users/alice/reports/2024.csv"),
            PresignItem("demo-data", "users/bob/todo.txt"),
        ]
    )
    assert isinstance(results[0], PresignedUrl)
    assert httpx.get(results[0].url).content == b"year,total\n2024,42\n"
    assert results[1] == BatchItemError(code="access_denied", detail=results[1].detail)


def test_presigned_post_uploads_a_form_that_reads_back(alice: BrokerClient) -> None:
    form = alice.presign_post(
        "demo-data", key="users/alice/uploads/sync-client.txt", content_type="text/plain"
    )
    upload = httpx.post(
        form.url,
        data=form.fields,
        files={"file": ("sync-client.txt", b"uploaded by the client", "text/plain")},
    )
    assert upload.status_code in {200, 201, 204}, upload.text
    download = alice.presign("demo-data", "users/alice/uploads/sync-client.txt")
    assert httpx.get(download.url).content == b"uploaded by the client"


def test_grants_lists_the_callers_grants_only(alice: BrokerClient) -> None:
    scopes = {grant.grant_scope: grant.permission for grant in alice.grants()}
    assert scopes[ALICE_PREFIX] == "READWRITE"
    assert "s3://demo-data/users/bob/*" not in scopes


def test_grants_filters_by_prefix(alice: BrokerClient) -> None:
    scopes = {grant.grant_scope for grant in alice.grants("s3://demo-data/shared/")}
    assert scopes
    assert all(scope.startswith("s3://demo-data/shared/") for scope in scopes)


def test_me_names_the_caller(alice: BrokerClient) -> None:
    assert alice.me().username == "alice"


def test_sign_out_refuses_the_token_afterwards(broker_url: str, sign_in: Callable[[str], str]) -> None:
    with BrokerClient(broker_url, sign_in("bob")) as bob:
        assert bob.me().username == "bob"
        bob.sign_out()
        with pytest.raises(SessionRevokedError) as refused:
            bob.me()
    assert refused.value.status == 401
    assert isinstance(refused.value, AuthenticationError)


def test_outside_the_grant_is_access_denied_with_code_status_and_detail(alice: BrokerClient) -> None:
    with pytest.raises(AccessDeniedError) as denied:
        alice.credentials("s3://demo-data/users/bob/*", "READ")
    error = denied.value
    assert (error.code, error.status) == ("access_denied", 403)
    assert "s3://demo-data/users/bob/*" in error.detail
    assert error.retry_after is None
    assert error.request_id
    assert isinstance(error, PermissionDeniedError)


def test_expired_token_is_invalid_token(broker_url: str, expired_token: str) -> None:
    with BrokerClient(broker_url, expired_token) as client, pytest.raises(InvalidTokenError) as refused:
        client.grants()
    assert refused.value.code == "invalid_token"
    assert refused.value.status == 401
    assert expired_token not in str(refused.value)


def test_invalid_request_is_invalid_request_error(alice: BrokerClient) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        alice.grants("demo-data/users/")
    assert refused.value.status == 422


def test_rate_limited_carries_retry_after(
    start_broker: Callable[..., AbstractContextManager[Broker]], sign_in: Callable[[str], str]
) -> None:
    with (
        start_broker(BROKER_REQUESTS_PER_MINUTE="1") as limited,
        BrokerClient(limited.url, sign_in("carol")) as carol,
    ):
        carol.grants()
        with pytest.raises(RateLimitedError) as refused:
            carol.grants()
    assert refused.value.status == 429
    assert refused.value.retry_after is not None
    assert refused.value.retry_after > 0


def test_broker_down_is_broker_unavailable(unused_url: str) -> None:
    with BrokerClient(unused_url, "any-token") as client, pytest.raises(BrokerUnavailable) as down:
        client.grants()
    assert unused_url in str(down.value)
    assert "any-token" not in str(down.value)


def test_a_server_that_is_not_the_broker_is_broker_unavailable(emulator_url: str) -> None:
    with BrokerClient(emulator_url, "any-token") as client, pytest.raises(BrokerUnavailable) as wrong:
        client.grants()
    assert wrong.value.status is not None
    assert "without a tip-broker problem body" in str(wrong.value)
