"""boto3_session() against a broker and the emulator's S3: alice lists and reads, and the session refreshes.

Time moves with the emulator's settable clock (`/_emulator/clock`): the session reads it to decide when
its credentials expire, and the emulator's S3 judges them by it. Moves stay under the 15 minutes of
SigV4 request-time skew the emulator allows, so 1200-second credentials are asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.config import Config

from bench.stack import Broker, Emulator
from tip_broker_client import AccessDeniedError, BrokerClient, boto3_session

pytestmark = pytest.mark.e2e

ALICE_PREFIX = "s3://demo-data/users/alice/*"
DURATION_SECONDS = 1200
# botocore refreshes once fewer than 900 s are left (advisory) and insists below 600 s (mandatory).
INTO_ADVISORY_WINDOW = DURATION_SECONDS - 800
INTO_MANDATORY_WINDOW = DURATION_SECONDS - 500


@dataclass
class Tokens:
    """The ID token the client sends, counted each time the client asks for it."""

    sign_in: Callable[[str], str]
    current: str = ""
    asked: int = 0

    def __call__(self) -> str:
        self.asked += 1
        return self.current

    def renew(self) -> None:
        self.current = self.sign_in("alice")


@pytest.fixture
def broker(start_broker: Callable[..., AbstractContextManager[Broker]]) -> Iterator[Broker]:
    """A broker of the test's own: its cache holds no credentials of another test, its sign-outs reach
    no other broker."""
    with start_broker() as running:
        yield running


@pytest.fixture
def emulator_clock(emulator: Emulator) -> Iterator[Callable[[], datetime]]:
    """Return the emulator's time as a clock; the emulator is back on wall-clock time afterwards."""

    def now() -> datetime:
        return datetime.fromtimestamp(httpx.get(f"{emulator.url}/_emulator/clock").json()["now"], UTC)

    try:
        yield now
    finally:
        httpx.post(f"{emulator.url}/_emulator/clock", json={"offset_seconds": 0}).raise_for_status()


def _advance(emulator: Emulator, seconds: float) -> None:
    httpx.post(f"{emulator.url}/_emulator/clock", json={"advance_seconds": seconds}).raise_for_status()


def _s3(session: Any, emulator: Emulator) -> Any:
    return session.client(
        "s3",
        endpoint_url=emulator.url,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _keys(s3: Any) -> set[str]:
    listed = s3.list_objects_v2(Bucket="demo-data", Prefix="users/alice/")
    return {item["Key"] for item in listed.get("Contents", [])}


def _access_key(session: Any) -> str:
    key: str = session.get_credentials().get_frozen_credentials().access_key
    return key


def test_session_lists_and_reads_alices_objects(
    broker: Broker, emulator: Emulator, sign_in: Callable[[str], str]
) -> None:
    with BrokerClient(broker.url, sign_in("alice")) as client:
        session = boto3_session(client, ALICE_PREFIX, "READ")
        s3 = _s3(session, emulator)
        assert {"users/alice/notes.txt", "users/alice/reports/2024.csv"} <= _keys(s3)
        body = s3.get_object(Bucket="demo-data", Key="users/alice/notes.txt")["Body"].read()
    assert body == b"alice's notes\n"
    assert session.region_name == "us-east-1"


def test_session_outside_the_grant_is_refused_when_created(
    broker: Broker, sign_in: Callable[[str], str]
) -> None:
    with BrokerClient(broker.url, sign_in("alice")) as client, pytest.raises(AccessDeniedError):
        boto3_session(client, "s3://demo-data/users/bob/*", "READ")


def test_session_asks_the_broker_again_once_its_credentials_near_expiry(
    broker: Broker, emulator: Emulator, emulator_clock: Callable[[], datetime], sign_in: Callable[[str], str]
) -> None:
    tokens = Tokens(sign_in)
    tokens.renew()
    with BrokerClient(broker.url, tokens) as client:
        session = boto3_session(
            client, ALICE_PREFIX, "READ", duration_seconds=DURATION_SECONDS, clock=emulator_clock
        )
        s3 = _s3(session, emulator)
        assert "users/alice/notes.txt" in _keys(s3)
        assert tokens.asked == 1  # the credentials still have more than the refresh window left
        _advance(emulator, INTO_ADVISORY_WINDOW)
        assert "users/alice/notes.txt" in _keys(s3)
    assert tokens.asked == 2


def test_session_signs_with_the_new_credentials_the_broker_vends(
    broker: Broker, emulator: Emulator, emulator_clock: Callable[[], datetime], sign_in: Callable[[str], str]
) -> None:
    tokens = Tokens(sign_in)
    tokens.renew()
    with BrokerClient(broker.url, tokens) as client:
        session = boto3_session(
            client, ALICE_PREFIX, "READ", duration_seconds=DURATION_SECONDS, clock=emulator_clock
        )
        s3 = _s3(session, emulator)
        assert "users/alice/notes.txt" in _keys(s3)
        first = _access_key(session)
        # The broker keeps its cached credentials by its own (wall) clock: signing out makes it vend anew,
        # as it would once they aged. Tokens issued in the sign-out's second are refused, hence the wait.
        client.sign_out()
        time.sleep(1.05 - time.time() % 1)
        tokens.renew()
        _advance(emulator, INTO_MANDATORY_WINDOW)
        assert "users/alice/notes.txt" in _keys(s3)
        assert _access_key(session) != first
