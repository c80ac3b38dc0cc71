"""GET /metrics over ASGI after real requests: each histogram and counter, its labels, counts that move."""

from __future__ import annotations

import asyncio
import os

import httpx

from service.adapters.memory_cache import MemoryCache
from service.adapters.oidc import JwksTokenVerifier, OidcPolicy
from service.adapters.s3_presigner import SigV4Presigner
from service.app import Adapters, create_app
from service.domain.errors import UpstreamMisconfiguredError
from service.metrics import Metrics
from tests.api.conftest import REGION, World, broker_settings, build_world
from tests.fakes import FakeClock, FakeDataAccessVendor, FakeIdentityExchanger, FakeRoleAssumer
from tests.jwks import CLIENT_ID, ISSUER, KEY_1, KEY_2, NOW, JwksServer, claims, sign
from tests.jwks import FakeClock as JwksClock
from tests.scrape import Scrape

BODY = {"target": "s3://data/users/alice/*", "permission": "READ"}
LOOKUPS = "tipb_cache_lookups_total"


async def scrape(world: World) -> Scrape:
    response = await world.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


async def test_metrics_request_histogram_counts_by_route_method_and_status(world: World) -> None:
    await world.client.get("/healthz")
    await world.client.post("/v1/credentials", json=BODY, headers=world.auth())
    await world.client.post("/v1/credentials", json={"target": "nope"}, headers=world.auth())
    await world.client.get("/no/such/route")

    seen = await scrape(world)

    count = "tipb_http_request_duration_seconds_count"
    health = {"route": "/healthz", "method": "GET", "status": "200", "status_class": "2xx"}
    assert seen.value(count, **health) == 1
    assert seen.value(count, route="/v1/credentials", method="POST", status="200", status_class="2xx") == 1
    assert seen.value(count, route="/v1/credentials", status="422", status_class="4xx") == 1
    assert seen.value(count, route="unmatched", status="404") == 1
    buckets = [
        s for s in seen.series("tipb_http_request_duration_seconds_bucket") if s["route"] == "/healthz"
    ]
    assert {s["le"] for s in buckets} >= {"0.001", "0.01", "+Inf"}
    assert seen.value("tipb_http_request_duration_seconds_bucket", le="+Inf", **health) == 1


async def test_metrics_request_method_outside_http_is_one_label_value(world: World) -> None:
    for method in ("BREW", "WHEN"):
        await world.client.request(method, "/healthz")

    seen = await scrape(world)

    assert {s["method"] for s in seen.series("tipb_http_request_duration_seconds_count")} == {"other"}
    assert seen.value("tipb_http_request_duration_seconds_count", method="other") == 2


async def test_metrics_cache_lookups_move_from_miss_to_hit(world: World) -> None:
    seen = []
    for _ in range(3):
        await world.client.post("/v1/credentials", json=BODY, headers=world.auth())
        seen.append(await scrape(world))
    first, second, third = seen

    # The first request finds no access and no session; the next ones are served from the cache.
    access = {"layer": "memory", "kind": "access"}
    misses = first.value(LOOKUPS, result="miss", **access)
    assert misses >= 1  # the request's own lookup, and the holder's look before it calls AWS
    assert first.value(LOOKUPS, layer="memory", kind="session", result="miss") >= 1
    assert first.value(LOOKUPS, result="hit", **access) == 0
    assert second.value(LOOKUPS, result="hit", **access) == 1
    assert second.value(LOOKUPS, result="miss", **access) == misses
    # The first stored the entry it sealed with its decoded form: the next ones never decode it.
    decoded = {"layer": "process", "kind": "access"}
    assert (
        second.value(LOOKUPS, result="hit", **decoded),
        second.value(LOOKUPS, result="miss", **decoded),
    ) == (1, 0)
    assert third.value(LOOKUPS, result="hit", **decoded) == 2
    issued = "tipb_credentials_issued_total"
    assert (first.value(issued, layer="upstream"), first.value(issued, layer="cache")) == (1, 0)
    assert (third.value(issued, layer="upstream"), third.value(issued, layer="cache")) == (1, 2)
    assert third.value("tipb_sessions_opened_total", via="jwt_bearer") == 1


async def test_metrics_count_a_rate_limit_refusal_by_budget() -> None:
    async with build_world(requests_per_minute=1) as world:
        before = await scrape(world)
        statuses = [
            (await world.client.post("/v1/credentials", json=BODY, headers=world.auth())).status_code
            for _ in range(2)
        ]
        after = await scrape(world)

    assert statuses == [200, 429]
    assert before.value("tipb_rate_limited_total", budget="requests") == 0
    assert after.value("tipb_rate_limited_total", budget="requests") == 1
    assert after.value("tipb_rate_limited_total", budget="upstream") == 0


async def test_metrics_count_single_flight_waits_of_identical_concurrent_misses(world: World) -> None:
    world.assumer.delay_seconds = 0.3  # the first request is still opening the session when the rest arrive
    answers = await asyncio.gather(
        *(world.client.post("/v1/credentials", json=BODY, headers=world.auth()) for _ in range(4))
    )

    seen = await scrape(world)

    assert [a.status_code for a in answers] == [200] * 4
    assert len(world.assumer.calls) == 1
    assert seen.value("tipb_single_flight_waits_total", kind="access", layer="process") == 3


async def test_metrics_count_presigned_urls_actually_signed(world: World) -> None:
    item = {"bucket": "data", "key": "users/alice/a.txt", "method": "GET"}
    denied = {"bucket": "data", "key": "users/bob/b.txt", "method": "GET"}
    await world.client.post("/v1/presign", json=item, headers=world.auth())
    await world.client.post("/v1/presign/batch", json={"items": [item, denied, item]}, headers=world.auth())
    form = {"bucket": "data", "key": "users/alice/up.txt"}
    assert (await world.client.post("/v1/presign/post", json=form, headers=world.auth())).status_code == 200

    seen = await scrape(world)

    assert seen.value("tipb_presigned_urls_total", kind="url") == 3  # the denied batch item is no URL
    assert seen.value("tipb_presigned_urls_total", kind="post") == 1


async def test_metrics_count_upstream_misconfiguration_by_reason(world: World) -> None:
    world.vendor.fail_with = UpstreamMisconfiguredError(
        "bearer role lacks s3:GetDataAccess", reason="iam_denied"
    )
    refused = await world.client.post("/v1/credentials", json=BODY, headers=world.auth())

    seen = await scrape(world)

    assert refused.status_code == 502
    assert seen.value("tipb_upstream_misconfigured_total", reason="iam_denied") == 1


async def test_metrics_count_jwks_refreshes_and_failures_with_their_latency() -> None:
    server = JwksServer([KEY_1])
    policy = OidcPolicy(ISSUER, frozenset({CLIENT_ID}), server.url, "id", refetch_cooldown_seconds=0)
    metrics = Metrics()
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock)
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            verifier = JwksTokenVerifier(policy, http, JwksClock(), metrics=metrics)
            adapters = Adapters(
                verifier=verifier,
                exchanger=FakeIdentityExchanger(),
                assumer=assumer,
                vendor=FakeDataAccessVendor(clock, assumer),
                cache=MemoryCache(),
                signer=SigV4Presigner(REGION, None, "virtual"),
                clock=clock,
                cache_key=os.urandom(32),
                metrics=metrics,
            )
            app = create_app(broker_settings(), adapters)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
                await verifier.load()
                token = sign(claims(iat=int(NOW) - 10), key=KEY_1)
                await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
                server.status = 500
                rotated = sign(claims(jti="other"), key=KEY_2)  # an unknown kid: fetched again, and fails
                refused = await client.get("/v1/me", headers={"Authorization": f"Bearer {rotated}"})
                seen = Scrape((await client.get("/metrics")).text)
    finally:
        server.stop()

    assert refused.status_code == 503
    assert seen.value("tipb_jwks_refreshes_total", issuer=ISSUER, outcome="ok") == 1
    assert seen.value("tipb_jwks_refreshes_total", issuer=ISSUER, outcome="error") == 1
    upstream = "tipb_upstream_request_duration_seconds_count"
    assert seen.value(upstream, service="oidc", operation="GetJwks", outcome="ok") == 1
    assert seen.value(upstream, service="oidc", operation="GetJwks", outcome="HTTPStatusError") == 1
    assert seen.value(LOOKUPS, layer="process", kind="jwks", result="hit") == 1
    assert seen.value(LOOKUPS, layer="process", kind="jwks", result="miss") == 1
    assert seen.value(LOOKUPS, layer="process", kind="token", result="miss") == 2
