"""The drain seen over ASGI: /readyz turns 503 when it begins, and a request cancelled then gets 503."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from service.adapters.memory_cache import MemoryCache
from service.adapters.s3_presigner import SigV4Presigner
from service.api.dependencies import Services
from service.app import Adapters, create_app
from service.domain.identity import IdentityCenterToken
from tests.api.conftest import REGION, broker_settings
from tests.fakes import (
    FakeClock,
    FakeDataAccessVendor,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    FakeTokenVerifier,
    make_token,
)

TARGET = {"target": "s3://data/users/alice/*", "permission": "READ"}


@dataclass
class HeldExchanger(FakeIdentityExchanger):
    """Identity Center that answers only once released: keeps a request in flight."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def exchange_jwt(self, assertion: str, application_arn: str | None = None) -> IdentityCenterToken:
        self.entered.set()
        self.release.wait(timeout=30)
        return super().exchange_jwt(assertion, application_arn)


@asynccontextmanager
async def _app(exchanger: FakeIdentityExchanger) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock)
    adapters = Adapters(
        verifier=FakeTokenVerifier(clock),
        exchanger=exchanger,
        assumer=assumer,
        vendor=FakeDataAccessVendor(clock, assumer),
        cache=MemoryCache(),
        signer=SigV4Presigner(REGION),
        clock=clock,
        cache_key=os.urandom(32),
    )
    app = create_app(broker_settings(), adapters)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
        yield app, client


def _services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def test_readyz_is_503_draining_once_the_drain_begins() -> None:
    async with _app(FakeIdentityExchanger()) as (app, client):
        before = await client.get("/readyz")
        _services(app).drain.begin()
        during = await client.get("/readyz")
        alive = await client.get("/healthz")

    assert before.status_code == 200
    assert during.status_code == 503
    assert during.json() == {
        "status": "not ready",
        "checks": {"cache": "ok", "jwks": "ok", "configuration": "ok", "shutdown": "draining"},
    }
    assert alive.status_code == 200  # alive all the same: a liveness probe must not restart it


async def test_request_cancelled_while_draining_is_answered_503_shutting_down() -> None:
    exchanger = HeldExchanger()
    async with _app(exchanger) as (app, client):
        headers = {"Authorization": f"Bearer {make_token('alice', 'cut-1')}"}
        request = asyncio.ensure_future(client.post("/v1/credentials", json=TARGET, headers=headers))
        await asyncio.to_thread(exchanger.entered.wait, 30)
        _services(app).drain.begin()
        request.cancel()  # what uvicorn does to the requests still running when the drain ends
        response = await request
        exchanger.release.set()

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "shutting_down"
    assert response.headers["x-request-id"] == response.json()["request_id"]


async def test_request_cancelled_while_serving_is_not_turned_into_a_503() -> None:
    exchanger = HeldExchanger()
    async with _app(exchanger) as (_, client):
        headers = {"Authorization": f"Bearer {make_token('alice', 'cut-2')}"}
        request = asyncio.ensure_future(client.post("/v1/credentials", json=TARGET, headers=headers))
        await asyncio.to_thread(exchanger.entered.wait, 30)
        request.cancel()  # a client that went away, not a shutdown
        with pytest.raises(asyncio.CancelledError):
            await request
        exchanger.release.set()
