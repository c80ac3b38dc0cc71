"""/readyz's share of the doctor: one run shared and kept a minute, and readiness lost only on a FAIL of a
check the broker cannot serve without."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import httpx

from service.adapters.memory_cache import MemoryCache
from service.adapters.s3_presigner import SigV4Presigner
from service.app import Adapters, create_app
from service.doctor.model import Check, Status, failed, passed, warned
from service.doctor.readiness import BLOCKING, ReadinessDoctor, readiness_state
from tests.api.conftest import broker_settings
from tests.fakes import (
    FakeClock,
    FakeDataAccessVendor,
    FakeIdentityExchanger,
    FakeRoleAssumer,
    FakeTokenVerifier,
)


class Counted:
    """A configuration run that counts its calls and can be held back."""

    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        self.calls = 0
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> list[Check]:
        self.calls += 1
        self.release.wait(10)
        return self.checks


class Ticking:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_readiness_doctor_keeps_a_run_for_a_minute() -> None:
    run, clock = Counted([passed("application.exists", "x")]), Ticking()
    doctor = ReadinessDoctor(run, clock=clock)

    first = await doctor.checks()
    clock.now += 59
    second = await doctor.checks()
    clock.now += 2
    third = await doctor.checks()

    assert first == second == third == run.checks
    assert run.calls == 2


async def test_readiness_doctor_shares_one_run_between_concurrent_probes() -> None:
    run = Counted([passed("application.exists", "x")])
    doctor = ReadinessDoctor(run)

    answers = await asyncio.gather(*(doctor.checks() for _ in range(5)))

    assert answers == [run.checks] * 5
    assert run.calls == 1


async def test_readiness_doctor_answers_none_while_the_first_run_is_slow_then_its_result() -> None:
    run = Counted([warned("application.exists", "cannot verify: sso:DescribeApplication was refused")])
    run.release.clear()
    doctor = ReadinessDoctor(run, wait_seconds=0.05)

    pending = await doctor.checks()
    run.release.set()
    await doctor.aclose()

    assert pending is None
    assert await doctor.checks() == run.checks
    assert run.calls == 1


async def test_readiness_doctor_turns_a_crashed_run_into_a_warning() -> None:
    def crash() -> list[Check]:
        raise RuntimeError("boom")

    checks = await ReadinessDoctor(crash).checks()

    assert checks is not None
    assert [(c.id, c.status) for c in checks] == [("doctor", Status.WARN)]


def test_readiness_state_fails_only_on_blocking_failures() -> None:
    assert readiness_state(None) == "checking"
    assert readiness_state([failed("grants.location.role_trust", "x"), warned("issuer.url", "x")]) == "ok"
    assert readiness_state([failed("issuer.url", "x"), failed("application.enabled", "y")]) == (
        "failing: application.enabled, issuer.url"
    )
    assert "user.grants" not in BLOCKING  # per-user checks never run in /readyz


async def _readyz(doctor: Callable[[], list[Check]]) -> httpx.Response:
    clock = FakeClock()
    assumer = FakeRoleAssumer(clock)
    adapters = Adapters(
        verifier=FakeTokenVerifier(clock),
        exchanger=FakeIdentityExchanger(),
        assumer=assumer,
        vendor=FakeDataAccessVendor(clock, assumer),
        cache=MemoryCache(),
        signer=SigV4Presigner("us-east-1"),
        clock=clock,
        cache_key=os.urandom(32),
        doctor=ReadinessDoctor(doctor).checks,
    )
    app = create_app(broker_settings(), adapters)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get("/readyz")


async def test_readyz_lists_the_doctor_checks_and_stays_ready_on_warnings() -> None:
    response = await _readyz(
        Counted(
            [passed("application.exists", "tip-broker"), warned("role.exists", "cannot verify: iam:GetRole")]
        )
    )

    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["aws"] == "ok"
    # Ids and statuses only: /readyz is unauthenticated, the detail (names, ARNs) is the doctor's to print.
    assert body["doctor"] == [
        {"id": "application.exists", "status": "PASS"},
        {"id": "role.exists", "status": "WARN"},
    ]


async def test_readyz_is_503_when_a_blocking_check_fails() -> None:
    response = await _readyz(Counted([failed("application.enabled", "status DISABLED", "enable it")]))

    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["checks"]["aws"] == "failing: application.enabled"
