"""The hosted UI's token endpoint (`POST /oauth2/token`): authorization codes waiting for their PKCE
verifier, the authorization_code and refresh_token grants, and the CORS every browser origin gets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from moto.cognitoidp.models import cognitoidp_backends
from werkzeug.wrappers import Response

from emulator.state import EmulatorState
from emulator.wire import AwsRequest

# Cognito's authorization codes are valid for five minutes.
CODE_LIFETIME_SECONDS = 300
# RFC 7636 section 4.1: 43 to 128 unreserved characters.
VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")


class OAuthError(Exception):
    """An OAuth error answer (RFC 6749 sections 4.1.2.1 and 5.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class PendingCode:
    """An authorization code waiting to be exchanged, and the tokens it stands for."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    expires_at: float
    tokens: dict[str, Any]


def s256(verifier: str) -> str:
    """Return the PKCE S256 challenge of a code verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def cognito(state: EmulatorState) -> Any:
    """Return moto's cognito-idp backend of the emulated account and region."""
    return cognitoidp_backends[state.account_id][state.region]


def find_client(state: EmulatorState, client_id: str) -> Any | None:
    """Return moto's user pool app client with this id, None when no pool has it."""
    for pool in cognito(state).user_pools.values():
        if client_id in pool.clients:
            return pool.clients[client_id]
    return None


def secret_hash(client: Any, username: str) -> str:
    """Return Cognito's SECRET_HASH of a username for an app client with a secret."""
    digest = hmac.new(client.secret.encode(), (username + client.id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def json_response(body: Any, status: int = 200) -> Response:
    """Return a JSON answer."""
    return Response(json.dumps(body), status=status, content_type="application/json")


def with_cors(req: AwsRequest, response: Response, methods: str) -> Response:
    """Let any browser origin call (Cognito's token and discovery endpoints answer every origin)."""
    origin = req.headers.get("origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        if req.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = methods
            response.headers["Access-Control-Allow-Headers"] = req.headers.get(
                "access-control-request-headers", "Content-Type, Authorization"
            )
            response.headers["Access-Control-Max-Age"] = "600"
    return response


class TokenEndpoint:
    """Redeems authorization codes (once each, within their lifetime on the emulator's clock) and
    refresh tokens."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._codes: dict[str, PendingCode] = {}
        self._lock = threading.Lock()

    def remember(self, code: str, pending: PendingCode) -> None:
        """Keep a freshly issued code until it is redeemed or expires."""
        with self._lock:
            now = self.state.now()
            for stale in [c for c, p in self._codes.items() if p.expires_at <= now]:
                del self._codes[stale]
            self._codes[code] = pending

    def handle(self, req: AwsRequest) -> Response:
        """Serve `/oauth2/token` (and its CORS preflight)."""
        if req.method == "OPTIONS":
            return with_cors(req, Response(status=204), "POST, OPTIONS")
        try:
            body, status = self._grant(req), 200
        except OAuthError as err:
            req.annotations["error"] = err.error
            body, status = {"error": err.error, "error_description": err.description}, err.status
        response = json_response(body, status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return with_cors(req, response, "POST, OPTIONS")

    def _grant(self, req: AwsRequest) -> dict[str, Any]:
        if req.method != "POST":
            raise OAuthError("invalid_request", "the token endpoint takes POST", 405)
        if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise OAuthError("invalid_request", "send an application/x-www-form-urlencoded body")
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        client = self._authenticate_client(req, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._redeem_code(client, form)
        if grant_type == "refresh_token":
            return self._refresh(client, form)
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _authenticate_client(self, req: AwsRequest, form: dict[str, str]) -> Any:
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        basic = req.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic authorization", 401) from None
        client = find_client(self.state, client_id) if client_id else None
        if client is None:
            raise OAuthError("invalid_client", "unknown or missing client_id", 401 if basic else 400)
        if client.generate_secret and not (
            secret and hmac.compare_digest(secret.encode(), client.secret.encode())
        ):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    def _redeem_code(self, client: Any, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            # Single use: a code is gone after its first redemption attempt, good or bad.
            pending = self._codes.pop(form.get("code", ""), None)
        if pending is None or pending.expires_at <= self.state.now():
            raise OAuthError("invalid_grant", "the authorization code is unknown, used or expired")
        if pending.client_id != client.id:
            raise OAuthError("invalid_grant", "the authorization code was issued to another client")
        if form.get("redirect_uri") != pending.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier", "")
        if not VERIFIER_RE.fullmatch(verifier) or not hmac.compare_digest(
            s256(verifier), pending.code_challenge
        ):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        tokens = pending.tokens
        return {
            "id_token": tokens["IdToken"],
            "access_token": tokens["AccessToken"],
            "refresh_token": tokens["RefreshToken"],
            "expires_in": tokens.get("ExpiresIn", 3600),
            "token_type": "Bearer",
        }

    def _refresh(self, client: Any, form: dict[str, str]) -> dict[str, Any]:
        refresh_token = form.get("refresh_token", "")
        owner = None
        for pool in cognito(self.state).user_pools.values():
            owner = owner or pool.refresh_tokens.get(refresh_token)
        if not refresh_token or owner is None or owner[0] != client.id:
            raise OAuthError("invalid_grant", "the refresh token is unknown, revoked or not this client's")
        parameters = {"REFRESH_TOKEN": refresh_token}
        if client.generate_secret:
            parameters["SECRET_HASH"] = secret_hash(client, owner[1])
        try:
            result = cognito(self.state).initiate_auth(client.id, "REFRESH_TOKEN_AUTH", parameters)
        except Exception:  # moto raises its own Cognito error types; all mean "refused"
            raise OAuthError("invalid_grant", "the refresh token was refused") from None
        auth = result.get("AuthenticationResult") or {}
        # Cognito does not rotate refresh tokens by default: the answer has no refresh_token.
        return {
            "id_token": auth["IdToken"],
            "access_token": auth["AccessToken"],
            "expires_in": auth.get("ExpiresIn", 3600),
            "token_type": "Bearer",
        }
