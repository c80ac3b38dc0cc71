"""Cognito's hosted UI, reduced to what a public client needs: the authorization-code flow with PKCE
(`/oauth2/authorize`, `/oauth2/token`), refresh, and the user pool's discovery document and key set."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse
from werkzeug.wrappers import Response

from emulator.hosted_ui_pages import error_page, login_page
from emulator.oauth_tokens import (
    CODE_LIFETIME_SECONDS,
    OAuthError,
    PendingCode,
    TokenEndpoint,
    cognito,
    find_client,
    json_response,
    secret_hash,
    with_cors,
)
from emulator.state import EmulatorState
from emulator.wire import AwsRequest

SUPPORTED_SCOPES = frozenset({"openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
# RFC 7636 section 4.2: a base64url SHA-256 digest without padding is 43 characters.
S256_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
WELL_KNOWN_RE = re.compile(r"/([^/]+)/\.well-known/(jwks\.json|openid-configuration)")
OPERATIONS = {"/oauth2/authorize": "Authorize", "/oauth2/token": "Token"}


def owns(path: str) -> bool:
    """Return whether a path belongs to the hosted UI (the `/oauth2/` endpoints)."""
    return path in OPERATIONS


def operation_for(path: str) -> str:
    """Name the operation of a hosted-UI or well-known request for the call log."""
    match = WELL_KNOWN_RE.fullmatch(path)
    if match:
        return "GetJwks" if match.group(2) == "jwks.json" else "GetOpenIdConfiguration"
    return OPERATIONS.get(path, "Unknown")


@dataclass(frozen=True)
class AuthorizeRequest:
    """The validated query of `/oauth2/authorize`."""

    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    scope: str


def is_loopback_redirect(uri: str) -> bool:
    """Return whether `uri` is an `http://` loopback redirect with a port (RFC 8252 section 7.3)."""
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0].lower()
    try:
        port = parts.port
    except ValueError:
        return False
    return parts.scheme == "http" and host in LOOPBACK_HOSTS and port is not None and not parts.fragment


class HostedUi:
    """Serves the hosted UI's endpoints from moto's user pools; codes live in memory."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.tokens = TokenEndpoint(state)

    def handle(self, req: AwsRequest) -> Response | None:
        """Serve one request, or None to let moto answer it."""
        well_known = WELL_KNOWN_RE.fullmatch(req.path)
        if well_known:
            return self._well_known(req, well_known.group(1), well_known.group(2))
        if req.path == "/oauth2/token":
            return self.tokens.handle(req)
        if req.path == "/oauth2/authorize":
            return self._authorize(req)
        return None

    def _base_url(self, req: AwsRequest) -> str:
        host = req.headers.get("host")
        return f"http://{host}" if host else self.state.endpoint_url

    # Discovery --------------------------------------------------------------------------------------

    def _well_known(self, req: AwsRequest, pool_id: str, name: str) -> Response:
        if req.method == "OPTIONS":
            return with_cors(req, Response(status=204), "GET, OPTIONS")
        if pool_id not in cognito(self.state).user_pools:
            body = {"message": f"User pool {pool_id} does not exist."}
            return with_cors(req, json_response(body, 404), "GET, OPTIONS")
        if name == "jwks.json":
            return with_cors(
                req,
                Response(CognitoIdpJsonWebKeyResponse.json_web_key, 200, content_type="application/json"),
                "GET, OPTIONS",
            )
        base = self._base_url(req)
        document = {
            "issuer": f"https://cognito-idp.{self.state.region}.amazonaws.com/{pool_id}",
            "jwks_uri": f"{base}/{pool_id}/.well-known/jwks.json",
            "authorization_endpoint": f"{base}/oauth2/authorize",
            "token_endpoint": f"{base}/oauth2/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": sorted(SUPPORTED_SCOPES - {"aws.cognito.signin.user.admin"}),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        }
        return with_cors(req, json_response(document), "GET, OPTIONS")

    # Authorization endpoint -------------------------------------------------------------------------

    def _authorize(self, req: AwsRequest) -> Response:
        if req.method not in ("GET", "POST"):
            return error_page("invalid_request", "use GET (or POST the sign-in form)", 405)
        params = dict(req.query)
        client_id = params.get("client_id", "")
        client = find_client(self.state, client_id) if client_id else None
        if client is None:
            return error_page("invalid_client", f"unknown client_id {client_id!r}")
        redirect_uri = params.get("redirect_uri", "")
        callbacks = client.extended_config.get("CallbackURLs") or []
        if not redirect_uri or not (redirect_uri in callbacks or is_loopback_redirect(redirect_uri)):
            return error_page(
                "redirect_mismatch",
                f"redirect_uri {redirect_uri!r} is neither a loopback http://127.0.0.1:<port>/… or "
                "http://localhost:<port>/… address nor a callback URL of the app client",
            )
        state = params.get("state")
        try:
            authorize = self._check_authorize(params, client_id, redirect_uri, state)
        except OAuthError as err:
            return _redirect(redirect_uri, {"error": err.error, "error_description": err.description}, state)
        if req.method == "GET":
            return login_page(req.raw_query)
        return self._sign_in(req, authorize, client)

    def _check_authorize(
        self, params: dict[str, str], client_id: str, redirect_uri: str, state: str | None
    ) -> AuthorizeRequest:
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        method = params.get("code_challenge_method")
        challenge = params.get("code_challenge")
        if not challenge or method is None:
            raise OAuthError(
                "invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256"
            )
        if method != "S256":
            raise OAuthError(
                "invalid_request", f"code_challenge_method {method!r} is not supported: use S256"
            )
        if not S256_CHALLENGE_RE.fullmatch(challenge):
            raise OAuthError("invalid_request", "code_challenge is not a base64url SHA-256 digest")
        scope = params.get("scope", "openid")
        unknown = set(scope.split()) - SUPPORTED_SCOPES
        if unknown:
            raise OAuthError("invalid_scope", f"unsupported scope: {' '.join(sorted(unknown))}")
        return AuthorizeRequest(client_id, redirect_uri, state, challenge, scope)

    def _sign_in(self, req: AwsRequest, authorize: AuthorizeRequest, client: Any) -> Response:
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        username, password = form.get("username", ""), form.get("password", "")
        tokens = self._password_auth(client, username, password) if username and password else None
        if tokens is None:
            return login_page(req.raw_query, error="Incorrect username or password.", username=username)
        code = secrets.token_urlsafe(32)
        pending = PendingCode(
            authorize.client_id,
            authorize.redirect_uri,
            authorize.code_challenge,
            self.state.now() + CODE_LIFETIME_SECONDS,
            tokens,
        )
        self.tokens.remember(code, pending)
        return _redirect(authorize.redirect_uri, {"code": code}, authorize.state)

    def _password_auth(self, client: Any, username: str, password: str) -> dict[str, Any] | None:
        parameters = {"USERNAME": username, "PASSWORD": password}
        if client.generate_secret:
            parameters["SECRET_HASH"] = secret_hash(client, username)
        try:
            result = cognito(self.state).initiate_auth(client.id, "USER_PASSWORD_AUTH", parameters)
        except Exception:  # moto raises its own Cognito error types; all mean "sign-in failed"
            return None
        auth: dict[str, Any] = result.get("AuthenticationResult") or {}
        return auth or None


def _redirect(redirect_uri: str, params: dict[str, str], state: str | None) -> Response:
    if state is not None:
        params = {**params, "state": state}
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return Response(status=302, headers={"Location": redirect_uri + separator + urlencode(params)})
