"""Request limits over ASGI: body cap and pace, token before body, header cap, concurrency, safe headers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.api.schemas import ProblemResponse
from service.domain.errors import BrokerError
from tests.api.conftest import World, build_world
from tests.fakes import FakeTokenVerifier

MB = 1024 * 1024
CHUNK = 64 * 1024
PRESIGN = {"bucket": "data", "key": "users/alice/a.txt", "method": "GET"}
CREDENTIALS = {"target": "s3://data/users/alice/*", "permission": "READ"}
SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


class CountedBody:
    """An async request body of ``total`` bytes that records how many chunks the app pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.total:
            self.pulled += 1
            size = min(CHUNK, self.total - sent)
            sent += size
            yield b" " * size


def assert_problem(response: object, status: int, code: str) -> dict[str, object]:
    assert getattr(response, "status_code", None) == status, getattr(response, "text", "")
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code
    assert body["request_id"] == headers["x-request-id"]
    return body


async def test_declared_body_over_the_cap_is_413_before_any_byte_is_read(world: World) -> None:
    body = CountedBody(20 * MB)
    response = await world.client.post(
        "/v1/presign",
        content=body,
        headers={**world.auth(), "Content-Length": str(20 * MB), "Content-Type": "application/json"},
    )
    assert_problem(response, 413, "payload_too_large")
    assert body.pulled == 0


async def test_streamed_body_is_413_the_moment_it_passes_the_cap(world: World) -> None:
    body = CountedBody(20 * MB)
    response = await world.client.post(
        "/v1/presign", content=body, headers={**world.auth(), "Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")
    assert body.pulled <= MB // CHUNK + 1


async def test_unauthenticated_post_is_401_without_reading_the_body(world: World) -> None:
    body = CountedBody(20 * MB)
    response = await world.client.post("/v1/credentials", content=body)
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert body.pulled == 0


async def test_bad_token_is_401_without_reading_the_body(world: World) -> None:
    body = CountedBody(512 * 1024)
    response = await world.client.post(
        "/v1/presign", content=body, headers={"Authorization": "Bearer not-a-token"}
    )
    assert_problem(response, 401, "invalid_token")
    assert body.pulled == 0


async def test_body_under_the_cap_is_served(world: World) -> None:
    padded = json.dumps(PRESIGN).encode()[:-1] + b" " * (900 * 1024) + b"}"
    response = await world.client.post(
        "/v1/presign", content=padded, headers={**world.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


async def test_token_is_verified_once_per_request(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    verify = FakeTokenVerifier.verify

    async def counted(self: FakeTokenVerifier, token: str) -> object:
        calls.append(token)
        return await verify(self, token)

    monkeypatch.setattr(FakeTokenVerifier, "verify", counted)
    response = await world.client.post("/v1/presign", json=PRESIGN, headers=world.auth())
    assert response.status_code == 200
    assert len(calls) == 1


async def test_headers_over_the_cap_are_431(world: World) -> None:
    response = await world.client.get("/v1/me", headers={**world.auth(), "X-Padding": "a" * 64 * 1024})
    assert_problem(response, 431, "headers_too_large")
    response = await world.client.get("/healthz", headers={"X-Padding": "a" * 64 * 1024})
    assert_problem(response, 431, "headers_too_large")


async def test_slow_body_is_408() -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b'{"bucket": '
        await asyncio.sleep(30)
        yield b'"data"}'

    async with build_world(body_timeout_seconds=0.2) as world:
        response = await world.client.post(
            "/v1/presign", content=slow(), headers={**world.auth(), "Content-Type": "application/json"}
        )
    assert_problem(response, 408, "request_timeout")
    assert response.headers["connection"] == "close"


async def test_requests_beyond_the_concurrency_cap_are_503_overloaded() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def held() -> AsyncIterator[bytes]:
        started.set()
        await release.wait()
        yield json.dumps(PRESIGN).encode()

    async with build_world(max_concurrent_requests=1) as world:
        first = asyncio.create_task(
            world.client.post(
                "/v1/presign", content=held(), headers={**world.auth(), "Content-Type": "application/json"}
            )
        )
        await asyncio.wait_for(started.wait(), 5)
        refused = await world.client.post("/v1/presign", json=PRESIGN, headers=world.auth("alice", "j2"))
        probes = [await world.client.get("/healthz"), await world.client.get("/readyz")]
        release.set()
        served = await first
        after = await world.client.post("/v1/presign", json=PRESIGN, headers=world.auth("alice", "j3"))
    assert_problem(refused, 503, "overloaded")
    assert refused.headers["retry-after"] == "1"
    assert [probe.status_code for probe in probes] == [200, 200]
    assert served.status_code == 200
    assert after.status_code == 200


async def test_zero_disables_the_concurrency_cap() -> None:
    async with build_world(max_concurrent_requests=0) as world:
        responses = await asyncio.gather(
            *(world.client.post("/v1/presign", json=PRESIGN, headers=world.auth()) for _ in range(20))
        )
    assert {response.status_code for response in responses} == {200}


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/credentials", CREDENTIALS), ("/v1/presign", PRESIGN), ("/v1/presign/batch", {"items": [PRESIGN]})],
)
async def test_v1_answers_are_never_stored(world: World, path: str, body: dict[str, object]) -> None:
    answers = [
        await world.client.post(path, json=body, headers=world.auth()),
        await world.client.post(path, json=body),
        await world.client.post(
            path, content=b"{", headers={**world.auth(), "Content-Type": "application/json"}
        ),
    ]
    assert [answer.status_code for answer in answers] == [200, 401, 400]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["pragma"] == "no-cache"
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_every_answer_is_nosniff(world: World) -> None:
    for response in (await world.client.get("/healthz"), await world.client.get("/nothing")):
        assert response.headers["x-content-type-options"] == "nosniff"
    too_large = await world.client.post(
        "/v1/presign", content=b"x" * (MB + 1), headers={**world.auth(), "Content-Type": "application/json"}
    )
    assert_problem(too_large, 413, "payload_too_large")
    assert too_large.headers["cache-control"] == "no-store"


async def test_problem_bodies_of_the_limits_carry_the_request_id(world: World) -> None:
    response = await world.client.post("/v1/presign", content=b"{}", headers={"X-Request-ID": "req-limits-1"})
    assert_problem(response, 401, "invalid_token")
    assert response.json()["request_id"] == "req-limits-1"


async def test_limit_refusals_carry_cors_headers() -> None:
    async with build_world(cors_allow_origins=["https://app.example.com"]) as world:
        response = await world.client.post(
            "/v1/presign", json=PRESIGN, headers={"Origin": "https://app.example.com"}
        )
    assert_problem(response, 401, "invalid_token")
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


DEEP = b"[" * 100_000 + b"]" * 100_000
HOSTILE_BODIES = {
    "syntax": b'{"bucket": ',
    "not utf-8": b'{"bucket": "\xff\xfe", "key": "k", "method": "GET"}',
    "deep array": DEEP,
    "deep object": b'{"items": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    "deep in a field": b'{"target": ' + DEEP + b', "permission": "READ"}',
    "5000-digit integer": b'{"duration_seconds": ' + b"9" * 5000 + b', "expires_in": 1}',
    "5000-digit float": b'{"duration_seconds": ' + b"1" * 5000 + b'.5, "expires_in": 1e999}',
    "4000-digit integer": b'{"duration_seconds": ' + b"9" * 4000 + b', "expires_in": ' + b"9" * 4000 + b"}",
}


@pytest.mark.parametrize("path", ["/v1/credentials", "/v1/presign", "/v1/presign/batch", "/v1/presign/post"])
@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
async def test_hostile_json_is_a_400_or_422_problem_never_a_500(world: World, path: str, name: str) -> None:
    response = await world.client.post(
        path, content=HOSTILE_BODIES[name], headers={**world.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    expected = "malformed_request" if response.status_code == 400 else "invalid_request"
    assert_problem(response, response.status_code, expected)


async def test_malformed_json_is_400_malformed_request(world: World) -> None:
    response = await world.client.post(
        "/v1/presign", content=b"{not json", headers={**world.auth(), "Content-Type": "application/json"}
    )
    assert_problem(response, 400, "malformed_request")


async def test_routing_errors_have_stable_codes(world: World) -> None:
    assert_problem(await world.client.get("/nothing"), 404, "not_found")
    assert_problem(await world.client.get("/v1/presign", headers=world.auth()), 405, "method_not_allowed")


def _subclasses(cls: type[BrokerError]) -> set[type[BrokerError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_problem_code_is_listed_in_the_openapi_spec() -> None:
    spec = json.loads(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    code_ref = schemas["ProblemResponse"]["properties"]["code"]["$ref"]
    listed = set(schemas[code_ref.rsplit("/", 1)[-1]]["enum"])
    emitted = {cls.code for cls in _subclasses(BrokerError)} | {
        "internal_error",
        "malformed_request",
        "not_found",
        "method_not_allowed",
        "request_timeout",
        "payload_too_large",
        "headers_too_large",
        "overloaded",
    }
    assert emitted <= listed
    assert "http_error" not in listed
    field = ProblemResponse.model_fields["code"]
    assert field.annotation is not str


def test_body_routes_document_the_limit_statuses() -> None:
    spec = json.loads(SPEC.read_text())
    for path in ("/v1/credentials", "/v1/presign", "/v1/presign/batch", "/v1/presign/post"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"400", "401", "408", "413", "422", "431", "503"} <= set(responses), path
