"""Run the emulator: reset moto, seed the scenario, serve the dispatcher on a loopback port in a thread.

Optionally the same dispatcher also answers HTTPS on a second port (self-signed, emulator/tls.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

from emulator import moto_fixes, scenario, tls
from emulator.admin import AdminApp
from emulator.dispatch import Dispatcher
from emulator.grant_events import GrantEventPublisher
from emulator.scenario import Seeded
from emulator.state import EmulatorState


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without per-request access logging."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log line."""


class EmulatorServer:
    """The emulator bound to `host:port` (port 0 picks a free one), served from a background thread."""

    def __init__(
        self,
        scenario_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
        public_url: str | None = None,
        empty: bool = False,
        tls_port: int | None = None,
    ) -> None:
        self.access_log = access_log
        # Seed only what exists before a setup tool runs (see scenario.seed).
        self.empty = empty
        self.tls_port = tls_port
        self._tls_server: Any = None
        self._tls_thread: threading.Thread | None = None
        self.public_url = public_url.rstrip("/") if public_url else None
        self.scenario_path = Path(scenario_path) if scenario_path else scenario.DEFAULT_SCENARIO
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.state: EmulatorState | None = None
        self.seeded: Seeded | None = None

    @property
    def url(self) -> str:
        """Return the base URL, e.g. `http://127.0.0.1:9000`."""
        return f"http://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str | None:
        """Return the HTTPS base URL, e.g. `https://localhost:9443`, or None without a TLS port."""
        return f"https://localhost:{self.tls_port}" if self._tls_server is not None else None

    def start(self) -> EmulatorServer:
        """Bind, seed and start serving; returns self."""
        data = scenario.load(self.scenario_path)
        # moto keeps its backends in process globals: start every emulator from a clean slate.
        moto_api_backend.reset()
        moto_fixes.apply()
        state = scenario.new_state(data)
        dispatcher = Dispatcher(state, admin=_not_ready)
        self._server = make_server(
            self.host,
            self.port,
            dispatcher,
            threaded=True,
            request_handler=MotoRequestHandler if self.access_log else QuietRequestHandler,
        )
        self.port = int(self._server.server_port)
        if self.tls_port is not None:
            self._tls_server = make_server(
                self.host,
                self.tls_port,
                dispatcher,
                threaded=True,
                request_handler=MotoRequestHandler if self.access_log else QuietRequestHandler,
                ssl_context=tls.self_signed_context(),
            )
            self.tls_port = int(self._tls_server.server_port)
            state.tls_endpoint_url = self.tls_url
        # Behind a port mapping (docker compose) clients reach us under another name than the bind address.
        state.endpoint_url = self.public_url or self.url
        self.seeded = scenario.seed(state, dispatcher.access_grants, empty=self.empty)
        queue = state.scenario.get("grant_events_queue")
        if queue:
            # After seeding: only changes made through the API are published.
            dispatcher.access_grants.on_change = GrantEventPublisher(state, str(queue)).publish
        dispatcher.admin = AdminApp(state, self.seeded)
        self.state = state
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        if self._tls_server is not None:
            self._tls_thread = threading.Thread(
                target=self._tls_server.serve_forever, name="emulator-tls", daemon=True
            )
            self._tls_thread.start()
        return self

    def serve_forever(self) -> None:
        """Block until interrupted (used by `python -m emulator`)."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        if self._tls_server is not None:
            self._tls_server.shutdown()
            self._tls_server.server_close()
            self._tls_server = None
        if self._tls_thread is not None:
            self._tls_thread.join(timeout=5)
            self._tls_thread = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _not_ready(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "application/json")])
    return [b'{"error": "starting"}']
