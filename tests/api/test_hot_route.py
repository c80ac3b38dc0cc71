"""Hot routes answer valid requests without FastAPI's dependency solving, every other one as FastAPI does."""

from __future__ import annotations

from typing import Annotated, Any

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response

from service.api import credentials, presign
from service.api.dependencies import ServicesDep, get_caller
from service.api.hot_route import HotRoute, hot_post
from service.api.schemas import PresignRequest
from tests.api.conftest import World

CREDENTIALS = {"target": "s3://data/users/alice/*", "permission": "READ"}
PRESIGN = {"bucket": "data", "key": "users/alice/a", "method": "GET"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every request whose dependencies FastAPI solved."""
    paths: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*, request: Any, **kwargs: Any) -> Any:
        paths.append(request.url.path)
        return await original(request=request, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return paths


async def test_valid_requests_skip_dependency_solving(world: World, solved: list[str]) -> None:
    answers = [
        await world.client.post("/v1/credentials", json=CREDENTIALS, headers=world.auth()),
        await world.client.post(
            "/v1/credentials?format=credential_process", json=CREDENTIALS, headers=world.auth()
        ),
        await world.client.post("/v1/presign", json=PRESIGN, headers=world.auth()),
        await world.client.post("/v1/presign/batch", json={"items": [PRESIGN]}, headers=world.auth()),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200]
    assert answers[1].json()["Version"] == 1
    assert solved == []


async def test_other_routes_still_solve_dependencies(world: World, solved: list[str]) -> None:
    response = await world.client.post(
        "/v1/presign/list", json={"bucket": "data", "prefix": "users/alice/"}, headers=world.auth()
    )
    assert response.status_code == 200
    assert solved == ["/v1/presign/list"]


# (path, body bytes, headers) that the fast path hands to FastAPI, or answers itself.
REQUESTS = [
    ("/v1/credentials", b'{"target": "s3://data/users/alice/*", "permission": "READ"}', JSON),
    ("/v1/credentials", b'{"target": "s3://data/users/alice/*", "permission": "READ"}', {}),
    (
        "/v1/credentials",
        b'{"target": "s3://data/users/alice/*", "permission": "READ"}',
        {"Content-Type": "text/plain"},
    ),
    (
        "/v1/credentials",
        b'{"target": "s3://data/users/alice/*", "permission": "READ"}',
        {"Content-Type": "application/vnd.x+json"},
    ),
    ("/v1/credentials", b'\xef\xbb\xbf{"target": "s3://data/users/alice/*", "permission": "READ"}', JSON),
    ("/v1/credentials", b'{"target": "s3://data/users/alice/*", "permission": "NONE"}', JSON),
    ("/v1/credentials", b'{"target": "s3://data/users/\\ud800", "permission": "READ"}', JSON),
    ("/v1/credentials", b'{"target": "s3://data/users/alice/*", "permission": "READ", "x": 1}', JSON),
    ("/v1/credentials", b"[]", JSON),
    ("/v1/credentials", b"", JSON),
    ("/v1/credentials", b'{"target": "s3://data/users/alice/*",}', JSON),
    ("/v1/credentials?format=yaml", b'{"target": "s3://data/users/alice/*", "permission": "READ"}', JSON),
    ("/v1/credentials?format=json", b'{"target": "s3://data/users/alice/*", "permission": "READ"}', JSON),
    ("/v1/presign", b'{"bucket": "data", "key": "users/alice/a", "method": "GET", "expires_in": 0}', JSON),
    (
        "/v1/presign",
        b'{"bucket": "data", "key": "users/alice/a", "method": "DELETE", "content_type": "a/b"}',
        JSON,
    ),
    ("/v1/presign", b'{"bucket": "data", "key": "users/bob/a", "method": "GET"}', JSON),
    ("/v1/presign/batch", b'{"items": []}', JSON),
    ("/v1/presign/batch", b'{"items": [{"bucket": "data", "key": "k", "method": "POST"}]}', JSON),
    ("/v1/presign/batch", b'{"items": [{"bucket": "data", "key": "users/bob/a", "method": "GET"}]}', JSON),
]


def _answer(response: httpx.Response) -> tuple[int, str | None, Any]:
    body = response.json()
    if response.status_code >= 400:
        body.pop("request_id")
    return response.status_code, response.headers.get("content-type"), body


@pytest.mark.parametrize(("path", "body", "headers"), REQUESTS)
async def test_answers_are_fastapis_answers(
    world: World, path: str, body: bytes, headers: dict[str, str]
) -> None:
    async def post() -> httpx.Response:
        return await world.client.post(path, content=body, headers={**world.auth(), **headers})

    fast = await post()
    # Any dependency override sends every request of a hot route to FastAPI's own handler.
    world.app.dependency_overrides[_unused] = _unused
    standard = await post()
    assert _answer(fast) == _answer(standard)


async def _unused() -> None:  # pragma: no cover - a dependency nothing depends on
    return None


async def test_dependency_overrides_are_honoured(world: World) -> None:
    world.app.dependency_overrides[get_caller] = _unused
    response = await world.client.post("/v1/credentials", json=CREDENTIALS, headers=world.auth())
    assert response.status_code == 500  # the overriding dependency's None is no caller


async def _endpoint_with_header(body: PresignRequest, x_trace: Annotated[str, Header()]) -> Response:
    raise AssertionError("never called")


def _sync_endpoint(body: PresignRequest) -> Response:
    raise AssertionError("never called")


@pytest.mark.parametrize(
    ("endpoint", "needs"),
    [(_endpoint_with_header, "no header or cookie parameters"), (_sync_endpoint, "an async endpoint")],
)
def test_a_signature_the_fast_path_cannot_serve_is_refused(endpoint: Any, needs: str) -> None:
    with pytest.raises(TypeError, match=needs):
        hot_post(APIRouter(), "/x")(endpoint)


def test_hot_routes_are_the_three_hot_paths() -> None:
    routes = [*credentials.router.routes, *presign.router.routes]
    hot = sorted(route.path for route in routes if isinstance(route, HotRoute))
    assert hot == ["/v1/credentials", "/v1/presign", "/v1/presign/batch"]


async def _refuse(request: Request) -> None:
    raise HTTPException(status_code=403, detail=f"refused {request.url.path}")


async def _allow(request: Request) -> str:
    return request.url.path


async def _echo(body: PresignRequest, services: ServicesDep) -> Response:
    return Response(body.key, media_type="text/plain")


async def test_a_dependency_of_the_including_router_runs_on_the_fast_path() -> None:
    router = APIRouter()
    hot_post(router, "/echo")(_echo)
    app = FastAPI()
    app.state.services = None
    app.include_router(router, prefix="/guarded", dependencies=[Depends(_refuse)])
    app.include_router(router, prefix="/open", dependencies=[Depends(_allow)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        guarded = await client.post("/guarded/echo", json=PRESIGN)
        opened = await client.post("/open/echo", json=PRESIGN)
    assert (guarded.status_code, guarded.json()) == (403, {"detail": "refused /guarded/echo"})
    assert (opened.status_code, opened.text) == (200, "users/alice/a")
