"""SIGTERM drains a real broker: the request in flight finishes, new ones are refused, one that outlives the
drain gets 503 shutting_down (and its retry is served by another replica), and the process exits 0."""

from __future__ import annotations

import base64
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench import stack as processes

pytestmark = pytest.mark.e2e
TARGET = {"target": "s3://demo-data/reports/q3.csv", "permission": "READ"}  # carol's grant
POLL_SECONDS = 30.0


def _issue(url: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/credentials", json=TARGET, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _slow_down(emulator: processes.Emulator, operation: str, latency_ms: int) -> None:
    fault = {"operation": operation, "latency_ms": latency_ms}
    httpx.post(f"{emulator.url}/_emulator/faults", json=fault, timeout=5).raise_for_status()


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {POLL_SECONDS:.0f} s")
        time.sleep(0.02)


def _exchanged_once(emulator: processes.Emulator) -> Callable[[], bool]:
    # Identity Center has answered: the request is now in AssumeRole, which the fault holds up.
    return lambda: emulator.counts().get("CreateTokenWithIAM") == 1


def _turned_away(url: str) -> str | None:
    """Return how a new connection is turned away ('refused' or '503'), or None while it is served."""
    try:
        response = httpx.get(f"{url}/healthz", timeout=5)
    except httpx.ConnectError:
        return "refused"
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return None  # accepted just before the listener closed and dropped unanswered: try again
    return "503" if response.status_code == 503 else None


def _first_turn_away(url: str) -> str:
    deadline = time.monotonic() + POLL_SECONDS
    while (how := _turned_away(url)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"new requests were still served {POLL_SECONDS:.0f} s after SIGTERM")
        time.sleep(0.02)
    return how


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_request_in_flight_turns_new_ones_away_and_exits_0(
    redis_url: str, tmp_path: Path, workers: int
) -> None:
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(emulator, redis_url=redis_url, log_dir=tmp_path, workers=workers) as broker,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        token = emulator.sign_in("carol")
        _slow_down(emulator, "AssumeRole", 3000)
        in_flight = pool.submit(_issue, broker.url, token)
        _wait_for(_exchanged_once(emulator), "the exchange")

        broker.process.send_signal(signal.SIGTERM)
        turned_away = _first_turn_away(broker.url)
        still_running = not in_flight.done()
        response = in_flight.result(timeout=60)
        status = broker.process.wait(timeout=60)

    assert still_running, "the request finished before new ones were turned away: nothing was in flight"
    assert turned_away in {"refused", "503"}
    assert response.status_code == 200
    assert response.json()["access_key_id"]
    assert status == 0


def test_readyz_answers_503_draining_while_the_listener_stays_open_for_the_shutdown_delay(
    tmp_path: Path,
) -> None:
    delay = {"BROKER_SHUTDOWN_DELAY_SECONDS": "3"}
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(emulator, log_dir=tmp_path, extra_env=delay) as broker,
    ):
        assert httpx.get(f"{broker.url}/readyz", timeout=5).status_code == 200
        broker.process.send_signal(signal.SIGTERM)
        _wait_for(lambda: httpx.get(f"{broker.url}/readyz", timeout=5).status_code == 503, "readyz 503")
        readiness = httpx.get(f"{broker.url}/readyz", timeout=5)
        alive = httpx.get(f"{broker.url}/healthz", timeout=5)
        turned_away = _first_turn_away(broker.url)
        status = broker.process.wait(timeout=60)

    assert readiness.json()["checks"]["shutdown"] == "draining"
    assert alive.status_code == 200
    assert turned_away == "refused"
    assert status == 0


def test_a_request_outliving_the_drain_gets_503_shutting_down_and_its_retry_is_served_elsewhere(
    redis_url: str, tmp_path: Path
) -> None:
    shared = {"BROKER_CACHE_KEY": base64.b64encode(os.urandom(32)).decode()}
    short_drain = {**shared, "BROKER_SHUTDOWN_DRAIN_SECONDS": "1"}
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        with processes.broker(
            emulator, redis_url=redis_url, log_dir=tmp_path, extra_env=short_drain
        ) as first:
            token = emulator.sign_in("carol")
            # Every AssumeRole attempt outlives the read timeout: botocore retries for about 17 s.
            _slow_down(emulator, "AssumeRole", 20_000)
            in_flight = pool.submit(_issue, first.url, token)
            _wait_for(_exchanged_once(emulator), "the exchange")
            first.process.send_signal(signal.SIGTERM)
            cut = in_flight.result(timeout=60)
            # Promptly: the AWS call still blocked in its thread does not hold the process.
            status = first.process.wait(timeout=10)
        httpx.delete(f"{emulator.url}/_emulator/faults", timeout=5).raise_for_status()
        with processes.broker(emulator, redis_url=redis_url, log_dir=tmp_path, extra_env=shared) as second:
            retried = _issue(second.url, token)
        exchanges = emulator.counts()["CreateTokenWithIAM"]

    assert cut.status_code == 503
    assert cut.headers["content-type"] == "application/problem+json"
    assert cut.json()["code"] == "shutting_down"
    assert cut.headers["retry-after"] == "1"
    assert status == 0
    assert retried.status_code == 200
    assert exchanges == 1, "the retry resumed the exchanged token instead of exchanging it again"
