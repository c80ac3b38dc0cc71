"""The access line: fixed fields written as they are, sampled on the hot routes' successes, JSON by orjson."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.logs import FIXED, REDACTED, JsonFormatter, RedactingFilter, json_line
from service.request_context import Sampler
from tests.api.conftest import World, build_world
from tests.logcapture import json_log

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.c2lnbmF0dXJlLWJ5dGVz"
CREDENTIALS = {"target": "s3://data/users/alice/*", "permission": "READ"}


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """Every JSON line written at INFO and above while the test runs."""
    with json_log(logging.INFO) as stream:
        yield stream


def _lines(log: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.getvalue().splitlines()]


def _record(**fields: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "event.name", None, None)
    record.__dict__.update(fields)
    return record


def test_fixed_fields_are_kept_and_free_fields_still_scanned() -> None:
    record = _record(
        route=f"/v1/{JWT}", subject=f"Bearer {JWT}", session_token="x", **{FIXED: {"route", "session_token"}}
    )
    RedactingFilter().filter(record)
    assert record.route == f"/v1/{JWT}"  # vouched for by the code that logged it
    assert JWT not in record.subject  # free text: scanned as ever
    assert record.session_token == REDACTED  # a secret's name hides its value even when listed


def test_a_fixed_record_with_arguments_has_its_message_scanned() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "token %s", (JWT,), None)
    record.__dict__[FIXED] = frozenset()
    RedactingFilter().filter(record)
    assert JWT not in record.msg


def test_json_lines_are_compact_and_fall_back_for_what_orjson_refuses() -> None:
    assert json_line({"a": 1, "b": [1, 2], 3: "x"}) == '{"a":1,"b":[1,2],"3":"x"}'
    assert json.loads(json_line({"n": 2**70})) == {"n": 2**70}
    assert json.loads(json_line({"s": "\ud800"})) == {"s": "\ud800"}


def test_json_formatter_writes_utc_milliseconds_and_no_marker() -> None:
    record = _record(status=200, **{FIXED: frozenset({"status"})})
    record.created = 1796295772.3689
    line = json.loads(JsonFormatter().format(record))
    assert line["time"] == "2026-12-03T11:02:52.368+00:00"
    assert line["status"] == 200
    assert FIXED not in line


def test_sampler_takes_an_even_share() -> None:
    assert [Sampler(1.0).take() for _ in range(3)] == [True] * 3
    assert sum(Sampler(0.0).take() for _ in range(100)) == 0
    sampler = Sampler(0.25)
    assert [sampler.take() for _ in range(8)] == [False, False, False, True] * 2


async def test_every_request_has_an_access_line_by_default(world: World, log: io.StringIO) -> None:
    await world.client.post("/v1/credentials", json=CREDENTIALS, headers=world.auth())
    await world.client.get("/healthz")
    access = [(line["route"], line["status"]) for line in _lines(log) if line["event"] == "http.request"]
    assert access == [("/v1/credentials", 200), ("/healthz", 200)]


async def test_a_zero_rate_drops_the_hot_routes_successes_only(log: io.StringIO) -> None:
    async with build_world(hot_access_log_rate=0.0) as world:
        await world.client.post("/v1/credentials", json=CREDENTIALS, headers=world.auth())
        await world.client.post(
            "/v1/presign",
            json={"bucket": "data", "key": "users/alice/a", "method": "GET"},
            headers=world.auth(),
        )
        await world.client.post("/v1/credentials", json={"target": "x"}, headers=world.auth())
        await world.client.get("/healthz")
    access = [(line["route"], line["status"]) for line in _lines(log) if line["event"] == "http.request"]
    assert access == [("/v1/credentials", 422), ("/healthz", 200)]
    assert [line["event"] for line in _lines(log)].count("credentials.issued") == 1  # audit records stay
