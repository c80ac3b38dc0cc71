"""Sign-out and the operator API: revocation that kills cached sessions and older tokens on every replica."""

from __future__ import annotations

import logging

import pytest

from service.adapters.memory_cache import MemoryCache
from service.domain.cache_errors import CacheUnavailableError
from tests.api.conftest import World, build_world

BODY = {"target": "s3://data/users/alice/a", "permission": "READ"}
ADMIN_TOKEN = "operator-token-" + "x" * 32


def _admin(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _issue(world: World, **auth: object) -> int:
    response = await world.client.post("/v1/credentials", json=BODY, headers=world.auth(**auth))  # type: ignore[arg-type]
    return response.status_code


async def test_sign_out_refuses_the_users_other_older_tokens(world: World) -> None:
    assert await _issue(world, jti="laptop") == 200
    assert await _issue(world, jti="phone") == 200  # served from the user's cached session
    world.clock.advance(0.5)
    assert (await world.client.delete("/v1/session", headers=world.auth(jti="laptop"))).status_code == 204
    response = await world.client.post("/v1/credentials", json=BODY, headers=world.auth(jti="phone"))
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert response.headers["www-authenticate"] == 'Bearer error="session_revoked"'


async def test_fresh_token_after_sign_out_opens_a_new_session(world: World) -> None:
    assert await _issue(world, jti="before") == 200
    world.clock.advance(0.5)
    await world.client.delete("/v1/session", headers=world.auth(jti="before"))
    world.clock.advance(1)
    assert await _issue(world, jti="after", fresh=True) == 200
    assert len(world.exchanger.exchanged) == 2  # the cached session died with the sign-out
    assert len(world.assumer.calls) == 2


async def test_sign_out_does_not_touch_other_users(world: World) -> None:
    bob = {"target": "s3://data/users/bob/x", "permission": "READ"}
    assert (
        await world.client.post("/v1/credentials", json=bob, headers=world.auth("bob", "b"))
    ).status_code == 200
    world.clock.advance(0.5)
    await world.client.delete("/v1/session", headers=world.auth())
    assert (
        await world.client.post("/v1/credentials", json=bob, headers=world.auth("bob", "b"))
    ).status_code == 200


async def test_operator_api_is_off_without_a_token(world: World) -> None:
    response = await world.client.post("/admin/v1/revocations", json={"everyone": True}, headers=_admin())
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.fixture
async def operated() -> object:
    async with build_world(admin_token=ADMIN_TOKEN) as built:
        yield built


@pytest.mark.parametrize("header", [{}, _admin("wrong-token-" + "y" * 32), {"Authorization": "Basic abc"}])
async def test_operator_api_refuses_a_wrong_token(operated: World, header: dict[str, str]) -> None:
    response = await operated.client.post("/admin/v1/revocations", json={"everyone": True}, headers=header)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"subject": "alice", "everyone": True},
        {"token_id": "j", "idc_user_id": "u"},
        {"unpin": True, "everyone": True},
    ],
)
async def test_operator_api_wants_exactly_one_selector(operated: World, body: dict[str, object]) -> None:
    response = await operated.client.post("/admin/v1/revocations", json=body, headers=_admin())
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


async def test_operator_revokes_a_subject(operated: World, caplog: pytest.LogCaptureFixture) -> None:
    assert await _issue(operated) == 200
    operated.clock.advance(0.5)
    with caplog.at_level(logging.INFO, logger="service.audit"):
        response = await operated.client.post(
            "/admin/v1/revocations", json={"subject": "alice"}, headers=_admin()
        )
    assert response.json() == {"revoked": "subject", "issuer": "https://issuer.test/pool", "subject": "alice"}
    assert any(r.getMessage() == "revoked.subject" for r in caplog.records)
    assert await _issue(operated) == 401


async def test_operator_revokes_one_token_only(operated: World) -> None:
    assert await _issue(operated, jti="stolen") == 200
    response = await operated.client.post(
        "/admin/v1/revocations", json={"token_id": "stolen"}, headers=_admin()
    )
    assert response.status_code == 200
    refused = await operated.client.post("/v1/credentials", json=BODY, headers=operated.auth(jti="stolen"))
    assert refused.json()["code"] == "session_revoked"
    assert await _issue(operated, jti="other") == 200


async def test_operator_revokes_a_directory_user(operated: World) -> None:
    assert await _issue(operated) == 200  # pins alice to idc-alice
    operated.clock.advance(0.5)
    response = await operated.client.post(
        "/admin/v1/revocations", json={"idc_user_id": "idc-alice"}, headers=_admin()
    )
    assert response.json()["subject"] == "alice"
    assert await _issue(operated) == 401
    unknown = await operated.client.post(
        "/admin/v1/revocations", json={"idc_user_id": "idc-nobody"}, headers=_admin()
    )
    assert unknown.status_code == 404


async def test_break_glass_revokes_everyone(operated: World) -> None:
    bob = {"target": "s3://data/users/bob/x", "permission": "READ"}
    assert await _issue(operated) == 200
    assert (
        await operated.client.post("/v1/credentials", json=bob, headers=operated.auth("bob", "b"))
    ).status_code == 200
    operated.clock.advance(0.5)
    response = await operated.client.post("/admin/v1/revocations", json={"everyone": True}, headers=_admin())
    assert response.json() == {"revoked": "everyone", "issuer": None, "subject": None}
    assert await _issue(operated) == 401
    assert (
        await operated.client.post("/v1/credentials", json=bob, headers=operated.auth("bob", "b"))
    ).status_code == 401
    operated.clock.advance(1)
    assert await _issue(operated, jti="new", fresh=True) == 200


# -- identity binding ------------------------------------------------------------------------------------


async def test_subject_remapped_to_another_directory_user_is_refused(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    assert await _issue(world, jti="first") == 200  # alice -> idc-alice, pinned
    world.clock.advance(0.5)
    await world.client.delete("/v1/session", headers=world.auth(jti="first"))
    world.clock.advance(1)
    world.exchanger.users["alice"] = "idc-carol"  # alice changed her email to carol's
    with caplog.at_level(logging.INFO, logger="service.audit"):
        response = await world.client.post(
            "/v1/credentials", json=BODY, headers=world.auth(jti="second", fresh=True)
        )
    assert response.status_code == 403
    assert response.json()["code"] == "identity_conflict"
    conflict = next(r for r in caplog.records if r.getMessage() == "identity.conflict")
    assert conflict.reason == "subject_remapped"  # type: ignore[attr-defined]
    assert world.assumer.calls == [world.assumer.calls[0]]  # no session was opened for idc-carol


async def test_directory_user_claimed_by_another_subject_is_refused(world: World) -> None:
    assert await _issue(world) == 200  # alice -> idc-alice
    world.exchanger.users["mallory"] = "idc-alice"
    response = await world.client.post("/v1/credentials", json=BODY, headers=world.auth("mallory", "m"))
    assert response.status_code == 403
    assert response.json()["code"] == "identity_conflict"


async def test_unpin_lets_an_operator_confirm_a_remapping(operated: World) -> None:
    assert await _issue(operated, jti="first") == 200
    operated.exchanger.users["alice"] = "idc-alice-2"
    operated.clock.advance(0.5)
    response = await operated.client.post(
        "/admin/v1/revocations", json={"subject": "alice", "unpin": True}, headers=_admin()
    )
    assert response.status_code == 200
    operated.clock.advance(1)
    assert await _issue(operated, jti="second", fresh=True) == 200


# -- shared budgets --------------------------------------------------------------------------------------


async def test_request_rate_is_limited_per_user() -> None:
    async with build_world(requests_per_minute=3) as world:
        statuses = [await _issue(world) for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await world.client.post("/v1/credentials", json=BODY, headers=world.auth())
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        bob = {"target": "s3://data/users/bob/x", "permission": "READ"}
        ok = await world.client.post("/v1/credentials", json=bob, headers=world.auth("bob", "b"))
        assert ok.status_code == 200


# -- a cache that cannot record a revocation: 503, never a silent success or a 500 -----------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/admin/v1/revocations", {"subject": "alice"}),
        ("/admin/v1/revocations", {"token_id": "j"}),
        ("/admin/v1/revocations", {"everyone": True}),
        ("/admin/v1/revocations", {"idc_user_id": "idc-alice"}),
    ],
)
async def test_revocation_answers_503_when_the_cache_cannot_record_it(
    operated: World, monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, object]
) -> None:
    assert await _issue(operated) == 200  # pins alice, so idc-alice is known

    async def unavailable(*_: object) -> int:
        raise CacheUnavailableError("down")

    monkeypatch.setattr(MemoryCache, "bump_stamp", unavailable)
    response = await operated.client.post(path, json=body, headers=_admin())
    assert response.status_code == 503
    assert response.json()["code"] == "upstream_unavailable"
    signed_out = await operated.client.delete("/v1/session", headers=operated.auth())
    assert signed_out.status_code == 503
