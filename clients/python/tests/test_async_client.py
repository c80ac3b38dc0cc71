"""AsyncBrokerClient against a running broker and the emulator: the async twin of every method and error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest

from tip_broker_client import (
    AccessDeniedError,
    AsyncBrokerClient,
    BatchItemError,
    BrokerUnavailable,
    InvalidTokenError,
    PresignedUrl,
    PresignItem,
    SessionRevokedError,
)

pytestmark = pytest.mark.e2e

ALICE_PREFIX = "s3://demo-data/users/alice/*"


@pytest.fixture
async def alice(broker_url: str, sign_in: Callable[[str], str]) -> AsyncIterator[AsyncBrokerClient]:
    async with AsyncBrokerClient(broker_url, sign_in("alice")) as client:
        yield client


async def test_async_credentials_are_typed(alice: AsyncBrokerClient) -> None:
    credentials = await alice.credentials(ALICE_PREFIX, "READ", duration_seconds=900)
    assert credentials.matched_grant_target == ALICE_PREFIX
    assert credentials.expiration > datetime.now(UTC)


async def test_async_token_function_may_be_a_coroutine(
    broker_url: str, sign_in: Callable[[str], str]
) -> None:
    token = sign_in("alice")
    asked: list[int] = []

    async def current_token() -> str:
        asked.append(1)
        return token

    async with AsyncBrokerClient(broker_url, current_token) as client:
        identity = await client.me()
    assert identity.username == "alice"
    assert asked == [1]


async def test_async_presign_get_downloads_the_object(alice: AsyncBrokerClient) -> None:
    presigned = await alice.presign("demo-data", "users/alice/notes.txt")
    async with httpx.AsyncClient() as http:
        assert (await http.get(presigned.url)).content == b"alice's notes\n"


async def test_async_presign_batch_and_concurrent_calls(alice: AsyncBrokerClient) -> None:
    batch, grants = await asyncio.gather(
        alice.presign_batch(
            [
                PresignItem("demo-data", "users/alice/notes.txt"),
                PresignItem("demo-data", "finance/budget.csv"),
            ]
        ),
        alice.grants(),
    )
    assert isinstance(batch[0], PresignedUrl)
    assert isinstance(batch[1], BatchItemError)
    assert batch[1].code == "access_denied"
    assert ALICE_PREFIX in {grant.grant_scope for grant in grants}


async def test_async_presigned_post_uploads(alice: AsyncBrokerClient) -> None:
    form = await alice.presign_post("demo-data", key_prefix="users/alice/uploads/", max_bytes=1024)
    async with httpx.AsyncClient() as http:
        upload = await http.post(
            form.url, data=form.fields, files={"file": ("async-client.txt", b"async upload", "text/plain")}
        )
        assert upload.status_code in {200, 201, 204}, upload.text
        download = await alice.presign("demo-data", "users/alice/uploads/async-client.txt")
        assert (await http.get(download.url)).content == b"async upload"


async def test_async_sign_out_refuses_the_token_afterwards(
    broker_url: str, sign_in: Callable[[str], str]
) -> None:
    async with AsyncBrokerClient(broker_url, sign_in("carol")) as carol:
        assert (await carol.me()).username == "carol"
        await carol.sign_out()
        with pytest.raises(SessionRevokedError):
            await carol.grants()


async def test_async_outside_the_grant_is_access_denied(alice: AsyncBrokerClient) -> None:
    with pytest.raises(AccessDeniedError) as denied:
        await alice.credentials("s3://demo-data/finance/*", "READ")
    assert (denied.value.code, denied.value.status) == ("access_denied", 403)


async def test_async_expired_token_is_invalid_token(broker_url: str, expired_token: str) -> None:
    async with AsyncBrokerClient(broker_url, expired_token) as client:
        with pytest.raises(InvalidTokenError):
            await client.me()


async def test_async_broker_down_is_broker_unavailable(unused_url: str) -> None:
    async with AsyncBrokerClient(unused_url, "any-token") as client:
        with pytest.raises(BrokerUnavailable):
            await client.grants()
