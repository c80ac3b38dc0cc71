"""Real processes: AWS throttling every GetDataAccess opens the broker's breaker, which then answers 503
with Retry-After without calling AWS, and lets requests through once AWS recovers and the open time passed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench import bench_breaker as scenario
from bench import stack as processes
from tests.scrape import Scrape

pytestmark = pytest.mark.e2e
FAILURES = 3  # botocore makes 3 attempts: the first throttled request opens the breaker
OPEN_SECONDS = 3
REQUESTS = 12


@dataclass
class Throttled:
    emulator: processes.Emulator
    broker: processes.Broker


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Throttled]:
    logs: Path = tmp_path_factory.mktemp("breaker-logs")
    env = scenario.breaker_env(failures=FAILURES, open_seconds=OPEN_SECONDS)
    with (
        processes.emulator(log_dir=logs) as emulator,
        processes.broker(emulator, log_dir=logs, extra_env=env, log_level="INFO") as broker,
    ):
        yield Throttled(emulator, broker)


@contextmanager
def _client(throttled: Throttled, username: str) -> Iterator[httpx.Client]:
    with throttled.broker.client(throttled.emulator.sign_in(username)) as client:
        assert client.get("/v1/me").status_code == 200  # a live session: only GetDataAccess is left to call
        yield client


@pytest.fixture
def faults(throttled: Throttled) -> Iterator[processes.Emulator]:
    yield throttled.emulator
    scenario.clear_faults(throttled.emulator)


def test_breaker_bounds_upstream_calls_of_throttled_requests_and_answers_503_with_retry_after(
    throttled: Throttled, faults: processes.Emulator
) -> None:
    with _client(throttled, "alice") as client:
        scenario.throttle(faults)
        started = time.monotonic()

        answers = [scenario.ask(faults, client) for _ in range(REQUESTS)]

        elapsed = time.monotonic() - started
        metrics = Scrape(client.get("/metrics").text)
    assert {(a.status, a.code) for a in answers} == {(503, "upstream_unavailable")}, answers
    assert all(a.retry_after is not None and 1 <= a.retry_after <= OPEN_SECONDS for a in answers), answers
    assert 1 <= answers[0].upstream_calls <= FAILURES, answers  # botocore's attempts, until it opened
    later = answers[1:]
    assert all(a.upstream_calls <= 1 for a in later), answers
    # Zero while open: at most one probe per open period that passed during the burst.
    assert sum(a.upstream_calls for a in later) <= int(elapsed // OPEN_SECONDS), answers
    assert metrics.value("tipb_upstream_breaker_opens_total", operation="GetDataAccess") >= 1
    assert metrics.value("tipb_upstream_breaker_refusals_total", operation="GetDataAccess") >= 1


def test_breaker_lets_requests_through_again_after_aws_recovers_and_the_open_time_passes(
    throttled: Throttled, faults: processes.Emulator
) -> None:
    target = {"target": "s3://demo-data/users/bob/*", "permission": "READ"}
    with _client(throttled, "bob") as client:
        scenario.throttle(faults)
        answer = scenario.ask(faults, client, target)
        for _ in range(FAILURES):  # until the breaker is open: a 503 that cost no call
            if answer.upstream_calls == 0:
                break
            answer = scenario.ask(faults, client, target)
        assert (answer.status, answer.upstream_calls) == (503, 0), answer
        scenario.clear_faults(faults)

        still_open = scenario.ask(faults, client, target)
        assert still_open.retry_after is not None
        time.sleep(still_open.retry_after + 0.2)
        recovered = scenario.ask(faults, client, target)

    assert (still_open.status, still_open.code, still_open.upstream_calls) == (503, "upstream_unavailable", 0)
    assert 1 <= still_open.retry_after <= OPEN_SECONDS
    assert (recovered.status, recovered.upstream_calls) == (200, 1), recovered  # the probe, answered


def test_upstream_budget_counts_the_retries_botocore_made_for_the_caller(
    throttled: Throttled, tmp_path: Path
) -> None:
    # 4 calls a minute (one refills every 15 s): the sign-in's exchange takes 1, the first request 1 before
    # GetDataAccess and 2 for botocore's two retries of it, so nothing is left for the second request.
    env = {**scenario.breaker_env(failures=0), "BROKER_UPSTREAM_CALLS_PER_MINUTE": "4"}
    emulator = throttled.emulator
    fault = {"operation": "GetDataAccess", "error": "ThrottlingException", "error_rate": 1.0, "count": 2}
    with (
        processes.broker(emulator, log_dir=tmp_path, extra_env=env) as broker,
        broker.client(emulator.sign_in("alice")) as client,
    ):
        assert client.get("/v1/me").status_code == 200
        httpx.post(f"{emulator.url}/_emulator/faults", json=fault, timeout=5).raise_for_status()
        retried = scenario.ask(emulator, client)
        second = client.post(
            "/v1/credentials", json={"target": "s3://demo-data/shared/all-apps/*", "permission": "READ"}
        )
    assert (retried.status, retried.upstream_calls) == (200, 3), retried
    assert second.status_code == 429, second.status_code  # never print what a 200 would hand out
    assert second.json()["code"] == "rate_limited"


def test_exchange_refused_by_an_open_breaker_leaves_the_token_for_the_retry(
    throttled: Throttled, faults: processes.Emulator
) -> None:
    token = faults.sign_in("carol")
    fault = {"operation": "CreateTokenWithIAM", "error": "ThrottlingException", "error_rate": 1.0}
    httpx.post(f"{faults.url}/_emulator/faults", json=fault, timeout=5).raise_for_status()
    with throttled.broker.client(token) as client:
        for _ in range(FAILURES):  # one attempt each (never retried): the last one opens the breaker
            assert client.get("/v1/me").status_code == 503
        before = faults.counts().get("CreateTokenWithIAM", 0)
        refused = client.get("/v1/me")
        not_sent = faults.counts().get("CreateTokenWithIAM", 0) == before
        scenario.clear_faults(faults)
        time.sleep(int(refused.headers["Retry-After"]) + 0.2)
        retried = client.get("/v1/me")
    assert (refused.status_code, refused.json()["code"], not_sent) == (503, "upstream_unavailable", True)
    assert retried.status_code == 200, retried.json().get("code")  # the token was never spent
