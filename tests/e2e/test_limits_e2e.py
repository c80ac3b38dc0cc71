"""A real uvicorn broker refuses huge, unauthenticated and oversized requests without reading them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bench.stack import proc_status
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
BIG = 20 * MB


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


def _post(stack: Stack, headers: dict[str, str], content: bytes | Iterator[bytes]) -> httpx.Response:
    with httpx.Client(base_url=stack.broker_url, timeout=10) as client:
        return client.post("/v1/presign", content=content, headers=headers)


def test_20_mb_bodies_are_refused_and_never_buffered(stack: Stack) -> None:
    bearer = {"Authorization": f"Bearer {stack.sign_in('carol')}", "Content-Type": "application/json"}
    anonymous = {"Content-Type": "application/json"}
    whole = b" " * BIG
    _post(stack, bearer, b"{}")  # warm the code paths before measuring
    before = {name: proc_status(stack.broker_pid, name) for name in ("VmRSS", "VmHWM")}

    answers = [
        _post(stack, bearer, whole),
        _post(stack, bearer, _chunks(BIG)),
        _post(stack, anonymous, whole),
        _post(stack, anonymous, _chunks(BIG)),
    ]

    grown_kib = {name: proc_status(stack.broker_pid, name) - kib for name, kib in before.items()}
    assert [(a.status_code, a.json()["code"]) for a in answers] == [
        (413, "payload_too_large"),
        (413, "payload_too_large"),
        (413, "payload_too_large"),
        (401, "invalid_token"),
    ]
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
    # The peak (VmHWM) too: a body read whole and freed at once would leave VmRSS where it was.
    assert max(grown_kib.values()) < 5 * 1024, f"the broker grew {grown_kib} KiB answering 20 MB bodies"


def test_oversized_headers_are_431_problem(stack: Stack) -> None:
    with httpx.Client(base_url=stack.broker_url, timeout=10) as client:
        response = client.get("/v1/me", headers={"X-Padding": "a" * 64 * 1024})
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "headers_too_large"


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"bucket": "demo-data", "expires_in": ' + b"9" * 5000 + b"}"],
    ids=["100000-deep", "5000-digit number"],
)
def test_hostile_json_is_a_problem_never_a_500(stack: Stack, body: bytes) -> None:
    headers = {"Authorization": f"Bearer {stack.sign_in('carol')}", "Content-Type": "application/json"}
    response = _post(stack, headers, body)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
