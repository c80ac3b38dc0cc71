"""sso-oidc `CreateTokenWithIAM` with trusted-token-issuer validation, and Identity Store lookups."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.request
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import JWTError, jwt
from moto.identitystore.models import identitystore_backends
from werkzeug.wrappers import Response

from emulator import permissions
from emulator.state import Application, EmulatorState, IdentityContext, TrustedTokenIssuer, new_id
from emulator.wire import OIDC_AUTH, STS_AUTH, AwsError, AwsRequest, authenticate, error_response, iso8601

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN = "refresh_token"
KNOWN_GRANTS = frozenset(
    {JWT_BEARER, REFRESH_TOKEN, "authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"}
)
TOKEN_LIFETIME = 3600  # every documented example shows expiresIn 3600
REFRESH_LIFETIME = 24 * 3600  # not documented by AWS (emulator choice)
DEFAULT_SCOPES = ("sts:identity_context", "openid", "aws")
READ_ONLY_SCOPE = "s3:access_grants:read_only"
READ_WRITE_SCOPE = "s3:access_grants:read_write"
ACCESS_SCOPE_OPERATIONS = frozenset(
    {"PutApplicationAccessScope", "DeleteApplicationAccessScope", "ListApplicationAccessScopes"}
)
JWKS_TTL = 300.0
_FETCH_TIMEOUT = 5.0


def _invalid_grant(message: str) -> AwsError:
    return AwsError("InvalidGrantException", message, 400)


class SigningKey:
    """The emulator's own RS256 key for IdC idTokens."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = new_id()
        self.pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def sign(self, claims: dict[str, Any]) -> str:
        """Return a signed JWT."""
        return str(jwt.encode(claims, self.pem, algorithm="RS256", headers={"kid": self.kid}))


class JwksFetcher:
    """Fetch an issuer's discovery document and JWKS over HTTP, with a short cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def keys_for(self, issuer: TrustedTokenIssuer, kid: str | None) -> dict[str, Any]:
        """Return the issuer's JWKS, refetched when stale or when `kid` is unknown."""
        with self._lock:
            cached = self._cache.get(issuer.arn)
        if cached and time.monotonic() - cached[0] < JWKS_TTL and _has_kid(cached[1], kid):
            return cached[1]
        jwks_url = issuer.jwks_url
        if jwks_url is None:
            discovery_url = (
                issuer.discovery_url or issuer.issuer_url.rstrip("/") + "/.well-known/openid-configuration"
            )
            discovery = _get_json(discovery_url)
            jwks_url = str(discovery.get("jwks_uri", ""))
            if not jwks_url:
                raise _invalid_grant("The issuer's discovery document has no jwks_uri")
        jwks = _get_json(jwks_url)
        with self._lock:
            self._cache[issuer.arn] = (time.monotonic(), jwks)
        return jwks


def _has_kid(jwks: dict[str, Any], kid: str | None) -> bool:
    return kid is None or any(k.get("kid") == kid for k in jwks.get("keys", []))


def _get_json(url: str) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise _invalid_grant(f"Unsupported key URL {url}")
    try:
        # The URL comes from the operator's scenario or the issuer's discovery document, scheme checked above.
        with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT) as resp:  # noqa: S310
            data = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise _invalid_grant(f"Unable to retrieve keys from {url}: {exc}") from exc
    if not isinstance(data, dict):
        raise _invalid_grant(f"Unexpected document at {url}")
    return data


class _VersionedUsers(dict[str, Any]):
    """moto's user table, counting its changes so the lookup index knows when to rebuild."""

    version = 0
    index: tuple[int, dict[str, list[str]], dict[str, list[str]]] | None = None

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.version += 1

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.version += 1

    def pop(self, *args: Any) -> Any:
        self.version += 1
        return super().pop(*args)

    def clear(self) -> None:
        super().clear()
        self.version += 1

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self.version += 1


def _store_users(state: EmulatorState) -> _VersionedUsers | None:
    backend = identitystore_backends[state.account_id][state.region]
    store = backend.identity_stores.get(state.identity_center.identity_store_id)
    if store is None:
        return None
    if not isinstance(store.users, _VersionedUsers):
        store.users = _VersionedUsers(store.users)
    users: _VersionedUsers = store.users
    return users


def _build_index(users: _VersionedUsers) -> tuple[int, dict[str, list[str]], dict[str, list[str]]]:
    version = users.version  # read first: a change while building makes the next lookup rebuild
    by_name: dict[str, list[str]] = {}
    by_email: dict[str, list[str]] = {}
    for user_id, user in list(users.items()):
        by_name.setdefault(user.UserName, []).append(user_id)
        for value in dict.fromkeys(e.get("Value") for e in user.Emails or []):
            if isinstance(value, str):
                by_email.setdefault(value, []).append(user_id)
    return version, by_name, by_email


def find_users(state: EmulatorState, attribute_path: str, value: str) -> list[str]:
    """Return the Identity Store user ids whose `userName` / `emails.value` equals `value`.

    Looked up in an index of the store's users, rebuilt after any create, update or delete of a user.
    """
    users = _store_users(state)
    if users is None:
        return []
    index = users.index
    if index is None or index[0] != users.version:
        index = users.index = _build_index(users)
    path = attribute_path.lower()
    table = index[1] if path == "username" else index[2] if path == "emails.value" else {}
    return list(table.get(value, []))


def group_ids_of(state: EmulatorState, user_id: str) -> set[str]:
    """Return the Identity Store group ids the user is a member of."""
    backend = identitystore_backends[state.account_id][state.region]
    store = backend.identity_stores.get(state.identity_center.identity_store_id)
    if store is None:
        return set()
    return {
        m["GroupId"] for m in list(store.group_memberships.values()) if m["MemberId"].get("UserId") == user_id
    }


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class IdentityCenterHandler:
    """Serve `POST /token?aws_iam=t`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.key = SigningKey()
        self.jwks = JwksFetcher()

    def handle(self, req: AwsRequest) -> Response:
        """Dispatch a sso-oidc request."""
        req.operation = "CreateTokenWithIAM" if req.arg("aws_iam") == "t" else "CreateToken"
        try:
            return self._serve(req)
        except AwsError as err:
            req.annotations["error"] = err.code
            return error_response("oauth-json", err)

    def _serve(self, req: AwsRequest) -> Response:
        if req.method != "POST" or req.path != "/token" or req.arg("aws_iam") != "t":
            raise AwsError("InvalidRequestException", "Only CreateTokenWithIAM is emulated", 400)
        authenticate(self.state, req, OIDC_AUTH)
        return self._create_token_with_iam(req)

    def _create_token_with_iam(self, req: AwsRequest) -> Response:
        try:
            body = json.loads(req.body or b"{}")
        except ValueError as exc:
            raise AwsError("InvalidRequestException", "Request body is not JSON", 400) from exc
        client_id, grant_type = body.get("clientId"), body.get("grantType")
        if not client_id or not grant_type:
            raise AwsError("InvalidRequestException", "clientId and grantType are required", 400)
        if req.caller is not None:
            # IAM first: the caller's identity policies must allow the action on the application
            # (docs/aws.md#createtokenwithiam-permissions); a refusal is a modeled 400 access_denied.
            permissions.require(
                self.state,
                req.caller,
                "sso-oauth:CreateTokenWithIAM",
                str(client_id),
                code="AccessDeniedException",
                status=400,
                kinds=frozenset({"iam_user", "role_session"}),
            )
        app = self.state.identity_center.applications.get(client_id)
        if app is None:
            raise AwsError("InvalidClientException", "Invalid client provided", 401)
        self._check_actor(req, app)
        if grant_type == JWT_BEARER:
            if not app.jwt_bearer:
                raise AwsError("UnauthorizedClientException", "The application has no JWT bearer grant", 400)
            user_id = self._validate_assertion(app, body.get("assertion"))
        elif grant_type == REFRESH_TOKEN:
            if not app.refresh_token_grant:
                raise AwsError(
                    "UnauthorizedClientException", "The application has no refresh token grant", 400
                )
            user_id = self._redeem_refresh_token(app, body.get("refreshToken"))
            req.annotations["on_behalf_of"] = user_id
            return self._issue(app, user_id, refreshed=True)
        elif grant_type in KNOWN_GRANTS:
            raise AwsError("UnsupportedGrantTypeException", f"Grant type {grant_type} is not emulated", 400)
        else:
            raise AwsError("UnsupportedGrantTypeException", f"Unsupported grant type {grant_type}", 400)
        req.annotations["on_behalf_of"] = user_id
        return self._issue(app, user_id)

    def _check_actor(self, req: AwsRequest, app: Application) -> None:
        caller = req.caller
        if app.actor_principals is None or caller is None:
            return
        identities = {
            caller.arn,
            caller.role_arn,
            caller.account_id,
            f"arn:aws:iam::{caller.account_id}:root",
        }
        if not identities.intersection(app.actor_principals):
            raise AwsError(
                "AccessDeniedException", "The caller is not allowed by the application's ActorPolicy", 400
            )

    def _validate_assertion(self, app: Application, assertion: Any) -> str:
        if not isinstance(assertion, str) or not assertion:
            raise AwsError("InvalidRequestException", "assertion is required for the jwt-bearer grant", 400)
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.get_unverified_claims(assertion)
        except JWTError as exc:
            raise _invalid_grant("The assertion is not a valid JWT") from exc
        ic = self.state.identity_center
        issuer = next(
            (
                ic.issuers[a.trusted_token_issuer_arn]
                for a in app.jwt_bearer
                if a.trusted_token_issuer_arn in ic.issuers
                and ic.issuers[a.trusted_token_issuer_arn].issuer_url == claims.get("iss")
            ),
            None,
        )
        if issuer is None:
            raise _invalid_grant("The token issuer is not trusted by the application")
        authorized = next(a for a in app.jwt_bearer if a.trusted_token_issuer_arn == issuer.arn)
        audiences = claims.get("aud")
        aud_list = audiences if isinstance(audiences, list) else [audiences]
        if not any(a in authorized.authorized_audiences for a in aud_list if isinstance(a, str)):
            raise _invalid_grant("The token audience is not authorized")
        if header.get("alg") != "RS256":
            raise _invalid_grant("Unsupported token signing algorithm")
        keys = self.jwks.keys_for(issuer, header.get("kid"))
        try:
            jwt.decode(
                assertion,
                keys,
                algorithms=["RS256"],
                options={
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_at_hash": False,
                },
            )
        except JWTError as exc:
            raise _invalid_grant("The token signature could not be verified") from exc
        now = self.state.now()
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise _invalid_grant("The token has no exp claim")
        if exp <= now:
            raise _invalid_grant("The token has expired")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _invalid_grant("The token has no jti claim")
        with self.state.lock:
            self.state.seen_jti = {k: v for k, v in self.state.seen_jti.items() if v > now}
            replay_key = f"{issuer.issuer_url}#{jti}"
            if replay_key in self.state.seen_jti:
                raise _invalid_grant("The token has already been exchanged")
            self.state.seen_jti[replay_key] = float(exp)
        value = _claim(claims, issuer.claim_attribute_path)
        if not isinstance(value, str):
            raise _invalid_grant(f"The token has no {issuer.claim_attribute_path} claim")
        users = find_users(self.state, issuer.identity_store_attribute_path, value)
        if len(users) != 1:
            raise _invalid_grant("The token does not map to exactly one user")
        return users[0]

    def _redeem_refresh_token(self, app: Application, token: Any) -> str:
        if not isinstance(token, str) or not token:
            raise AwsError(
                "InvalidRequestException", "refreshToken is required for the refresh_token grant", 400
            )
        with self.state.lock:
            ctx = self.state.refresh_tokens.get(token)
        if ctx is None or ctx.application_arn != app.arn:
            raise _invalid_grant("Invalid refresh token provided")
        if ctx.expires_at <= self.state.now():
            raise AwsError("ExpiredTokenException", "The refresh token has expired", 400)
        return ctx.user_id

    def _issue(self, app: Application, user_id: str, *, refreshed: bool = False) -> Response:
        """Answer a grant. A refresh_token answer has no idToken, as in AWS's example of it, and has
        ``awsAdditionalDetails`` only when the application's ``refresh_identity_context`` says so."""
        ic = self.state.identity_center
        now = self.state.now()
        credential_id = secrets.token_urlsafe(16)
        assertion = "AQoJb3JpZ2luX2Vj" + secrets.token_urlsafe(96)
        context = IdentityContext(
            assertion=assertion,
            user_id=user_id,
            identity_store_id=ic.identity_store_id,
            identity_store_arn=ic.identity_store_arn,
            instance_arn=ic.instance_arn,
            application_arn=app.arn,
            credential_id=credential_id,
            expires_at=now + TOKEN_LIFETIME,
            scopes=tuple(dict.fromkeys([*app.scopes, *DEFAULT_SCOPES])),
        )
        scopes = list(context.scopes)
        claims = {
            "iss": ic.issuer_url,
            "sub": user_id,
            "aud": app.client_id,
            "aws:identity_store_id": ic.identity_store_id,
            "aws:identity_store_arn": ic.identity_store_arn,
            "aws:instance_arn": ic.instance_arn,
            "aws:instance_account": self.state.account_id,
            "aws:application_arn": app.arn,
            "aws:credential_id": credential_id,
            "sts:identity_context": assertion,
            "auth_time": iso8601(now),
            "iat": int(now),
            "exp": int(now) + TOKEN_LIFETIME,
        }
        body: dict[str, Any] = {
            "accessToken": "aoa" + secrets.token_urlsafe(64),
            "tokenType": "Bearer",
            "expiresIn": TOKEN_LIFETIME,
            "issuedTokenType": "urn:ietf:params:oauth:token-type:access_token",
        }
        if not refreshed:
            body["idToken"] = self.key.sign(claims)
            body["scope"] = scopes
        if not refreshed or app.refresh_identity_context:
            body["awsAdditionalDetails"] = {"identityContext": assertion}
        with self.state.lock:
            self.state.contexts[assertion] = context
            if app.refresh_token_grant:
                refresh = "aor" + secrets.token_urlsafe(64)
                self.state.refresh_tokens[refresh] = IdentityContext(
                    **{**context.__dict__, "expires_at": now + REFRESH_LIFETIME}
                )
                body["refreshToken"] = refresh
                body["issuedTokenType"] = "urn:ietf:params:oauth:token-type:refresh_token"
        return Response(json.dumps(body), status=200, content_type="application/json")


def s3_permissions_allowed(scopes: tuple[str, ...]) -> frozenset[str]:
    """Return the GetDataAccess permissions an application's access scopes allow."""
    if READ_WRITE_SCOPE in scopes:
        return frozenset({"READ", "WRITE", "READWRITE"})
    if READ_ONLY_SCOPE in scopes:
        return frozenset({"READ"})
    return frozenset()


class AccessScopeHandler:
    """sso-admin `Put/Delete/ListApplicationAccessScope(s)` for the emulated applications (JSON 1.1)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def handle(self, req: AwsRequest) -> Response:
        """Serve one access-scope operation, signed by any known principal."""
        req.operation = req.headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        try:
            authenticate(self.state, req, STS_AUTH)
            return self._serve(req)
        except AwsError as err:
            req.annotations["error"] = err.code
            return error_response("json", err)

    def _serve(self, req: AwsRequest) -> Response:
        try:
            body = json.loads(req.body or b"{}")
        except ValueError as exc:
            raise AwsError("ValidationException", "Request body is not JSON", 400) from exc
        app = self.state.identity_center.applications.get(str(body.get("ApplicationArn", "")))
        if app is None:
            raise AwsError("ResourceNotFoundException", "The application does not exist", 400)
        scope = str(body.get("Scope", ""))
        with self.state.lock:
            if req.operation == "PutApplicationAccessScope":
                if not scope:
                    raise AwsError("ValidationException", "Scope is required", 400)
                app.scopes = list(dict.fromkeys([*app.scopes, scope]))
            elif req.operation == "DeleteApplicationAccessScope":
                app.scopes = [s for s in app.scopes if s != scope]
            else:
                listed = [{"Scope": s} for s in app.scopes]
                return Response(json.dumps({"Scopes": listed}), content_type="application/x-amz-json-1.1")
        return Response("{}", content_type="application/x-amz-json-1.1")
