"""sso-admin's application operations (JSON bodies in and out) over `applications.py`, and the request
helpers every sso-admin operation uses (required members, offset pagination)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator import applications as apps
from emulator import tags
from emulator.state import Application, EmulatorState
from emulator.token_issuers import not_found, validation

Body = dict[str, Any]
Operation = Callable[[EmulatorState, Body], Body]


def required(body: Body, name: str) -> str:
    """Return a required string member or refuse with ValidationException."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise validation(f"{name} is required")
    return value


def optional(body: Body, name: str) -> str | None:
    """Return an optional string member."""
    value = body.get(name)
    return value if isinstance(value, str) else None


def paged(key: str, items: list[Any], body: Body, cap: int = 100) -> Body:
    """Return one page of `items` under `key`, with a NextToken (an offset) when more remain."""
    try:
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or cap)
    except (TypeError, ValueError) as exc:
        raise validation("Invalid NextToken or MaxResults") from exc
    if start < 0 or not 1 <= size <= cap:
        raise validation(f"MaxResults must be between 1 and {cap}")
    end = start + size
    return {key: items[start:end], **({"NextToken": str(end)} if end < len(items) else {})}


def _arn(body: Body) -> str:
    return required(body, "ApplicationArn")


def _principal(body: Body) -> tuple[str, str, str]:
    return _arn(body), required(body, "PrincipalType"), required(body, "PrincipalId")


def describe(state: EmulatorState, app: Application) -> Body:
    """Render an application as DescribeApplication and ListApplications answer it."""
    described: Body = {
        "ApplicationArn": app.arn,
        "ApplicationProviderArn": app.provider_arn,
        "Name": app.name,
        "ApplicationAccount": state.account_id,
        "InstanceArn": app.instance_arn,
        "IdentityStoreArn": state.identity_center.identity_store_arn,
        "Status": app.status,
        "CreatedDate": app.created_at,
        "CreatedFrom": state.region,
    }
    if app.description is not None:
        described["Description"] = app.description
    if app.portal_options is not None:
        described["PortalOptions"] = app.portal_options
    return described


def _create(state: EmulatorState, body: Body) -> Body:
    app = apps.create_application(
        state,
        instance_arn=required(body, "InstanceArn"),
        name=required(body, "Name"),
        provider_arn=required(body, "ApplicationProviderArn"),
        description=optional(body, "Description"),
        status=optional(body, "Status") or "ENABLED",
        portal_options=body.get("PortalOptions"),
        resource_tags=tags.parse_tags(body.get("Tags"), validation, apps.MAX_TAGS),
    )
    return {"ApplicationArn": app.arn}


def _list(state: EmulatorState, body: Body) -> Body:
    if required(body, "InstanceArn") != state.identity_center.instance_arn:
        return {"Applications": []}
    wanted = body.get("Filter") or {}
    listed = [
        describe(state, a)
        for a in list(state.identity_center.applications.values())
        if wanted.get("ApplicationAccount") in (None, state.account_id)
        and wanted.get("ApplicationProvider") in (None, a.provider_arn)
    ]
    return paged("Applications", listed, body)


def _update(state: EmulatorState, body: Body) -> Body:
    apps.update_application(
        state,
        _arn(body),
        name=optional(body, "Name"),
        description=optional(body, "Description"),
        status=optional(body, "Status"),
        portal_options=body.get("PortalOptions"),
    )
    return {}


def _get_grant(state: EmulatorState, body: Body) -> Body:
    grant_type = required(body, "GrantType")
    grant = apps.grant_of(apps.get_application(state, _arn(body)), grant_type)
    if grant is None:
        raise not_found(f"The application has no {grant_type} grant")
    return {"Grant": grant}


def _list_grants(state: EmulatorState, body: Body) -> Body:
    app = apps.get_application(state, _arn(body))
    listed = [
        {"GrantType": grant_type, "Grant": grant}
        for grant_type in apps.GRANT_MEMBERS
        if (grant := apps.grant_of(app, grant_type)) is not None
    ]
    return paged("Grants", listed, body)


def _iam_method(app: Application) -> Body:
    return {"Iam": {"ActorPolicy": app.actor_policy}}


def _get_method(state: EmulatorState, body: Body) -> Body:
    app = apps.get_application(state, _arn(body))
    if required(body, "AuthenticationMethodType") != "IAM" or app.actor_policy is None:
        raise not_found("The application has no IAM authentication method")
    return {"AuthenticationMethod": _iam_method(app)}


def _list_methods(state: EmulatorState, body: Body) -> Body:
    app = apps.get_application(state, _arn(body))
    listed = [] if app.actor_policy is None else [_iam_method(app)]
    methods = [{"AuthenticationMethodType": "IAM", "AuthenticationMethod": m} for m in listed]
    return paged("AuthenticationMethods", methods, body)


def _scope(app: Application, scope: str) -> Body:
    targets = app.scope_targets.get(scope)
    return {"Scope": scope, **({"AuthorizedTargets": targets} if targets else {})}


def _get_scope(state: EmulatorState, body: Body) -> Body:
    app, scope = apps.get_application(state, _arn(body)), required(body, "Scope")
    if scope not in app.scopes:
        raise not_found(f"The application has no access scope {scope}")
    return _scope(app, scope)


def _list_scopes(state: EmulatorState, body: Body) -> Body:
    app = apps.get_application(state, _arn(body))
    return paged("Scopes", [_scope(app, s) for s in app.scopes], body, cap=10)


def _put_assignment_configuration(state: EmulatorState, body: Body) -> Body:
    assignment_required = body.get("AssignmentRequired")
    if not isinstance(assignment_required, bool):
        raise validation("AssignmentRequired must be true or false")
    apps.set_assignment_required(state, _arn(body), assignment_required)
    return {}


def _describe_assignment(state: EmulatorState, body: Body) -> Body:
    arn, principal_type, principal_id = _principal(body)
    apps.assignment(state, arn, principal_type, principal_id)
    return {"ApplicationArn": arn, "PrincipalType": principal_type, "PrincipalId": principal_id}


def _list_assignments(state: EmulatorState, body: Body) -> Body:
    app = apps.get_application(state, _arn(body))
    listed = [
        {"ApplicationArn": app.arn, "PrincipalType": t, "PrincipalId": i} for t, i in sorted(app.assignments)
    ]
    return paged("ApplicationAssignments", listed, body)


def _command(action: Callable[[EmulatorState, Body], object]) -> Operation:
    """Wrap a state change whose answer is an empty JSON object."""

    def run(state: EmulatorState, body: Body) -> Body:
        action(state, body)
        return {}

    return run


OPERATIONS: dict[str, Operation] = {
    "CreateApplication": _create,
    "DescribeApplication": lambda s, b: describe(s, apps.get_application(s, _arn(b))),
    "ListApplications": _list,
    "UpdateApplication": _update,
    "DeleteApplication": _command(lambda s, b: apps.delete_application(s, _arn(b))),
    "PutApplicationGrant": _command(
        lambda s, b: apps.put_grant(s, _arn(b), required(b, "GrantType"), b.get("Grant") or {})
    ),
    "GetApplicationGrant": _get_grant,
    "ListApplicationGrants": _list_grants,
    "DeleteApplicationGrant": _command(lambda s, b: apps.delete_grant(s, _arn(b), required(b, "GrantType"))),
    "PutApplicationAuthenticationMethod": _command(
        lambda s, b: apps.put_actor_policy(
            s, _arn(b), required(b, "AuthenticationMethodType"), b.get("AuthenticationMethod")
        )
    ),
    "GetApplicationAuthenticationMethod": _get_method,
    "ListApplicationAuthenticationMethods": _list_methods,
    "DeleteApplicationAuthenticationMethod": _command(
        lambda s, b: apps.delete_actor_policy(s, _arn(b), required(b, "AuthenticationMethodType"))
    ),
    "PutApplicationAccessScope": _command(
        lambda s, b: apps.put_scope(s, _arn(b), required(b, "Scope"), b.get("AuthorizedTargets"))
    ),
    "GetApplicationAccessScope": _get_scope,
    "ListApplicationAccessScopes": _list_scopes,
    "DeleteApplicationAccessScope": _command(
        lambda s, b: apps.delete_scope(s, _arn(b), required(b, "Scope"))
    ),
    "PutApplicationAssignmentConfiguration": _put_assignment_configuration,
    "GetApplicationAssignmentConfiguration": lambda s, b: {
        "AssignmentRequired": apps.get_application(s, _arn(b)).assignment_required
    },
    "CreateApplicationAssignment": _command(lambda s, b: apps.create_assignment(s, *_principal(b))),
    "DescribeApplicationAssignment": _describe_assignment,
    "ListApplicationAssignments": _list_assignments,
    "DeleteApplicationAssignment": _command(lambda s, b: apps.delete_assignment(s, *_principal(b))),
}
