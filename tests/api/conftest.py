"""An app wired to fakes of AWS, the real in-process cache and the real presigner, driven over ASGI."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from service.adapters.memory_cache import MemoryCache
from service.adapters.s3_presigner import SigV4Presigner
from service.app import Adapters, create_app
from service.domain.access import Permission
from service.settings import Settings
from tests.fakes import (
    FakeClock,
    FakeDataAccessVendor,
    FakeGrant,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    FakeTokenVerifier,
    make_token,
)

REGION = "us-east-1"


@dataclass
class World:
    """The fakes behind one app, for assertions on upstream calls."""

    clock: FakeClock
    exchanger: FakeIdentityExchanger
    assumer: FakeRoleAssumer
    vendor: FakeDataAccessVendor
    client: httpx.AsyncClient
    app: FastAPI

    def auth(self, subject: str = "alice", jti: str = "jti-1", *, fresh: bool = False) -> dict[str, str]:
        """Return the header of a token; ``fresh`` makes one issued now on the fake clock."""
        issued_at = self.clock.now() if fresh else None
        return {"Authorization": f"Bearer {make_token(subject, jti, issued_at=issued_at)}"}


def broker_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "oidc_issuer": "https://issuer.test/pool",
        "oidc_audience": ["client"],
        "idc_application_arn": (
            "arn:aws:sso::111122223333:application/ssoins-1111111111111111/apl-2222222222222222"
        ),
        "identity_bearer_role_arn": "arn:aws:iam::111122223333:role/bearer",
        "access_grants_account_id": "111122223333",
        "aws_region": REGION,
        "aws_endpoint_url": None,
        "redis_url": None,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def build_world(**settings: object) -> AsyncIterator[World]:
    """Yield a World whose app uses ``broker_settings(**settings)``."""
    clock = FakeClock()
    exchanger = FakeIdentityExchanger()
    assumer = FakeRoleAssumer(clock)
    vendor = FakeDataAccessVendor(
        clock,
        assumer,
        grants=[
            FakeGrant("s3://data/users/alice/*", Permission.READWRITE, "ctx-alice"),
            FakeGrant("s3://data/shared/*", Permission.READ, "ctx-alice"),
            FakeGrant("s3://data/users/bob/*", Permission.READ, "ctx-bob"),
        ],
    )
    adapters = Adapters(
        verifier=FakeTokenVerifier(clock),
        exchanger=exchanger,
        assumer=assumer,
        vendor=vendor,
        cache=MemoryCache(wall_clock=lambda: clock.now().timestamp()),
        signer=SigV4Presigner(REGION, None, "virtual"),
        clock=clock,
        cache_key=os.urandom(32),
    )
    app = create_app(broker_settings(**settings), adapters)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
        yield World(clock, exchanger, assumer, vendor, client, app)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with build_world() as built:
        yield built
