"""The access grants of a setup: matched with the owned grants by location, sub-prefix, grantee, permission
and application (AWS has no UpdateAccessGrant, so a changed grant is a new grant and an old one deleted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.setup.application import KEY as APPLICATION
from service.setup.aws import Clients
from service.setup.directory import Directory
from service.setup.model import GrantSpec, SetupSpec
from service.setup.plan import Action, Context, Plan, Ref, request

if TYPE_CHECKING:
    from service.setup.access_grants import Observed


def role_arn(ctx: Context, name: str) -> str:
    """Return the ARN of role ``name``: as read from IAM, else the one CreateRole will give it."""
    return ctx.ids.get(f"role:{name}", f"arn:aws:iam::{ctx.account}:role/{name}")


def _grant_key(grant: dict[str, Any]) -> tuple[str | None, ...]:
    grantee = grant.get("Grantee") or {}
    return (
        str(grant.get("AccessGrantsLocationId")),
        (grant.get("AccessGrantsLocationConfiguration") or {}).get("S3SubPrefix") or None,
        grantee.get("GranteeType"),
        grantee.get("GranteeIdentifier"),
        grant.get("Permission"),
        grant.get("ApplicationArn") or None,
    )


def plan_grants(clients: Clients, spec: SetupSpec, plan: Plan, seen: Observed, directory: Directory) -> None:
    """Plan the file's grants, and delete the owned grants it no longer names."""
    ctx = plan.context
    existing = {_grant_key(g): g for g in seen.grants if str(g["AccessGrantId"]) in seen.owned_grants}
    matched: set[str] = set()
    ag = spec.access_grants
    scopes = {loc.name: loc.scope for loc in ag.locations} if ag is not None else {}
    for grant in ag.grants if ag is not None else ():
        grantee = _grantee_key(plan, directory, spec, grant)
        if grantee is None:
            continue
        kind, key = grantee
        label = _grant_label(grant, scopes[grant.location])
        application = APPLICATION if grant.application == "this" else None
        needed = [f"location:{grant.location}", key, *([application] if application else [])]
        if all(k in ctx for k in needed):
            app = ctx[application] if application else grant.application
            found = existing.get((ctx[needed[0]], grant.sub_prefix, kind, ctx[key], grant.permission, app))
            if found is not None:
                matched.add(str(found["AccessGrantId"]))
                plan.same(label)
                continue
        create = _create_grant(clients.s3control, spec, grant, (kind, key), label)
        plan.add("create", label, "grant", create)
    for listed in seen.grants:
        grant_id = str(listed["AccessGrantId"])
        if grant_id in seen.owned_grants and grant_id not in matched:
            label = f"access grant {listed.get('GrantScope')} {listed.get('Permission')}"
            delete = request(
                label, clients.s3control, "DeleteAccessGrant", AccountId=ctx.account, AccessGrantId=grant_id
            )
            plan.add("delete", label, "grant-delete", delete)


def _grantee_key(
    plan: Plan, directory: Directory, spec: SetupSpec, grant: GrantSpec
) -> tuple[str, str] | None:
    """Return (grantee type, context key of its id), or None when the name resolves to nothing."""
    name = grant.grantee.name
    if grant.grantee.kind == "iam_role":
        key = f"role:{name}" if name in spec.role_names() else f"arn:{name}"
        plan.context.ids.setdefault(key, name if key.startswith("arn:") else role_arn(plan.context, name))
        return "IAM", key
    resolved = directory.resolve(plan, grant.grantee.kind, name, grant.grantee_line)
    if resolved is None:
        return None
    return ("DIRECTORY_USER" if grant.grantee.kind == "user" else "DIRECTORY_GROUP", resolved)


def _grant_label(grant: GrantSpec, scope: str) -> str:
    where = f"{scope} {grant.sub_prefix}" if grant.sub_prefix else scope
    return f"access grant {grant.grantee.kind} {grant.grantee.name} {grant.permission} {where}"


def _create_grant(
    s3c: Any, spec: SetupSpec, grant: GrantSpec, grantee: tuple[str, str], label: str
) -> Action:
    kind, key = grantee
    params: dict[str, Any] = {
        "AccessGrantsLocationId": Ref(f"location:{grant.location}"),
        "Grantee": {"GranteeType": kind, "GranteeIdentifier": Ref(key)},
        "Permission": grant.permission,
        "Tags": [spec.tag],
    }
    if grant.sub_prefix:
        params["AccessGrantsLocationConfiguration"] = {"S3SubPrefix": grant.sub_prefix}
    if grant.application:
        params["ApplicationArn"] = Ref(APPLICATION) if grant.application == "this" else grant.application
    if grant.object:
        params["S3PrefixType"] = "Object"
    return request(label, s3c, "CreateAccessGrant", AccountId=Ref("account"), **params)
