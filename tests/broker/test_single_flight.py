"""SingleFlight: one call per key, shared results and errors, and callers that go away."""

from __future__ import annotations

import asyncio

import pytest

from service.single_flight import SingleFlight


async def test_single_flight_runs_work_once_for_concurrent_callers() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 7

    assert await asyncio.gather(*(flight.run("k", work) for _ in range(20))) == [7] * 20
    assert calls == 1


async def test_single_flight_shares_the_error() -> None:
    flight: SingleFlight[int] = SingleFlight()

    async def work() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("upstream said no")

    results = await asyncio.gather(*(flight.run("k", work) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)


async def test_single_flight_runs_again_after_completion() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await flight.run("k", work) == 1
    assert await flight.run("k", work) == 2


async def test_single_flight_cancelled_leader_does_not_cancel_work_or_followers() -> None:
    flight: SingleFlight[str] = SingleFlight()
    finished = asyncio.Event()

    async def work() -> str:
        await asyncio.sleep(0.05)
        finished.set()
        return "session"

    leader = asyncio.ensure_future(flight.run("k", work))
    await asyncio.sleep(0)
    follower = asyncio.ensure_future(flight.run("k", work))
    await asyncio.sleep(0.01)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await follower == "session"
    assert finished.is_set()


async def test_single_flight_cancel_all_cancels_running_work_and_waits_for_it_to_unwind() -> None:
    flight: SingleFlight[str] = SingleFlight()
    started = asyncio.Event()
    unwound: list[str] = []

    async def work() -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            unwound.append("cleaned up")
        return "never"

    waiter = asyncio.ensure_future(flight.run("k", work))
    await started.wait()
    await flight.cancel_all()

    assert unwound == ["cleaned up"]
    with pytest.raises(asyncio.CancelledError):
        await waiter
