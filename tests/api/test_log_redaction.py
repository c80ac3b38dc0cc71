"""No token, secret key or session token reaches a log line, whatever path it takes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.logs import ConsoleFormatter, JsonFormatter, RedactingFilter
from tests.api.conftest import World

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.c2lnbmF0dXJlLWJ5dGVz"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_logs_contain_no_vended_secret_after_full_request(
    world: World, log_stream: io.StringIO
) -> None:
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/a", "permission": "READ"},
        headers=world.auth(),
    )
    body = response.json()
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    text = log_stream.getvalue()
    assert any(line["event"] == "credentials.issued" for line in lines)
    assert body["secret_access_key"] not in text
    assert body["session_token"] not in text
    assert world.auth()["Authorization"].split()[1] not in text


def test_redacting_filter_hides_jwt_in_message(log_stream: io.StringIO) -> None:
    logging.getLogger("t").warning("token was %s", JWT)
    assert JWT not in log_stream.getvalue()
    assert "[redacted]" in log_stream.getvalue()


def test_redacting_filter_hides_secret_named_fields(log_stream: io.StringIO) -> None:
    logging.getLogger("t").info(
        "x",
        extra={"secret_access_key": "wJalrXUtnFEMI", "session_token": "FwoGZXIvYXdzE", "subject": "alice"},
    )
    line = json.loads(log_stream.getvalue())
    assert line["secret_access_key"] == "[redacted]"
    assert line["session_token"] == "[redacted]"
    assert line["subject"] == "alice"


def test_redacting_filter_hides_bearer_header_in_exception(log_stream: io.StringIO) -> None:
    try:
        raise ValueError(f"header was Authorization: Bearer {JWT}")
    except ValueError:
        logging.getLogger("t").exception("boom")
    assert JWT not in log_stream.getvalue()


def test_console_formatter_includes_fields() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "cache.hit", None, None)
    record.layer = "access"
    assert ConsoleFormatter().format(record).endswith("layer=access")
