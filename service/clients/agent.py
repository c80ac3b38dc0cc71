"""`tip-broker agent`: the ECS container-credentials protocol on 127.0.0.1, so stock SDKs and the AWS CLI
pick up broker credentials through `AWS_CONTAINER_CREDENTIALS_FULL_URI` with no code of ours."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from service.clients.broker_api import BrokerCredentials
from service.clients.errors import ClientCommandError

CREDENTIALS_PATH = "/credentials"
# botocore refreshes container credentials with less than 10 minutes left (mandatory refresh): never
# serve it credentials that close to expiry.
REFRESH_MARGIN_SECONDS = 600


def _expires_at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class CredentialCache:
    """The last credentials from the broker, fetched again (one fetch at a time) before they expire."""

    def __init__(self, broker: BrokerCredentials, margin_seconds: float = REFRESH_MARGIN_SECONDS) -> None:
        self.broker = broker
        self.margin_seconds = margin_seconds
        self._lock = threading.Lock()
        self._answer: dict[str, str] | None = None
        self._expires_at = 0.0

    def get(self) -> dict[str, str]:
        """Return credentials in the container-credentials shape, from the cache or the broker.

        Raises:
            ClientCommandError: the broker or the token source failed; the message says what to do.
        """
        with self._lock:
            if self._answer is None or self._expires_at - time.time() <= self.margin_seconds:
                answer = self.broker.fetch()
                try:
                    expires = _expires_at(str(answer["expiration"])).astimezone(UTC)
                    self._answer = {
                        "AccessKeyId": str(answer["access_key_id"]),
                        "SecretAccessKey": str(answer["secret_access_key"]),
                        "Token": str(answer["session_token"]),
                        "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                except (KeyError, ValueError, TypeError):
                    raise ClientCommandError(
                        f"{self.broker.broker_url} answered credentials in an unknown shape: "
                        "check --broker-url points at a tip-broker",
                        502,
                    ) from None
                self._expires_at = expires.timestamp()
            return self._answer


class _Handler(BaseHTTPRequestHandler):
    server: AgentServer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != CREDENTIALS_PATH:
            self._json(404, {"code": "not_found", "message": f"credentials are served at {CREDENTIALS_PATH}"})
            return
        presented = self.headers.get("Authorization", "")
        if not hmac.compare_digest(presented.encode(), self.server.auth_token.encode()):
            self._json(401, {"code": "unauthorized", "message": "missing or wrong Authorization token"})
            return
        try:
            self._json(200, self.server.cache.get())
        except ClientCommandError as err:
            self.server.report(err.message)
            self._json(err.status, {"code": "broker_refused", "message": err.message})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing per request: failures are reported once each by `AgentServer.report`."""


class AgentServer(ThreadingHTTPServer):
    """Serves one target's credentials to whoever presents the random authorization token."""

    def __init__(self, cache: CredentialCache, port: int = 0, auth_token: str | None = None) -> None:
        # Loopback only: the agent hands out credentials to any local process holding the token.
        super().__init__(("127.0.0.1", port), _Handler)
        self.daemon_threads = True
        self.cache = cache
        self.auth_token = auth_token or secrets.token_urlsafe(32)
        self._last_report = ""

    @property
    def url(self) -> str:
        """Return the full URI an SDK fetches credentials from."""
        return f"http://127.0.0.1:{self.server_port}{CREDENTIALS_PATH}"

    def report(self, message: str) -> None:
        """Print a failure on stderr, once per distinct message in a row (SDKs retry)."""
        if message != self._last_report:
            self._last_report = message
            print(f"tip-broker agent: {message}", file=sys.stderr, flush=True)

    def handle_error(self, request: object, client_address: object) -> None:
        """Report a failed request in one line (the default prints a traceback)."""
        failure = sys.exc_info()[1]
        self.report(f"a request from {client_address} failed ({type(failure).__name__})")

    def prefetch(self) -> None:
        """Warm the cache in the background so the first SDK call does not wait on the broker."""

        def run() -> None:
            try:
                self.cache.get()
            except ClientCommandError as err:
                self.report(err.message)

        threading.Thread(target=run, name="agent-prefetch", daemon=True).start()


def write_token_file(path: Path, token: str) -> None:
    """Write the authorization token to a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_NOFOLLOW: a symlink planted at the path is refused, not written through.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)


def serve(server: AgentServer, token_out: Path | None = None) -> None:
    """Print the environment an SDK needs as the first stdout lines, then serve until interrupted."""
    lines = [f"export AWS_CONTAINER_CREDENTIALS_FULL_URI={server.url}"]
    if token_out is not None:
        write_token_file(token_out, server.auth_token)
        lines.append(f"export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={token_out}")
    else:
        lines.append(f"export AWS_CONTAINER_AUTHORIZATION_TOKEN={server.auth_token}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    print(
        f"tip-broker agent: serving credentials for {server.cache.broker.target} on {server.url}",
        file=sys.stderr,
    )
    server.prefetch()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if token_out is not None:
            token_out.unlink(missing_ok=True)
