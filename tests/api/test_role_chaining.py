"""A broker running on a role session caps identity sessions at one hour (role chaining)."""

from __future__ import annotations

import logging
import os

import httpx
import pytest

from service.adapters.memory_cache import MemoryCache
from service.adapters.s3_presigner import SigV4Presigner
from service.app import Adapters, create_app
from tests.api.conftest import REGION, broker_settings
from tests.fakes import (
    FakeClock,
    FakeDataAccessVendor,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    FakeTokenVerifier,
    make_token,
)

ROLE_SESSION = "arn:aws:sts::111122223333:assumed-role/ecs-task-role/0123456789abcdef"
IAM_USER = "arn:aws:iam::111122223333:user/tip-broker"


async def _session_duration(own_arn: str, configured: int) -> int:
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock)
    adapters = Adapters(
        verifier=FakeTokenVerifier(clock),
        exchanger=FakeIdentityExchanger(),
        assumer=assumer,
        vendor=FakeDataAccessVendor(clock, assumer),
        cache=MemoryCache(wall_clock=lambda: clock.now().timestamp()),
        signer=SigV4Presigner(REGION, None, "virtual"),
        clock=clock,
        cache_key=os.urandom(32),
        own_arn=lambda: own_arn,
    )
    app = create_app(broker_settings(session_duration_seconds=configured), adapters)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://broker.test") as client,
    ):
        token = make_token("alice", "jti-1")
        response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return assumer.calls[0][2]


async def test_role_session_broker_caps_sessions_at_one_hour_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.app"):
        assert await _session_duration(ROLE_SESSION, 43200) == 3600
    assert "session_duration.capped" in caplog.messages


async def test_iam_user_broker_keeps_the_configured_session_length() -> None:
    assert await _session_duration(IAM_USER, 43200) == 43200
    assert await _session_duration(ROLE_SESSION, 1800) == 1800
