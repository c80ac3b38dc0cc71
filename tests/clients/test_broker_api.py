"""The client commands' credentials call: a token the broker lost track of is renewed silently, once."""

from __future__ import annotations

import httpx
import pytest

from service.clients.broker_api import BrokerCredentials
from service.clients.errors import ClientCommandError

LOST = {"title": "Token state lost", "status": 401, "code": "token_state_lost", "detail": "cache restarted"}
CREDENTIALS = {"Version": 1, "AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t"}


class RenewingSource:
    """A signed-in user's tokens: the current one, and a new one from the issuer on demand."""

    def __init__(self) -> None:
        self.current, self.renewed = "old-token", 0

    def __call__(self) -> str:
        return self.current

    def renew(self) -> str:
        self.renewed += 1
        self.current = f"new-token-{self.renewed}"
        return self.current


def _broker(answers: dict[str, httpx.Response], source: object) -> tuple[BrokerCredentials, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        seen.append(token)
        return answers.get(token, httpx.Response(401, json=LOST))

    http = httpx.Client(transport=httpx.MockTransport(handle))
    return BrokerCredentials("http://broker", "s3://b/k", "READ", source, http=http), seen  # type: ignore[arg-type]


def test_a_lost_token_is_renewed_once_and_the_fresh_one_is_served() -> None:
    source = RenewingSource()
    broker, seen = _broker({"new-token-1": httpx.Response(200, json=CREDENTIALS)}, source)
    assert broker.fetch(output_format="credential_process") == CREDENTIALS
    assert seen == ["old-token", "new-token-1"]


def test_a_fresh_token_refused_again_is_not_renewed_twice() -> None:
    source = RenewingSource()
    broker, seen = _broker({}, source)
    with pytest.raises(ClientCommandError, match="lost its record of your ID token") as refused:
        broker.fetch()
    assert refused.value.status == 401
    assert seen == ["old-token", "new-token-1"]


def test_a_token_from_a_file_or_variable_is_not_renewed() -> None:
    broker, seen = _broker({}, lambda: "from-a-file")
    with pytest.raises(ClientCommandError, match="fresh ID token"):
        broker.fetch()
    assert seen == ["from-a-file"]
