"""The customer-managed Identity Center application and what belongs to it (grants, access scopes,
authentication method, assignment requirement, assignments): read, compared and planned.

The application carries the ownership tag; its settings have no tags and belong to it.
"""

from __future__ import annotations

from typing import Any

from service.setup import policies
from service.setup.aws import Clients, call, pages, tags_of
from service.setup.directory import Directory
from service.setup.issuer import KEY as ISSUER
from service.setup.model import (
    CUSTOM_PROVIDER,
    JWT_BEARER,
    REFRESH_TOKEN,
    TAG_KEY,
    ApplicationSpec,
    SetupSpec,
)
from service.setup.plan import Context, Plan, Ref, Verb, creating, request

KEY = "application"
SETTING = "application-setting"


def owned_applications(clients: Clients, spec: SetupSpec, plan: Plan) -> dict[str, dict[str, Any]]:
    """Return this setup's applications (ARN → listing); record a problem for a same-named foreign one."""
    instance, sso = plan.context.instance_arn, clients.sso_admin
    owned: dict[str, dict[str, Any]] = {}
    label = "applications"
    listing = pages(label, sso, "ListApplications", "Applications", InstanceArn=instance)
    for item in listing:
        if item.get("ApplicationProviderArn") not in (None, CUSTOM_PROVIDER):
            continue
        arn = str(item["ApplicationArn"])
        tags = tags_of(call(label, sso, "ListTagsForResource", InstanceArn=instance, ResourceArn=arn))
        if tags.get(TAG_KEY) == spec.name:
            owned[arn] = item
        elif spec.application is not None and item.get("Name") == spec.application.name:
            plan.problem(
                spec.application.line,
                f"application {spec.application.name!r} exists and was not created by setup {spec.name!r}: "
                "choose another name",
            )
    return owned


def pick(owned: dict[str, dict[str, Any]], spec: SetupSpec) -> str | None:
    """Return the owned application the file's application is (same name first)."""
    if spec.application is None:
        return None
    named = [arn for arn, item in owned.items() if item.get("Name") == spec.application.name]
    return next(iter(named or list(owned)), None)


def plan_application(
    clients: Clients, spec: SetupSpec, plan: Plan, directory: Directory, owned: dict[str, dict[str, Any]]
) -> None:
    """Plan the application, its settings and assignments, and delete this setup's other applications."""
    sso = clients.sso_admin
    keep = pick(owned, spec)
    for arn, item in owned.items():
        if arn != keep:
            label = f"application {item.get('Name')}"
            plan.add(
                "delete",
                label,
                "application-delete",
                request(label, sso, "DeleteApplication", ApplicationArn=arn),
            )
    wanted = spec.application
    if wanted is None:
        return
    label = f"application {wanted.name}"
    status = "ENABLED" if wanted.enabled else "DISABLED"
    description = {"Description": wanted.description} if wanted.description else {}
    if keep is None:
        create = creating(
            KEY,
            "ApplicationArn",
            label,
            sso,
            "CreateApplication",
            InstanceArn=plan.context.instance_arn,
            ApplicationProviderArn=CUSTOM_PROVIDER,
            Name=wanted.name,
            Status=status,
            Tags=[spec.tag],
            **description,
        )
        plan.add("create", label, "application", create)
    else:
        plan.context[KEY] = keep
        found = call(label, sso, "DescribeApplication", ApplicationArn=keep)
        differences = [
            name
            for name, now, then in (
                ("name", found.get("Name"), wanted.name),
                ("description", found.get("Description") or "", wanted.description),
                ("enabled", found.get("Status"), status),
            )
            if now != then
        ]
        if differences:
            update = request(
                label,
                sso,
                "UpdateApplication",
                ApplicationArn=keep,
                Name=wanted.name,
                Status=status,
                **description,
            )
            plan.add("update", label, "application", update, ", ".join(differences))
        else:
            plan.same(label)
    current = _current_settings(sso, wanted.name, keep)
    _plan_grants(sso, wanted, plan, current)
    _plan_scopes(sso, wanted, plan, current)
    _plan_authentication(sso, wanted, plan, current)
    _plan_assignments(sso, wanted, plan, directory, current)


def _same_jwt_grant(ctx: Context, wanted: ApplicationSpec, current: Any) -> bool:
    if current is None or ISSUER not in ctx:
        return False
    issuers = (current.get("JwtBearer") or {}).get("AuthorizedTokenIssuers") or []
    found = [(i.get("TrustedTokenIssuerArn"), sorted(i.get("AuthorizedAudiences") or [])) for i in issuers]
    return found == [(ctx[ISSUER], sorted(wanted.audiences))]


def _plan_grants(sso: Any, wanted: ApplicationSpec, plan: Plan, current: dict[str, Any]) -> None:
    issuers = [{"TrustedTokenIssuerArn": Ref(ISSUER), "AuthorizedAudiences": list(wanted.audiences)}]
    desired: dict[str, Any] = {JWT_BEARER: {"JwtBearer": {"AuthorizedTokenIssuers": issuers}}}
    if wanted.refresh_token:
        desired[REFRESH_TOKEN] = {"RefreshToken": {}}
    grants = current["grants"]
    for grant_type, grant in desired.items():
        label = f"application {wanted.name} grant {grant_type.rsplit(':', 1)[-1]}"
        if grant_type in grants and (
            grant_type != JWT_BEARER or _same_jwt_grant(plan.context, wanted, grants[grant_type])
        ):
            plan.same(label)
            continue
        put = request(
            label, sso, "PutApplicationGrant", ApplicationArn=Ref(KEY), GrantType=grant_type, Grant=grant
        )
        plan.add("update" if grant_type in grants else "create", label, SETTING, put)
    for grant_type in sorted(set(grants) - set(desired)):
        label = f"application {wanted.name} grant {grant_type.rsplit(':', 1)[-1]}"
        delete = request(label, sso, "DeleteApplicationGrant", ApplicationArn=Ref(KEY), GrantType=grant_type)
        plan.add("delete", label, "application-setting-delete", delete)


def _plan_scopes(sso: Any, wanted: ApplicationSpec, plan: Plan, current: dict[str, Any]) -> None:
    for scope in wanted.access_scopes:
        label = f"application {wanted.name} access scope {scope}"
        if scope in current["scopes"]:
            plan.same(label)
        else:
            put = request(label, sso, "PutApplicationAccessScope", ApplicationArn=Ref(KEY), Scope=scope)
            plan.add("create", label, SETTING, put)
    for scope in sorted(current["scopes"] - set(wanted.access_scopes)):
        label = f"application {wanted.name} access scope {scope}"
        delete = request(label, sso, "DeleteApplicationAccessScope", ApplicationArn=Ref(KEY), Scope=scope)
        plan.add("delete", label, "application-setting-delete", delete)


def _current_settings(sso: Any, name: str, arn: str | None) -> dict[str, Any]:
    if arn is None:
        return {"grants": {}, "scopes": set(), "actors": None, "required": None, "assignments": set()}
    label = f"application {name}"
    app = {"ApplicationArn": arn}
    grants = {
        g["GrantType"]: g.get("Grant") for g in pages(label, sso, "ListApplicationGrants", "Grants", **app)
    }
    scopes = {s["Scope"] for s in pages(label, sso, "ListApplicationAccessScopes", "Scopes", **app)}
    actors = None
    for method in pages(label, sso, "ListApplicationAuthenticationMethods", "AuthenticationMethods", **app):
        if method.get("AuthenticationMethodType") == "IAM":
            iam = (method.get("AuthenticationMethod") or {}).get("Iam") or {}
            actors = policies.actor_principals(iam.get("ActorPolicy"))
    required = call(label, sso, "GetApplicationAssignmentConfiguration", **app).get("AssignmentRequired")
    assignments = {
        (str(a["PrincipalType"]), str(a["PrincipalId"]))
        for a in pages(label, sso, "ListApplicationAssignments", "ApplicationAssignments", **app)
    }
    return {
        "grants": grants,
        "scopes": scopes,
        "actors": actors,
        "required": required,
        "assignments": assignments,
    }


def _plan_authentication(sso: Any, wanted: ApplicationSpec, plan: Plan, current: dict[str, Any]) -> None:
    label = f"application {wanted.name} authentication method IAM"
    if current["actors"] == frozenset(policies.principal_arn(p) for p in wanted.principals):
        plan.same(label)
    else:
        put = request(
            label,
            sso,
            "PutApplicationAuthenticationMethod",
            ApplicationArn=Ref(KEY),
            AuthenticationMethodType="IAM",
            AuthenticationMethod={"Iam": {"ActorPolicy": policies.actor_policy(wanted.principals)}},
        )
        plan.add("create" if current["actors"] is None else "update", label, SETTING, put)
    label = f"application {wanted.name} assignment required"
    if current["required"] == wanted.assignment_required:
        plan.same(label)
    else:
        put = request(
            label,
            sso,
            "PutApplicationAssignmentConfiguration",
            ApplicationArn=Ref(KEY),
            AssignmentRequired=wanted.assignment_required,
        )
        verb: Verb = "create" if current["required"] is None else "update"
        plan.add(verb, label, SETTING, put, str(wanted.assignment_required).lower())


def _plan_assignments(
    sso: Any, wanted: ApplicationSpec, plan: Plan, directory: Directory, current: dict[str, Any]
) -> None:
    ctx = plan.context
    desired: set[tuple[str, str]] = set()
    for kind, names in (("user", wanted.assigned_users), ("group", wanted.assigned_groups)):
        for name in names:
            key = directory.resolve(
                plan, kind, name, wanted.assignment_lines.get(f"{kind}s:{name}", wanted.line)
            )
            if key is None:
                continue
            label = f"application {wanted.name} assignment {kind} {name}"
            if key in ctx and (kind.upper(), ctx[key]) in current["assignments"]:
                desired.add((kind.upper(), ctx[key]))
                plan.same(label)
                continue
            create = request(
                label,
                sso,
                "CreateApplicationAssignment",
                ApplicationArn=Ref(KEY),
                PrincipalType=kind.upper(),
                PrincipalId=Ref(key),
            )
            plan.add("create", label, "assignment", create)
    known = directory.names_by_id()
    for principal_type, principal_id in sorted(current["assignments"] - desired):
        who = known.get(principal_id, principal_id)
        label = f"application {wanted.name} assignment {principal_type.lower()} {who}"
        delete = request(
            label,
            sso,
            "DeleteApplicationAssignment",
            ApplicationArn=Ref(KEY),
            PrincipalType=principal_type,
            PrincipalId=principal_id,
        )
        plan.add("delete", label, "assignment-delete", delete)
