"""Grants, me, session, health, readiness and metrics routes over ASGI."""

from __future__ import annotations

import os

import httpx

from service.adapters.memory_cache import MemoryCache
from service.adapters.oidc import JwksTokenVerifier, OidcPolicy
from service.adapters.s3_presigner import SigV4Presigner
from service.app import Adapters, create_app
from service.domain.ports import TokenVerifier
from service.settings import Settings
from tests.api.conftest import World, broker_settings, build_world
from tests.fakes import (
    FakeClock,
    FakeDataAccessVendor,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    FakeTokenVerifier,
)
from tests.jwks import CLIENT_ID, ISSUER, KEY_1, JwksServer
from tests.scrape import Scrape


async def test_list_grants_returns_the_callers_grants(world: World) -> None:
    response = await world.client.get("/v1/grants", headers=world.auth())
    assert response.status_code == 200
    scopes = {g["grant_scope"] for g in response.json()["grants"]}
    assert scopes == {"s3://data/users/alice/*", "s3://data/shared/*"}


async def test_list_grants_filters_by_prefix(world: World) -> None:
    response = await world.client.get(
        "/v1/grants", params={"prefix": "s3://data/shared"}, headers=world.auth()
    )
    assert [g["grant_scope"] for g in response.json()["grants"]] == ["s3://data/shared/*"]


async def test_list_grants_rejects_prefix_without_scheme(world: World) -> None:
    response = await world.client.get("/v1/grants", params={"prefix": "data/"}, headers=world.auth())
    assert response.status_code == 422


async def test_whoami_reports_identity_center_user(world: World) -> None:
    response = await world.client.get("/v1/me", headers=world.auth("bob", "j-bob"))
    assert response.status_code == 200
    body = response.json()
    assert body["subject"] == "bob"
    assert body["idc_user_id"] == "idc-bob"
    assert body["issuer"] == "https://issuer.test/pool"
    assert world.assumer.calls[0][1] == "tip-idc-bob"


async def test_end_session_requires_a_token(world: World) -> None:
    response = await world.client.delete("/v1/session")
    assert response.status_code == 401


async def test_healthz_is_ok(world: World) -> None:
    response = await world.client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_each_check(world: World) -> None:
    response = await world.client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"cache": "ok", "jwks": "ok", "configuration": "ok"}


async def test_metrics_counts_requests_by_route(world: World) -> None:
    await world.client.get("/healthz")
    response = await world.client.get("/metrics")
    # tipb_http_requests_total became the request histogram's _count (CHANGELOG, Unreleased).
    count = Scrape(response.text).value(
        "tipb_http_request_duration_seconds_count", route="/healthz", method="GET", status="200"
    )
    assert count == 1


async def test_unknown_route_is_problem_json(world: World) -> None:
    response = await world.client.get("/v2/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


async def test_request_id_is_echoed_when_sent(world: World) -> None:
    response = await world.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def _readyz(verifier: TokenVerifier, settings: Settings | None = None) -> httpx.Response:
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock)
    adapters = Adapters(
        verifier=verifier,
        exchanger=FakeIdentityExchanger(),
        assumer=assumer,
        vendor=FakeDataAccessVendor(clock, assumer),
        cache=MemoryCache(),
        signer=SigV4Presigner("us-east-1"),
        clock=clock,
        cache_key=os.urandom(32),
    )
    app = create_app(settings or broker_settings(), adapters)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get("/readyz")


async def test_readyz_is_503_with_detail_when_configuration_incomplete() -> None:
    verifier = FakeTokenVerifier(FakeClock())
    verifier.keys_loaded = False
    response = await _readyz(verifier, broker_settings(idc_application_arn=""))
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "cache": "ok",
        "jwks": "not loaded",
        "configuration": "BROKER_IDC_APPLICATION_ARN is required",
    }


async def test_readyz_reports_the_jwks_as_it_is_through_an_issuer_outage() -> None:
    server = JwksServer([KEY_1])
    policy = OidcPolicy(ISSUER, frozenset({CLIENT_ID}), server.url, "id", refetch_cooldown_seconds=0)
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            verifier = JwksTokenVerifier(policy, http)
            server.status = 500
            await verifier.load()
            never_loaded = await _readyz(verifier)
            server.status = 200
            await verifier.load()
            loaded = await _readyz(verifier)
            server.status = 500
            await verifier.load()
            stale = await _readyz(verifier)
    finally:
        server.stop()

    assert (never_loaded.status_code, never_loaded.json()["checks"]["jwks"]) == (503, "not loaded")
    assert (loaded.status_code, loaded.json()["checks"]["jwks"]) == (200, "ok")
    # The last refresh failed but the keys it kept still verify tokens: ready, and says so.
    assert (stale.status_code, stale.json()) == (
        200,
        {"status": "ready", "checks": {"cache": "ok", "jwks": "stale", "configuration": "ok"}},
    )


async def test_whoami_rejects_non_bearer_authorization(world: World) -> None:
    for header in ("Basic YWxpY2U6cHc=", "Bearer", "Bearer    ", "token-without-scheme"):
        response = await world.client.get("/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["code"] == "invalid_token"


async def test_whoami_accepts_lowercase_bearer_scheme(world: World) -> None:
    token = world.auth()["Authorization"].split()[1]
    response = await world.client.get("/v1/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


async def test_cors_preflight_allows_configured_origin_only() -> None:
    async with build_world(cors_allow_origins=["https://app.example.com"]) as world:
        allowed = await world.client.options(
            "/v1/presign",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        refused = await world.client.options(
            "/v1/presign",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in refused.headers
