"""sso-oidc `CreateTokenWithIAM` with trusted-token-issuer validation, and Identity Store lookups."""

from __future__ import annotations

import json
import secrets
from typing import Any

from jose import JWTError, jwt
from werkzeug.wrappers import Response

from emulator import permissions
from emulator.directory import find_users, group_ids_of
from emulator.idc_keys import JwksFetcher, SigningKey, invalid_grant
from emulator.jti_replay import first_use
from emulator.state import Application, EmulatorState, IdentityContext
from emulator.sts import policy_allows
from emulator.token_issuers import discovery_url
from emulator.wire import OIDC_AUTH, AwsError, AwsRequest, authenticate, error_response, iso8601

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
        if app.status != "ENABLED":
            # docs/aws.md#createtokenwithiam-application-checks
            raise AwsError("InvalidClientException", "The application is disabled", 401)
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
            self._check_assignment(app, user_id)
            return self._issue(app, user_id, refreshed=True)
        elif grant_type in KNOWN_GRANTS:
            raise AwsError("UnsupportedGrantTypeException", f"Grant type {grant_type} is not emulated", 400)
        else:
            raise AwsError("UnsupportedGrantTypeException", f"Unsupported grant type {grant_type}", 400)
        req.annotations["on_behalf_of"] = user_id
        self._check_assignment(app, user_id)
        return self._issue(app, user_id)

    def _check_actor(self, req: AwsRequest, app: Application) -> None:
        """The caller must be allowed by the IAM authentication method's ActorPolicy (none: nobody is)."""
        caller = req.caller
        if caller is None:
            return
        action = "sso-oauth:CreateTokenWithIAM"
        if app.actor_policy is None or not policy_allows(app.actor_policy, caller, action, {}, app.arn):
            raise AwsError(
                "AccessDeniedException", "The caller is not allowed by the application's ActorPolicy", 400
            )

    def _check_assignment(self, app: Application, user_id: str) -> None:
        """With AssignmentRequired, the user or one of their groups must be assigned to the application.

        AWS refuses with a bare access_denied that names neither the user nor the missing assignment
        (docs/aws.md#application-assignments).
        """
        if not app.assignment_required:
            return
        principals = {("USER", user_id)} | {("GROUP", g) for g in group_ids_of(self.state, user_id)}
        if not principals & app.assignments:
            raise AwsError("AccessDeniedException", "", 400)

    def _validate_assertion(self, app: Application, assertion: Any) -> str:
        if not isinstance(assertion, str) or not assertion:
            raise AwsError("InvalidRequestException", "assertion is required for the jwt-bearer grant", 400)
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.get_unverified_claims(assertion)
        except JWTError as exc:
            raise invalid_grant("The assertion is not a valid JWT") from exc
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
            raise invalid_grant("The token issuer is not trusted by the application")
        authorized = next(a for a in app.jwt_bearer if a.trusted_token_issuer_arn == issuer.arn)
        audiences = claims.get("aud")
        aud_list = audiences if isinstance(audiences, list) else [audiences]
        if not any(a in authorized.authorized_audiences for a in aud_list if isinstance(a, str)):
            raise invalid_grant("The token audience is not authorized")
        if header.get("alg") != "RS256":
            raise invalid_grant("Unsupported token signing algorithm")
        keys = self.jwks.keys_for(issuer, header.get("kid"), discovery_url(self.state, issuer))
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
            raise invalid_grant("The token signature could not be verified") from exc
        now = self.state.now()
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise invalid_grant("The token has no exp claim")
        if exp <= now:
            raise invalid_grant("The token has expired")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise invalid_grant("The token has no jti claim")
        with self.state.lock:
            fresh = first_use(self.state, f"{issuer.issuer_url}#{jti}", float(exp), now)
        if not fresh:
            raise invalid_grant("The token has already been exchanged")
        value = _claim(claims, issuer.claim_attribute_path)
        if not isinstance(value, str):
            raise invalid_grant(f"The token has no {issuer.claim_attribute_path} claim")
        users = find_users(self.state, issuer.identity_store_attribute_path, value)
        if len(users) != 1:
            raise invalid_grant("The token does not map to exactly one user")
        return users[0]

    def _redeem_refresh_token(self, app: Application, token: Any) -> str:
        if not isinstance(token, str) or not token:
            raise AwsError(
                "InvalidRequestException", "refreshToken is required for the refresh_token grant", 400
            )
        with self.state.lock:
            ctx = self.state.refresh_tokens.get(token)
        if ctx is None or ctx.application_arn != app.arn:
            raise invalid_grant("Invalid refresh token provided")
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
