"""Presign routes over ASGI: single URL, batch with per-item errors, POST forms, and expiry capping."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from service.api.schemas import BatchPresignResponse, PresignResponse
from tests.api.conftest import World


async def test_create_presigned_url_signs_get_with_vended_credentials(world: World) -> None:
    response = await world.client.post(
        "/v1/presign",
        json={"bucket": "data", "key": "users/alice/a b.txt", "method": "GET", "expires_in": 300},
        headers=world.auth(),
    )
    assert response.status_code == 200
    body = response.json()
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith("ASIAVENDED")
    assert query["X-Amz-Expires"] == ["300"]
    assert "X-Amz-Security-Token" in query
    assert body["method"] == "GET"
    assert body["headers"] == {}


async def test_create_presigned_url_put_returns_signed_content_type_header(world: World) -> None:
    response = await world.client.post(
        "/v1/presign",
        json={"bucket": "data", "key": "users/alice/up.txt", "method": "PUT", "content_type": "text/plain"},
        headers=world.auth(),
    )
    assert response.status_code == 200
    assert response.json()["headers"] == {"Content-Type": "text/plain"}
    assert world.vendor.calls[0].permission.value == "WRITE"


async def test_create_presigned_url_expires_at_never_exceeds_credentials(world: World) -> None:
    response = await world.client.post(
        "/v1/presign",
        json={"bucket": "data", "key": "users/alice/a", "method": "GET", "expires_in": 604800},
        headers=world.auth(),
    )
    body = response.json()
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at == world.clock.now() + timedelta(seconds=3600)


async def test_create_presigned_url_expires_at_is_requested_when_shorter(world: World) -> None:
    response = await world.client.post(
        "/v1/presign",
        json={"bucket": "data", "key": "users/alice/a", "method": "GET", "expires_in": 60},
        headers=world.auth(),
    )
    assert datetime.fromisoformat(response.json()["expires_at"]) == world.clock.now() + timedelta(seconds=60)


async def test_create_presigned_url_denied_is_403(world: World) -> None:
    response = await world.client.post(
        "/v1/presign",
        json={"bucket": "data", "key": "users/bob/a", "method": "GET"},
        headers=world.auth(),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "access_denied"


async def test_create_presigned_url_rejects_unknown_method(world: World) -> None:
    response = await world.client.post(
        "/v1/presign", json={"bucket": "data", "key": "k", "method": "PATCH"}, headers=world.auth()
    )
    assert response.status_code == 422


async def test_create_presigned_url_rejects_expiry_over_a_week(world: World) -> None:
    response = await world.client.post(
        "/v1/presign",
        json={"bucket": "data", "key": "k", "method": "GET", "expires_in": 604801},
        headers=world.auth(),
    )
    assert response.status_code == 422


async def test_create_presigned_url_rejects_invalid_bucket(world: World) -> None:
    response = await world.client.post(
        "/v1/presign", json={"bucket": "no/slash", "key": "k", "method": "GET"}, headers=world.auth()
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


async def test_create_presigned_urls_batch_keeps_order_and_item_errors(world: World) -> None:
    items = [
        {"bucket": "data", "key": "users/alice/1", "method": "GET"},
        {"bucket": "data", "key": "users/bob/2", "method": "GET"},
        {"bucket": "data", "key": "shared/3", "method": "GET"},
        {"bucket": "data", "key": "shared/4", "method": "PUT"},
    ]
    response = await world.client.post("/v1/presign/batch", json={"items": items}, headers=world.auth())
    assert response.status_code == 200
    results = response.json()["results"]
    assert "url" in results[0]
    assert results[1] == {
        "error": {
            "code": "access_denied",
            "detail": "no S3 Access Grant gives you READ on s3://data/users/bob/2",
        }
    }
    assert "url" in results[2]
    assert results[3]["error"]["code"] == "access_denied"


async def test_presign_answers_are_the_response_models_json_byte_for_byte(world: World) -> None:
    # The answers are written without the models (service/api/presign.py _Answers): the models, given the
    # same content, must write the same bytes, microseconds and signed headers included.
    world.clock.advance(0.123456)
    items = [
        {"bucket": "data", "key": "users/alice/1", "method": "GET", "expires_in": 90},
        {"bucket": "data", "key": "users/bob/2", "method": "GET"},
        {
            "bucket": "data",
            "key": "users/alice/é.txt",
            "method": "PUT",
            "content_type": "text/plain",
            "content_disposition": 'attachment; filename="é.txt"',
        },
    ]
    batch = await world.client.post("/v1/presign/batch", json={"items": items}, headers=world.auth())
    single = await world.client.post("/v1/presign", json=items[2], headers=world.auth())
    assert batch.status_code == single.status_code == 200
    assert batch.content == BatchPresignResponse.model_validate_json(batch.content).model_dump_json().encode()
    assert single.content == PresignResponse.model_validate_json(single.content).model_dump_json().encode()
    assert ".123456" in batch.json()["results"][0]["expires_at"]
    assert batch.json()["results"][2]["headers"]["Content-Type"] == "text/plain"


async def test_create_presigned_urls_thousand_keys_under_one_grant_make_one_upstream_call(
    world: World,
) -> None:
    items = [{"bucket": "data", "key": f"users/alice/photos/{i}.jpg", "method": "GET"} for i in range(1000)]
    response = await world.client.post("/v1/presign/batch", json={"items": items}, headers=world.auth())
    results = response.json()["results"]
    assert len(results) == 1000
    assert all("url" in r for r in results)
    assert len(world.vendor.calls) == 1
    assert len({parse_qs(urlsplit(r["url"]).query)["X-Amz-Credential"][0] for r in results}) == 1


async def test_create_presigned_urls_rejects_more_than_thousand_items(world: World) -> None:
    items = [{"bucket": "data", "key": f"k{i}", "method": "GET"} for i in range(1001)]
    response = await world.client.post("/v1/presign/batch", json={"items": items}, headers=world.auth())
    assert response.status_code == 422


async def test_create_presigned_post_returns_policy_fields(world: World) -> None:
    response = await world.client.post(
        "/v1/presign/post",
        json={
            "bucket": "data",
            "key_prefix": "users/alice/uploads/",
            "content_type": "image/png",
            "max_bytes": 1024,
        },
        headers=world.auth(),
    )
    assert response.status_code == 200
    body = response.json()
    assert {"policy", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "key"} <= set(
        body["fields"]
    )
    assert body["fields"]["key"] == "users/alice/uploads/${filename}"
    assert world.vendor.calls[0].target.uri == "s3://data/users/alice/uploads/*"


async def test_create_presigned_post_needs_exactly_one_of_key_and_prefix(world: World) -> None:
    response = await world.client.post(
        "/v1/presign/post", json={"bucket": "data", "key": "a", "key_prefix": "b/"}, headers=world.auth()
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


async def test_create_presigned_urls_batch_writes_one_audit_event(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    items = [{"bucket": "data", "key": f"users/alice/{i}", "method": "GET"} for i in range(3)]
    items.append({"bucket": "data", "key": "users/bob/x", "method": "GET"})
    with caplog.at_level(logging.INFO, logger="service.audit"):
        await world.client.post("/v1/presign/batch", json={"items": items}, headers=world.auth())
    events = [r for r in caplog.records if r.getMessage() == "urls.presigned"]
    assert len(events) == 1
    assert (events[0].items, events[0].signed) == (4, 3)  # type: ignore[attr-defined]
    assert events[0].matched_grants == ["s3://data/users/alice/*"]  # type: ignore[attr-defined]


async def test_create_presigned_urls_repeated_denied_items_ask_aws_once(world: World) -> None:
    items = [{"bucket": "data", "key": "users/bob/same", "method": "GET"}] * 20
    response = await world.client.post("/v1/presign/batch", json={"items": items}, headers=world.auth())
    assert {r["error"]["code"] for r in response.json()["results"]} == {"access_denied"}
    assert len(world.vendor.calls) == 1


async def test_create_presigned_urls_session_failure_fails_the_whole_batch(world: World) -> None:
    body = {"items": [{"bucket": "data", "key": "users/alice/a", "method": "GET"}]}
    await world.client.post("/v1/presign/batch", json=body, headers=world.auth())
    await world.client.delete("/v1/session", headers=world.auth())
    response = await world.client.post("/v1/presign/batch", json=body, headers=world.auth())
    assert response.status_code == 401
    assert response.json()["code"] == "token_reused"


async def test_create_presigned_url_delete_with_content_type_is_invalid_request(world: World) -> None:
    response = await world.client.post(
        "/v1/presign",
        json={"bucket": "data", "key": "users/alice/a", "method": "DELETE", "content_type": "text/plain"},
        headers=world.auth(),
    )
    assert response.status_code == 422
    assert "DELETE takes no content_type" in response.json()["detail"]


async def test_create_presigned_url_non_ascii_bucket_is_invalid_request(world: World) -> None:
    response = await world.client.post(
        "/v1/presign", json={"bucket": "dätä", "key": "k", "method": "GET"}, headers=world.auth()
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "key", ["users/alice/../bob/x", "users/alice/./x", "./users/alice/x", "users/alice/.."]
)
async def test_create_presigned_url_dot_segment_key_is_invalid_request(world: World, key: str) -> None:
    response = await world.client.post(
        "/v1/presign", json={"bucket": "data", "key": key, "method": "GET"}, headers=world.auth()
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert world.vendor.calls == []


@pytest.mark.parametrize("key_prefix", ["users/alice/../bob/", "users/alice/./", "users/alice/..", "./"])
async def test_create_presigned_post_dot_segment_prefix_is_invalid_request(
    world: World, key_prefix: str
) -> None:
    response = await world.client.post(
        "/v1/presign/post", json={"bucket": "data", "key_prefix": key_prefix}, headers=world.auth()
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert world.vendor.calls == []


async def test_create_presigned_post_dot_segment_key_is_invalid_request(world: World) -> None:
    response = await world.client.post(
        "/v1/presign/post", json={"bucket": "data", "key": "users/alice/../bob/x"}, headers=world.auth()
    )
    assert response.status_code == 422


CONTROL_CHARACTERS = ["\r", "\n", "\r\n", "\x00", "\x1b", "\x7f", "\t"]


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
@pytest.mark.parametrize("field", ["content_type", "content_disposition"])
async def test_create_presigned_url_control_character_in_header_value_is_invalid_request(
    world: World, field: str, character: str
) -> None:
    body = {"bucket": "data", "key": "users/alice/up.txt", "method": "PUT", field: f"a{character}X-Evil: 1"}
    response = await world.client.post("/v1/presign", json=body, headers=world.auth())
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert world.vendor.calls == []


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
async def test_create_presigned_url_control_character_in_key_is_invalid_request(
    world: World, character: str
) -> None:
    body = {"bucket": "data", "key": f"users/alice/a{character}b", "method": "GET"}
    response = await world.client.post("/v1/presign", json=body, headers=world.auth())
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


async def test_create_presigned_urls_control_character_key_is_an_item_error(world: World) -> None:
    items = [
        {"bucket": "data", "key": "users/alice/a\r\nb", "method": "GET"},
        {"bucket": "data", "key": "users/alice/ok", "method": "GET"},
    ]
    response = await world.client.post("/v1/presign/batch", json={"items": items}, headers=world.auth())
    results = response.json()["results"]
    assert results[0]["error"]["code"] == "invalid_request"
    assert "url" in results[1]


@pytest.mark.parametrize("field", ["content_type", "key_prefix"])
async def test_create_presigned_post_control_character_is_invalid_request(world: World, field: str) -> None:
    body = {"bucket": "data", "key_prefix": "users/alice/", field: "users/alice/x\r\nX-Evil: 1"}
    response = await world.client.post("/v1/presign/post", json=body, headers=world.auth())
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert world.vendor.calls == []


async def test_create_presigned_get_after_readwrite_credentials_gets_read_credentials(world: World) -> None:
    issued = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/*", "permission": "READWRITE"},
        headers=world.auth(),
    )
    response = await world.client.post(
        "/v1/presign", json={"bucket": "data", "key": "users/alice/a", "method": "GET"}, headers=world.auth()
    )
    assert response.status_code == 200
    assert [c.permission.value for c in world.vendor.calls] == ["READWRITE", "READ"]
    credential = parse_qs(urlsplit(response.json()["url"]).query)["X-Amz-Credential"][0]
    assert not credential.startswith(issued.json()["access_key_id"])


async def test_create_presigned_listing_signs_list_objects_v2_with_read_on_the_prefix(world: World) -> None:
    response = await world.client.post(
        "/v1/presign/list",
        json={"bucket": "data", "prefix": "users/alice/", "max_keys": 50, "expires_in": 120},
        headers=world.auth(),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    query = parse_qs(urlsplit(body["url"]).query, keep_blank_values=True)
    assert query["list-type"] == ["2"]
    assert query["prefix"] == ["users/alice/"]
    assert query["delimiter"] == ["/"]
    assert query["max-keys"] == ["50"]
    assert query["X-Amz-Expires"] == ["120"]
    assert body["method"] == "GET"
    assert world.vendor.calls[0].target.uri == "s3://data/users/alice/*"
    assert world.vendor.calls[0].permission.value == "READ"


async def test_create_presigned_listing_is_audited_as_a_presigned_url(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # A listing hands out a URL, not credentials: it was recorded as credentials.issued with delivery
    # "credentials", which a CloudTrail join would count as keys given to the user.
    with caplog.at_level(logging.INFO, logger="service.audit"):
        response = await world.client.post(
            "/v1/presign/list", json={"bucket": "data", "prefix": "users/alice/"}, headers=world.auth()
        )
    assert response.status_code == 200
    issuances = {"credentials.issued", "urls.presigned"}
    records = [r for r in caplog.records if r.getMessage() in issuances]
    assert [r.getMessage() for r in records] == ["urls.presigned"]
    record = records[0]
    assert (record.items, record.signed, record.delivery) == (1, 1, "presigned_url")  # type: ignore[attr-defined]
    assert record.matched_grants == ["s3://data/users/alice/*"]  # type: ignore[attr-defined]
    assert record.grants[0]["expires_at"] == response.json()["expires_at"].replace("Z", "+00:00")  # type: ignore[attr-defined]


async def test_create_presigned_listing_outside_every_grant_is_access_denied(world: World) -> None:
    response = await world.client.post(
        "/v1/presign/list", json={"bucket": "data", "prefix": "users/"}, headers=world.auth()
    )

    assert response.status_code == 403
    assert response.json()["code"] == "access_denied"


async def test_create_presigned_listing_dot_segment_prefix_is_invalid_request(world: World) -> None:
    response = await world.client.post(
        "/v1/presign/list", json={"bucket": "data", "prefix": "users/alice/../bob/"}, headers=world.auth()
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
