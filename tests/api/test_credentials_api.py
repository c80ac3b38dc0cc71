"""POST /v1/credentials over ASGI with fakes of AWS: success, caching, single-flight and error envelopes."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from service.domain.errors import IdentityNotMappedError, UpstreamMisconfiguredError, UpstreamUnavailableError
from tests.api.conftest import World, build_world
from tests.fakes import make_token


async def test_issue_credentials_returns_scoped_credentials(world: World) -> None:
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/report.csv", "permission": "READ"},
        headers=world.auth(),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["access_key_id"].startswith("ASIAVENDED")
    assert body["matched_grant_target"] == "s3://data/users/alice/*"
    assert body["grantee"] == {"type": "DIRECTORY_USER", "identifier": "alice"}
    assert body["region"] == "us-east-1"
    assert datetime.fromisoformat(body["expiration"]) > world.clock.now()
    assert response.headers["x-request-id"]


async def test_issue_credentials_credential_process_format(world: World) -> None:
    response = await world.client.post(
        "/v1/credentials?format=credential_process",
        json={"target": "s3://data/shared/*", "permission": "READ"},
        headers=world.auth(),
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert body["Version"] == 1


async def test_issue_credentials_second_call_makes_no_upstream_call(world: World) -> None:
    body = {"target": "s3://data/users/alice/a.txt", "permission": "READ"}
    first = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    calls = (len(world.exchanger.exchanged), len(world.assumer.calls), len(world.vendor.calls))
    second = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert first.status_code == second.status_code == 200
    assert calls == (1, 1, 1)
    assert (len(world.exchanger.exchanged), len(world.assumer.calls), len(world.vendor.calls)) == calls
    assert second.json()["access_key_id"] == first.json()["access_key_id"]


async def test_issue_credentials_sibling_key_served_from_matched_grant(world: World) -> None:
    await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/a", "permission": "READ"},
        headers=world.auth(),
    )
    await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/b/c", "permission": "READ"},
        headers=world.auth(),
    )
    assert len(world.vendor.calls) == 1


async def test_issue_credentials_fifty_concurrent_requests_make_one_upstream_chain(world: World) -> None:
    body = {"target": "s3://data/users/alice/x", "permission": "WRITE"}
    responses = await asyncio.gather(
        *(world.client.post("/v1/credentials", json=body, headers=world.auth()) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {200}
    assert (len(world.exchanger.exchanged), len(world.assumer.calls), len(world.vendor.calls)) == (1, 1, 1)
    assert len({r.json()["access_key_id"] for r in responses}) == 1


async def test_issue_credentials_denied_is_403_and_remembered(world: World) -> None:
    body = {"target": "s3://data/users/bob/secret", "permission": "READ"}
    first = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    second = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert first.status_code == second.status_code == 403
    assert first.headers["content-type"] == "application/problem+json"
    assert first.json()["code"] == "access_denied"
    assert len(world.vendor.calls) == 1


async def test_issue_credentials_denial_forgotten_after_denied_cache_seconds(world: World) -> None:
    body = {"target": "s3://data/users/bob/secret", "permission": "READ"}
    await world.client.post("/v1/credentials", json=body, headers=world.auth())
    world.clock.advance(61)
    await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert len(world.vendor.calls) == 2


async def test_issue_credentials_read_grant_does_not_serve_write(world: World) -> None:
    response = await world.client.post(
        "/v1/credentials", json={"target": "s3://data/shared/x", "permission": "WRITE"}, headers=world.auth()
    )
    assert response.status_code == 403


async def test_issue_credentials_renewed_when_less_than_minimum_remains(world: World) -> None:
    body = {"target": "s3://data/users/alice/a", "permission": "READ", "duration_seconds": 1800}
    first = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    world.clock.advance(1800 - 899)
    second = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert second.status_code == 200
    assert second.json()["access_key_id"] != first.json()["access_key_id"]
    remaining = datetime.fromisoformat(second.json()["expiration"]) - world.clock.now()
    assert remaining.total_seconds() >= 900


async def test_issue_credentials_reused_token_after_session_dropped_is_token_reused(world: World) -> None:
    body = {"target": "s3://data/users/alice/a", "permission": "READ"}
    assert (await world.client.post("/v1/credentials", json=body, headers=world.auth())).status_code == 200
    assert (await world.client.delete("/v1/session", headers=world.auth())).status_code == 204
    response = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert response.status_code == 401
    assert response.json()["code"] == "token_reused"
    assert "sign in again" in response.json()["detail"]
    assert len(world.exchanger.exchanged) == 1


async def test_issue_credentials_new_token_after_sign_out_opens_new_session(world: World) -> None:
    body = {"target": "s3://data/users/alice/a", "permission": "READ"}
    await world.client.post("/v1/credentials", json=body, headers=world.auth(jti="one"))
    await world.client.delete("/v1/session", headers=world.auth(jti="one"))
    response = await world.client.post("/v1/credentials", json=body, headers=world.auth(jti="two"))
    assert response.status_code == 200
    assert len(world.exchanger.exchanged) == 2


async def test_issue_credentials_expired_session_renewed_with_refresh_token(world: World) -> None:
    world.exchanger.refresh_enabled = True
    body = {"target": "s3://data/users/alice/a", "permission": "READ", "duration_seconds": 1800}
    await world.client.post("/v1/credentials", json=body, headers=world.auth())
    world.clock.advance(3000)
    response = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert response.status_code == 200
    assert world.exchanger.refreshed == 1
    assert len(world.exchanger.exchanged) == 1


async def test_issue_credentials_expired_session_without_refresh_is_token_reused(world: World) -> None:
    body = {"target": "s3://data/users/alice/a", "permission": "READ", "duration_seconds": 1800}
    await world.client.post("/v1/credentials", json=body, headers=world.auth())
    world.clock.advance(3000)
    response = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert response.status_code == 401
    assert response.json()["code"] == "token_reused"


async def test_issue_credentials_missing_token_is_invalid_token(world: World) -> None:
    response = await world.client.post(
        "/v1/credentials", json={"target": "s3://data/a", "permission": "READ"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_issue_credentials_garbage_token_is_invalid_token(world: World) -> None:
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/a", "permission": "READ"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_issue_credentials_expired_token_is_invalid_token(world: World) -> None:
    world.clock.advance(7200)
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/a", "permission": "READ"},
        headers={"Authorization": f"Bearer {make_token('alice', 'j')}"},
    )
    assert response.status_code == 401


async def test_issue_credentials_bad_body_is_invalid_request_without_echo(world: World) -> None:
    secret = "SuperSecretValue123"
    response = await world.client.post(
        "/v1/credentials",
        json={"target": secret, "permission": "ALL", "extra": secret},
        headers=world.auth(),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert set(body) == {"type", "title", "status", "detail", "code", "request_id"}
    assert secret not in response.text


async def test_issue_credentials_target_without_scheme_is_invalid_request(world: World) -> None:
    response = await world.client.post(
        "/v1/credentials", json={"target": "data/users/alice/*", "permission": "READ"}, headers=world.auth()
    )
    assert response.status_code == 422
    assert "s3://" in response.json()["detail"]


async def test_issue_credentials_malformed_json_is_malformed_request(world: World) -> None:
    response = await world.client.post(
        "/v1/credentials",
        content=b"{not json",
        headers={**world.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


async def test_issue_credentials_duration_out_of_range_is_invalid_request(world: World) -> None:
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/*", "permission": "READ", "duration_seconds": 60},
        headers=world.auth(),
    )
    assert response.status_code == 422


async def test_issue_credentials_upstream_unavailable_is_503_with_retry_after(world: World) -> None:
    world.vendor.fail_with = UpstreamUnavailableError("S3 Access Grants is throttling", retry_after_seconds=3)
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/a", "permission": "READ"},
        headers=world.auth(),
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json()["code"] == "upstream_unavailable"


async def test_issue_credentials_exchange_throttled_lets_the_token_retry(world: World) -> None:
    world.exchanger.fail_with = UpstreamUnavailableError(
        "Identity Center is throttling", may_have_landed=False
    )
    body = {"target": "s3://data/users/alice/a", "permission": "READ"}
    failed = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    world.exchanger.fail_with = None
    retried = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert failed.status_code == 503
    assert retried.status_code == 200


async def test_issue_credentials_retry_after_an_unknown_exchange_outcome_is_sent_again(world: World) -> None:
    world.exchanger.fail_with = UpstreamUnavailableError("Identity Center answered 500 (before acting)")
    body = {"target": "s3://data/users/alice/a", "permission": "READ"}
    failed = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    world.exchanger.fail_with = None
    retried = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert failed.status_code == 503
    assert retried.status_code == 200, retried.text
    assert len(world.exchanger.exchanged) == 1


async def test_issue_credentials_retry_refused_as_a_replay_after_an_unknown_outcome_is_token_reused(
    world: World,
) -> None:
    world.exchanger.lose_next_answer = UpstreamUnavailableError("Identity Center answered 500 (after acting)")
    body = {"target": "s3://data/users/alice/a", "permission": "READ"}
    failed = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    retried = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert failed.status_code == 503
    assert retried.status_code == 401
    assert retried.json()["code"] == "token_reused"
    assert world.exchanger.attempts == 2


async def test_issue_credentials_identity_not_mapped_is_403(world: World) -> None:
    world.exchanger.fail_with = IdentityNotMappedError("Identity Center found no user for this token")
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/a", "permission": "READ"},
        headers=world.auth(),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "identity_not_mapped"


async def test_issue_credentials_misconfigured_upstream_is_502(world: World) -> None:
    world.exchanger.fail_with = UpstreamMisconfiguredError("InvalidClientException from CreateTokenWithIAM")
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/a", "permission": "READ"},
        headers=world.auth(),
    )
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_misconfigured"


async def test_issue_credentials_rate_limited_when_user_exceeds_upstream_budget() -> None:
    async with build_world(upstream_calls_per_minute=3) as world:
        for n in range(2):  # one call opens the session, two more ask S3 Access Grants
            response = await world.client.post(
                "/v1/credentials",
                json={"target": f"s3://data/users/bob/{n}", "permission": "READ"},
                headers=world.auth(),
            )
            assert response.status_code == 403
        limited = await world.client.post(
            "/v1/credentials",
            json={"target": "s3://data/users/bob/2", "permission": "READ"},
            headers=world.auth(),
        )
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert limited.headers["retry-after"] == "20"
        hit = await world.client.post(
            "/v1/credentials",
            json={"target": "s3://data/users/bob/0", "permission": "READ"},
            headers=world.auth(),
        )
        assert hit.status_code == 403  # the remembered denial is a cache hit: it costs no budget


async def test_unexpected_failure_is_problem_500_with_request_id(world: World) -> None:
    world.vendor.fail_with = RuntimeError("a bug, not a client error")
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/a", "permission": "READ"},
        headers={**world.auth(), "X-Request-ID": "req-500"},
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert response.json()["request_id"] == "req-500"
    assert response.headers["x-request-id"] == "req-500"
    assert "a bug" not in response.text


@pytest.mark.parametrize("privilege", ["Default", "Minimal"])
async def test_issue_credentials_character_prefix_beyond_the_grant_is_denied(
    world: World, privilege: str
) -> None:
    # ``users/alice*`` also names ``users/alice2/...``, which the grant ``users/alice/*`` does not hold.
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice*", "permission": "READ", "privilege": privilege},
        headers=world.auth(),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "access_denied"


async def test_issue_credentials_cached_grant_scope_does_not_serve_a_character_prefix(world: World) -> None:
    inside = {"target": "s3://data/users/alice/*", "permission": "READ"}
    assert (await world.client.post("/v1/credentials", json=inside, headers=world.auth())).status_code == 200
    wider = {"target": "s3://data/users/alice*", "permission": "READ"}
    response = await world.client.post("/v1/credentials", json=wider, headers=world.auth())
    assert response.status_code == 403
    assert len(world.vendor.calls) == 2


@pytest.mark.parametrize(
    "target",
    [
        "s3://data/users/alice/../bob/",
        "s3://data/users/alice/../bob/*",
        "s3://data/users/alice/./x",
        "s3://data/./users/alice/x",
        "s3://data/users/alice/..",
        "s3://data/users/alice/..*",
        "s3://data/users/alice/.",
    ],
)
async def test_issue_credentials_dot_segment_target_is_invalid_request(world: World, target: str) -> None:
    response = await world.client.post(
        "/v1/credentials", json={"target": target, "permission": "READ"}, headers=world.auth()
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert world.vendor.calls == []


@pytest.mark.parametrize("character", ["\r", "\n", "\x1b", "\x7f"])
async def test_issue_credentials_control_character_target_is_invalid_request(
    world: World, character: str
) -> None:
    response = await world.client.post(
        "/v1/credentials",
        json={"target": f"s3://data/users/alice/a{character}b", "permission": "READ"},
        headers=world.auth(),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


async def test_issue_credentials_read_after_readwrite_asks_again_and_gets_read(world: World) -> None:
    target = "s3://data/users/alice/a.txt"
    readwrite = await world.client.post(
        "/v1/credentials", json={"target": target, "permission": "READWRITE"}, headers=world.auth()
    )
    read = await world.client.post(
        "/v1/credentials", json={"target": target, "permission": "READ"}, headers=world.auth()
    )
    assert readwrite.status_code == read.status_code == 200
    assert [c.permission.value for c in world.vendor.calls] == ["READWRITE", "READ"]
    assert read.json()["access_key_id"] != readwrite.json()["access_key_id"]
    again = await world.client.post(
        "/v1/credentials", json={"target": target, "permission": "READ"}, headers=world.auth()
    )
    assert again.json()["access_key_id"] == read.json()["access_key_id"]
    assert len(world.vendor.calls) == 2


READ_ONLY_SCOPES = frozenset({"openid", "aws", "sts:identity_context", "s3:access_grants:read_only"})


@pytest.mark.parametrize("permission", ["WRITE", "READWRITE"])
async def test_read_only_application_refuses_writes_before_asking_aws(world: World, permission: str) -> None:
    world.exchanger.scopes = READ_ONLY_SCOPES
    body = {"target": "s3://data/users/alice/*", "permission": permission}

    refused = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    read = await world.client.post(
        "/v1/credentials", json={**body, "permission": "READ"}, headers=world.auth()
    )

    assert refused.status_code == 403
    assert refused.json()["code"] == "scope_not_granted"
    assert read.status_code == 200
    assert [call.permission.value for call in world.vendor.calls] == ["READ"]


async def test_application_with_neither_access_grants_scope_refuses_reads_too(world: World) -> None:
    world.exchanger.scopes = frozenset({"openid", "aws", "sts:identity_context"})

    refused = await world.client.post(
        "/v1/credentials", json={"target": "s3://data/shared/*", "permission": "READ"}, headers=world.auth()
    )

    assert refused.json()["code"] == "scope_not_granted"
    assert world.vendor.calls == []


async def test_answer_without_scope_leaves_the_decision_to_s3_access_grants(world: World) -> None:
    world.exchanger.scopes = frozenset()

    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/*", "permission": "WRITE"},
        headers=world.auth(),
    )

    assert response.status_code == 200


async def test_read_only_scope_is_a_per_item_error_in_a_presign_batch(world: World) -> None:
    world.exchanger.scopes = READ_ONLY_SCOPES
    items = [
        {"bucket": "data", "key": "users/alice/1", "method": "PUT"},
        {"bucket": "data", "key": "users/alice/2", "method": "GET"},
    ]

    response = await world.client.post("/v1/presign/batch", json={"items": items}, headers=world.auth())

    results = response.json()["results"]
    assert results[0]["error"]["code"] == "scope_not_granted"
    assert "url" in results[1]
