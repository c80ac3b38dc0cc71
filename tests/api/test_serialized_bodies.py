"""An answer rendered from an equal value is serialized once; the oldest bodies make room for new ones."""

from __future__ import annotations

from pydantic import BaseModel

from service.api.responses import SerializedBodies
from tests.api.conftest import World


class _Answer(BaseModel):
    value: str


def test_an_equal_value_reuses_the_body_and_a_new_one_is_rendered() -> None:
    rendered: list[str] = []

    def render(value: str) -> _Answer:
        rendered.append(value)
        return _Answer(value=value)

    bodies = SerializedBodies(render)
    assert bodies.response("a", 2).body == b'{"value":"a"}'
    assert bodies.response("a", 2).body == b'{"value":"a"}'
    assert bodies.response("b", 2).body == b'{"value":"b"}'
    assert bodies.response("c", 2).media_type == "application/json"
    assert bodies.response("a", 2).body == b'{"value":"a"}'  # dropped as the oldest: rendered again
    assert rendered == ["a", "b", "c", "a"]


async def test_a_cached_credential_answers_the_same_bytes_and_a_renewed_one_new_bytes(world: World) -> None:
    body = {"target": "s3://data/users/alice/a", "permission": "READ", "duration_seconds": 1800}
    first = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    again = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert first.content == again.content
    world.clock.advance(1800 - 899)  # less than the minimum remains: vended anew
    renewed = await world.client.post("/v1/credentials", json=body, headers=world.auth())
    assert renewed.status_code == 200
    assert renewed.json()["access_key_id"] != first.json()["access_key_id"]
