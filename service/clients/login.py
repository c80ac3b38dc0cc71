"""`tip-broker login`: sign a person in at the OIDC issuer with the authorization-code flow and PKCE
(RFC 7636) on a loopback redirect (RFC 8252), then keep the tokens in the user's token store."""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys
import threading
import time
import webbrowser
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from service.clients.errors import ClientCommandError
from service.clients.token_store import StoredTokens, TokenStore, jwt_expiry, oauth_error

CALLBACK_PATH = "/callback"
DONE_PAGE = (
    b"<!doctype html><meta charset='utf-8'><title>tip-broker</title>"
    b"<p>Signed in. You can close this window and go back to the terminal.</p>"
)
FAILED_PAGE = (
    b"<!doctype html><meta charset='utf-8'><title>tip-broker</title>"
    b"<p>Sign-in failed. The terminal says why.</p>"
)


@dataclass(frozen=True)
class Endpoints:
    """The issuer's endpoints, from its discovery document."""

    authorization_endpoint: str
    token_endpoint: str


def discover(issuer: str, http: httpx.Client) -> Endpoints:
    """Read `<issuer>/.well-known/openid-configuration`."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        document = http.get(url).raise_for_status().json()
        return Endpoints(str(document["authorization_endpoint"]), str(document["token_endpoint"]))
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ClientCommandError(
            f"cannot read the issuer's discovery document {url} ({type(exc).__name__}): check --issuer "
            "(it must offer the authorization-code flow)"
        ) from None


def pkce_pair() -> tuple[str, str]:
    """Return a fresh code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _CallbackHandler(BaseHTTPRequestHandler):
    """Takes the first request to the callback path; the query lands on the server."""

    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH or self.server.query is not None:
            self.send_error(404)
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        ours = secrets.compare_digest(query.get("state", "").encode(), self.server.state.encode())
        ok = ours and "code" in query
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(DONE_PAGE if ok else FAILED_PAGE)
        if ours:  # another page or process cannot end (or cancel) this sign-in without its state
            self.server.query = query
            self.server.arrived.set()

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: the request line carries the authorization code."""


class _CallbackServer(HTTPServer):
    def __init__(self, state: str, port: int) -> None:
        # Loopback only: the code must not be offered to other machines (RFC 8252 section 8.3).
        super().__init__(("127.0.0.1", port), _CallbackHandler)
        self.state = state
        self.query: dict[str, str] | None = None
        self.arrived = threading.Event()


def _wait_for_code(server: _CallbackServer, timeout: float) -> dict[str, str]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        if not server.arrived.wait(timeout):
            raise ClientCommandError(
                f"no sign-in arrived within {timeout:.0f} s: run `tip-broker login` again and finish "
                "signing in in the browser (or open the printed URL yourself)"
            )
    finally:
        server.shutdown()
        server.server_close()
    assert server.query is not None  # noqa: S101 - set before `arrived`
    return server.query


def login(
    issuer: str,
    client_id: str,
    *,
    scope: str = "openid email profile",
    open_browser: bool = True,
    timeout: float = 300.0,
    redirect_host: str = "127.0.0.1",
    redirect_port: int = 0,
    store: TokenStore | None = None,
    http: httpx.Client | None = None,
) -> StoredTokens:
    """Sign in through the browser and save the tokens; return them.

    The redirect is `http://<redirect_host>:<port>/callback`, served on 127.0.0.1. Port 0 picks a free one
    (RFC 8252 lets the issuer accept any loopback port); issuers matching callback URLs exactly, such as
    Cognito, need the registered `localhost` URL's port.
    """
    http = http or httpx.Client(timeout=10)
    store = store or TokenStore()
    endpoints = discover(issuer, http)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    try:
        server = _CallbackServer(state, redirect_port)
    except OSError as exc:
        raise ClientCommandError(
            f"cannot listen on 127.0.0.1:{redirect_port} for the sign-in redirect ({exc.strerror}): "
            "choose another --redirect-port, or 0 for any"
        ) from None
    redirect_uri = f"http://{redirect_host}:{server.server_port}{CALLBACK_PATH}"
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    url = f"{endpoints.authorization_endpoint}?{query}"
    print("Sign in at this URL (opening your browser):", file=sys.stderr)
    print(url, file=sys.stderr, flush=True)
    if open_browser:
        webbrowser.open(url)
    answer = _wait_for_code(server, timeout)
    if "error" in answer:
        raise ClientCommandError(
            f"the issuer refused the sign-in ({answer['error']}: {answer.get('error_description', '')}): "
            "check --client-id and that the app client allows the authorization-code flow"
        )
    if not secrets.compare_digest(answer.get("state", ""), state) or "code" not in answer:
        raise ClientCommandError(
            "the sign-in answer did not match this login (state differs): run login again"
        )
    tokens = _redeem(
        http,
        endpoints,
        issuer=issuer,
        client_id=client_id,
        code=answer["code"],
        redirect_uri=redirect_uri,
        verifier=verifier,
    )
    store.save(tokens)
    return tokens


def _redeem(
    http: httpx.Client,
    endpoints: Endpoints,
    *,
    issuer: str,
    client_id: str,
    code: str,
    redirect_uri: str,
    verifier: str,
) -> StoredTokens:
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    try:
        response = http.post(endpoints.token_endpoint, data=form)
    except httpx.HTTPError as exc:
        raise ClientCommandError(
            f"cannot reach the issuer's token endpoint {endpoints.token_endpoint} ({type(exc).__name__}): "
            "check the network and run login again"
        ) from None
    if response.status_code != 200:
        error = oauth_error(response)
        raise ClientCommandError(f"the issuer refused to redeem the sign-in ({error}): run login again")
    body = response.json()
    id_token = str(body["id_token"])
    expires_in = float(body.get("expires_in", 3600))
    return StoredTokens(
        issuer=issuer,
        client_id=client_id,
        token_endpoint=endpoints.token_endpoint,
        id_token=id_token,
        refresh_token=body.get("refresh_token"),
        access_token=body.get("access_token"),
        expires_at=min(time.time() + expires_in, jwt_expiry(id_token) or float("inf")),
    )
