"""The login's loopback callback: only the redirect carrying this sign-in's state ends the wait."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from service.clients.login import CALLBACK_PATH, _CallbackServer


@pytest.fixture
def callback() -> Iterator[_CallbackServer]:
    server = _CallbackServer("the-state", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _visit(server: _CallbackServer, query: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}?{query}", timeout=5)


def test_a_redirect_with_another_state_neither_ends_nor_cancels_the_sign_in(
    callback: _CallbackServer,
) -> None:
    # Any local process or web page can reach the loopback port: without the state it is refused.
    assert _visit(callback, "code=forged&state=guessed").status_code == 400
    assert _visit(callback, "error=access_denied").status_code == 400
    assert not callback.arrived.is_set()
    assert callback.query is None

    assert _visit(callback, "code=real&state=the-state").status_code == 200
    assert callback.arrived.is_set()
    assert callback.query == {"code": "real", "state": "the-state"}


def test_the_idps_own_error_redirect_ends_the_sign_in(callback: _CallbackServer) -> None:
    assert _visit(callback, "error=access_denied&state=the-state").status_code == 400
    assert callback.arrived.is_set()
    assert callback.query == {"error": "access_denied", "state": "the-state"}
