"""Whatever JSON a client sends to any route, the broker answers with a problem, never a 500."""

from __future__ import annotations

import asyncio
import os

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.adapters.memory_cache import MemoryCache
from service.adapters.s3_presigner import SigV4Presigner
from service.app import Adapters, create_app
from service.domain.access import Permission
from tests.api.conftest import broker_settings
from tests.fakes import (
    FakeClock,
    FakeDataAccessVendor,
    FakeGrant,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    FakeTokenVerifier,
    make_token,
)

ROUTES = [
    ("POST", "/v1/credentials"),
    ("POST", "/v1/credentials?format=credential_process"),
    ("POST", "/v1/presign"),
    ("POST", "/v1/presign/batch"),
    ("POST", "/v1/presign/post"),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
field_values = st.one_of(
    scalars,
    st.sampled_from(
        ["s3://data/users/alice/*", "s3://data/x", "READ", "WRITE", "GET", "PUT", "data", "k/é ?#%"]
    ),
)
bodies = st.one_of(
    st.dictionaries(
        st.sampled_from(
            [
                "target",
                "permission",
                "duration_seconds",
                "privilege",
                "bucket",
                "key",
                "key_prefix",
                "method",
                "expires_in",
                "content_type",
                "content_disposition",
                "max_bytes",
                "items",
            ]
        ),
        field_values,
        max_size=8,
    ),
    st.lists(scalars, max_size=3),
    scalars,
)


def _app() -> object:
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock)
    vendor = FakeDataAccessVendor(
        clock, assumer, grants=[FakeGrant("s3://data/users/alice/*", Permission.READWRITE, "ctx-alice")]
    )
    adapters = Adapters(
        verifier=FakeTokenVerifier(clock),
        exchanger=FakeIdentityExchanger(refresh_enabled=True),
        assumer=assumer,
        vendor=vendor,
        cache=MemoryCache(),
        signer=SigV4Presigner("us-east-1"),
        clock=clock,
        cache_key=os.urandom(32),
    )
    return create_app(broker_settings(), adapters)


APP = _app()
HEADERS = {"Authorization": f"Bearer {make_token('alice', 'fuzz')}"}


async def _send(method: str, path: str, body: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, json=body, headers=HEADERS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_routes_never_answer_500_to_any_json_body(route: tuple[str, str], body: object) -> None:
    response = asyncio.run(_send(*route, body))
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"]


segment = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=[]{}", max_size=60
)
authorization = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    st.builds(lambda a, b, c: f"Bearer {a}.{b}.{c}", segment, segment, segment),
    st.builds(lambda a: f"Bearer {a}", segment),
)


async def _get_me(header: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/v1/me", headers={"Authorization": header})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=authorization)
def test_routes_never_answer_500_to_any_authorization_header(header: str) -> None:
    response = asyncio.run(_get_me(header))
    assert response.status_code < 500, response.text
