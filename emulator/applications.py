"""Identity Center customer-managed applications: the state operations sso-admin and scenario seeding
share (grants, authentication method, access scopes, assignments), read by CreateTokenWithIAM."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from emulator import directory, tags
from emulator.state import CUSTOM_APPLICATION_PROVIDER, Application, AuthorizedIssuer, EmulatorState
from emulator.token_issuers import conflict, not_found, validation

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# GrantType → the member of the Grant union it carries.
GRANT_MEMBERS = {
    JWT_BEARER: "JwtBearer",
    "refresh_token": "RefreshToken",
    "authorization_code": "AuthorizationCode",
    "urn:ietf:params:oauth:grant-type:token-exchange": "TokenExchange",
}
STATUSES = ("ENABLED", "DISABLED")
PRINCIPAL_TYPES = ("USER", "GROUP")
MAX_TAGS = 75
SCOPE_RE = re.compile(r"[A-Za-z0-9_]{1,50}(:[A-Za-z0-9_]{1,50}){0,2}")
PRINCIPAL_ID_RE = re.compile(
    r"([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"
)
_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits


def create_application(
    state: EmulatorState,
    *,
    instance_arn: str,
    name: str,
    provider_arn: str = CUSTOM_APPLICATION_PROVIDER,
    description: str | None = None,
    status: str = "ENABLED",
    portal_options: dict[str, Any] | None = None,
    resource_tags: dict[str, str] | None = None,
    application_id: str | None = None,
) -> Application:
    """Create a customer-managed application; names are unique in the instance."""
    ic = state.identity_center
    if instance_arn != ic.instance_arn:
        raise not_found(f"Instance {instance_arn} does not exist")
    if provider_arn != CUSTOM_APPLICATION_PROVIDER:
        raise validation(f"Only {CUSTOM_APPLICATION_PROVIDER} applications are emulated")
    if not 1 <= len(name) <= 100:
        raise validation("Name must be 1 to 100 characters")
    if status not in STATUSES:
        raise validation("Status must be ENABLED or DISABLED")
    instance_id = instance_arn.rsplit("/", 1)[-1]
    app_id = application_id or "apl-" + "".join(secrets.choice(_LOWER_ALNUM) for _ in range(16))
    arn = f"arn:aws:sso::{state.account_id}:application/{instance_id}/{app_id}"
    with state.lock:
        if any(a.name == name for a in ic.applications.values()):
            raise conflict(f"An application named {name} already exists")
        if arn in ic.applications:
            raise conflict(f"Application {arn} already exists")
        app = Application(
            arn=arn,
            name=name,
            client_id="".join(secrets.choice(_ALNUM) for _ in range(22)),
            instance_arn=instance_arn,
            provider_arn=provider_arn,
            status=status,
            description=description,
            portal_options=portal_options,
            created_at=state.now(),
        )
        ic.applications[arn] = app
        if resource_tags:
            tags.tag_resource(state, arn, resource_tags, validation, MAX_TAGS)
    return app


def get_application(state: EmulatorState, arn: str) -> Application:
    """Return an application or refuse with ResourceNotFoundException."""
    app = state.identity_center.applications.get(arn)
    if app is None:
        raise not_found(f"Application {arn} does not exist")
    return app


def update_application(
    state: EmulatorState,
    arn: str,
    *,
    name: str | None = None,
    description: str | None = None,
    status: str | None = None,
    portal_options: dict[str, Any] | None = None,
) -> None:
    """Change an application's name, description, status or portal options."""
    with state.lock:
        app = get_application(state, arn)
        if status is not None and status not in STATUSES:
            raise validation("Status must be ENABLED or DISABLED")
        if name is not None:
            if not 1 <= len(name) <= 100:
                raise validation("Name must be 1 to 100 characters")
            if any(a.name == name and a.arn != arn for a in state.identity_center.applications.values()):
                raise conflict(f"An application named {name} already exists")
            app.name = name
        app.description = description if description is not None else app.description
        app.status = status or app.status
        if portal_options is not None:
            app.portal_options = {**(app.portal_options or {}), **portal_options}


def delete_application(state: EmulatorState, arn: str) -> None:
    """Delete an application: its exchanges stop at once (InvalidClientException)."""
    with state.lock:
        get_application(state, arn)
        del state.identity_center.applications[arn]
        tags.forget(state, arn)


def put_grant(state: EmulatorState, arn: str, grant_type: str, grant: dict[str, Any]) -> None:
    """Set one OAuth grant of the application (replacing a grant of the same type)."""
    with state.lock:
        app = get_application(state, arn)
        member = GRANT_MEMBERS.get(grant_type)
        if member is None:
            raise validation(f"Unsupported GrantType {grant_type}")
        if set(grant) != {member}:
            raise validation(f"GrantType {grant_type} takes a Grant with exactly the member {member}")
        if member == "JwtBearer":
            app.jwt_bearer = _authorized_issuers(state, grant[member])
        elif member == "RefreshToken":
            app.refresh_token_grant = True
        else:
            app.other_grants[grant_type] = dict(grant)


def _authorized_issuers(state: EmulatorState, jwt_bearer: Any) -> list[AuthorizedIssuer]:
    entries = jwt_bearer.get("AuthorizedTokenIssuers") if isinstance(jwt_bearer, dict) else None
    if not isinstance(entries, list) or not 1 <= len(entries) <= 10:
        raise validation("JwtBearer needs 1 to 10 AuthorizedTokenIssuers")
    issuers = []
    for entry in entries:
        arn = str(entry.get("TrustedTokenIssuerArn", "")) if isinstance(entry, dict) else ""
        audiences = entry.get("AuthorizedAudiences") if isinstance(entry, dict) else None
        if arn not in state.identity_center.issuers:
            raise not_found(f"Trusted token issuer {arn} does not exist")
        if not isinstance(audiences, list) or not 1 <= len(audiences) <= 10:
            raise validation("Each authorized token issuer needs 1 to 10 AuthorizedAudiences")
        issuers.append(AuthorizedIssuer(arn, tuple(str(a) for a in audiences)))
    return issuers


def grant_of(app: Application, grant_type: str) -> dict[str, Any] | None:
    """Return the Grant union the application has for `grant_type`, None when it has none."""
    if grant_type == JWT_BEARER and app.jwt_bearer:
        issuers = [
            {
                "TrustedTokenIssuerArn": a.trusted_token_issuer_arn,
                "AuthorizedAudiences": list(a.authorized_audiences),
            }
            for a in app.jwt_bearer
        ]
        return {"JwtBearer": {"AuthorizedTokenIssuers": issuers}}
    if grant_type == "refresh_token" and app.refresh_token_grant:
        return {"RefreshToken": {}}
    return app.other_grants.get(grant_type)


def delete_grant(state: EmulatorState, arn: str, grant_type: str) -> None:
    """Remove one OAuth grant; CreateTokenWithIAM then refuses it (UnauthorizedClientException)."""
    with state.lock:
        app = get_application(state, arn)
        if grant_of(app, grant_type) is None:
            raise not_found(f"The application has no {grant_type} grant")
        if grant_type == JWT_BEARER:
            app.jwt_bearer = []
        elif grant_type == "refresh_token":
            app.refresh_token_grant = False
        else:
            del app.other_grants[grant_type]


def actor_policy(principals: list[str]) -> dict[str, Any]:
    """Return an ActorPolicy letting ``principals`` (ARNs or account ids) call CreateTokenWithIAM."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": "sso-oauth:CreateTokenWithIAM",
        "Resource": "*",
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


def put_actor_policy(state: EmulatorState, arn: str, method_type: str, method: Any) -> None:
    """Set the IAM authentication method: the ActorPolicy naming who may call CreateTokenWithIAM."""
    with state.lock:
        app = get_application(state, arn)
        if method_type != "IAM":
            raise validation("AuthenticationMethodType must be IAM")
        policy = (method.get("Iam") or {}).get("ActorPolicy") if isinstance(method, dict) else None
        if not isinstance(policy, dict) or "Statement" not in policy:
            raise validation("AuthenticationMethod.Iam.ActorPolicy must be an IAM policy document")
        app.actor_policy = policy


def delete_actor_policy(state: EmulatorState, arn: str, method_type: str) -> None:
    """Remove the IAM authentication method: no caller may exchange tokens through the application."""
    with state.lock:
        app = get_application(state, arn)
        if method_type != "IAM" or app.actor_policy is None:
            raise not_found("The application has no IAM authentication method")
        app.actor_policy = None


def put_scope(state: EmulatorState, arn: str, scope: str, targets: list[str] | None = None) -> None:
    """Add (or replace) an access scope and its authorized targets."""
    with state.lock:
        app = get_application(state, arn)
        if not SCOPE_RE.fullmatch(scope):
            raise validation(f"Scope {scope!r} is not a valid access scope")
        if targets is not None and not 1 <= len(targets) <= 10:
            raise validation("AuthorizedTargets takes 1 to 10 ARNs")
        app.scopes = list(dict.fromkeys([*app.scopes, scope]))
        if targets:
            app.scope_targets[scope] = list(targets)


def delete_scope(state: EmulatorState, arn: str, scope: str) -> None:
    """Remove an access scope (an absent scope is not an error)."""
    with state.lock:
        app = get_application(state, arn)
        app.scopes = [s for s in app.scopes if s != scope]
        app.scope_targets.pop(scope, None)


def set_assignment_required(state: EmulatorState, arn: str, required: bool) -> None:
    """Set AssignmentRequired: whether only assigned users (or members of assigned groups) may sign in."""
    with state.lock:
        get_application(state, arn).assignment_required = required


def _principal(state: EmulatorState, principal_type: str, principal_id: str) -> tuple[str, str]:
    if principal_type not in PRINCIPAL_TYPES:
        raise validation("PrincipalType must be USER or GROUP")
    if not PRINCIPAL_ID_RE.fullmatch(principal_id):
        raise validation(f"PrincipalId {principal_id!r} is not an Identity Store id")
    return principal_type, principal_id


def create_assignment(state: EmulatorState, arn: str, principal_type: str, principal_id: str) -> None:
    """Assign an Identity Store user or group to the application."""
    principal = _principal(state, principal_type, principal_id)
    with state.lock:
        app = get_application(state, arn)
        if not directory.principal_exists(state, *principal):
            raise not_found(f"{principal_type} {principal_id} does not exist in the identity store")
        if principal in app.assignments:
            raise conflict(f"{principal_type} {principal_id} is already assigned to the application")
        app.assignments.add(principal)


def assignment(state: EmulatorState, arn: str, principal_type: str, principal_id: str) -> tuple[str, str]:
    """Return an existing assignment or refuse with ResourceNotFoundException."""
    principal = _principal(state, principal_type, principal_id)
    if principal not in get_application(state, arn).assignments:
        raise not_found(f"{principal_type} {principal_id} is not assigned to the application")
    return principal


def delete_assignment(state: EmulatorState, arn: str, principal_type: str, principal_id: str) -> None:
    """Remove an assignment."""
    with state.lock:
        get_application(state, arn).assignments.discard(assignment(state, arn, principal_type, principal_id))
