"""The S3 Access Grants instance, its Identity Center association, locations and grants, planned.

Instance, locations and grants all carry the ownership tag. An instance this setup did not create is used
as it is and never changed or deleted; a location or grant it did not create is never touched, and an owned
location still holding someone else's grants is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.setup.application import KEY as APPLICATION
from service.setup.aws import AwsCallError, Clients, absent, call, pages, tags_of
from service.setup.directory import Directory
from service.setup.model import TAG_KEY, GrantSpec, SetupSpec
from service.setup.plan import Action, Context, Plan, Ref, Steps, creating, request

INSTANCE_MISSING = "AccessGrantsInstanceNotExistsError"


@dataclass
class Observed:
    """The account's instance in the region, its locations and grants, with ownership."""

    instance: dict[str, Any] | None
    instance_owned: bool
    locations: dict[str, dict[str, Any]]  # scope → location
    owned_locations: set[str]  # scopes
    grants: list[dict[str, Any]]
    owned_grants: set[str]  # grant ids


def _tags(clients: Clients, ctx: Context, label: str, arn: str) -> dict[str, str]:
    return tags_of(
        call(label, clients.s3control, "ListTagsForResource", AccountId=ctx.account, ResourceArn=arn)
    )


def observe(clients: Clients, spec: SetupSpec, ctx: Context) -> Observed:
    """Read the instance, locations and grants of the account in the region."""
    s3c, account = clients.s3control, {"AccountId": ctx.account}
    try:
        instance: dict[str, Any] | None = call(
            "Access Grants instance", s3c, "GetAccessGrantsInstance", **account
        )
    except AwsCallError as exc:
        if not absent(exc, INSTANCE_MISSING):
            raise
        return Observed(None, False, {}, set(), [], set())
    assert instance is not None  # noqa: S101 - the call above answered
    owned = _tags(clients, ctx, "Access Grants instance", str(instance["AccessGrantsInstanceArn"])).get(
        TAG_KEY
    )
    locations = {
        str(loc["LocationScope"]): loc
        for loc in pages(
            "Access Grants locations",
            s3c,
            "ListAccessGrantsLocations",
            "AccessGrantsLocationsList",
            **account,
        )
    }
    owned_locations = {
        scope
        for scope, loc in locations.items()
        if _tags(clients, ctx, f"location {scope}", str(loc["AccessGrantsLocationArn"])).get(TAG_KEY)
        == spec.name
    }
    owned_ids = {str(locations[scope]["AccessGrantsLocationId"]) for scope in owned_locations}
    grants = list(pages("access grants", s3c, "ListAccessGrants", "AccessGrantsList", **account))
    owned_grants = {
        str(g["AccessGrantId"])
        for g in grants
        if str(g.get("AccessGrantsLocationId")) in owned_ids
        and _tags(clients, ctx, "access grant", str(g["AccessGrantArn"])).get(TAG_KEY) == spec.name
    }
    return Observed(instance, owned == spec.name, locations, owned_locations, grants, owned_grants)


def plan_access_grants(clients: Clients, spec: SetupSpec, plan: Plan, directory: Directory) -> frozenset[str]:
    """Plan instance, locations and grants; return the owned roles a kept location still uses."""
    ctx = plan.context
    seen = observe(clients, spec, ctx)
    _plan_instance(clients, spec, plan, seen)
    kept_locations = _plan_locations(clients, spec, plan, seen)
    _plan_grants(clients, spec, plan, seen, directory)
    return frozenset(str(seen.locations[scope]["IAMRoleArn"]).rsplit("/", 1)[-1] for scope in kept_locations)


def _plan_instance(clients: Clients, spec: SetupSpec, plan: Plan, seen: Observed) -> None:
    s3c, ctx, ag = clients.s3control, plan.context, spec.access_grants
    label = f"Access Grants instance {ctx.grants_instance_arn}"
    account = ctx.account
    target = ctx.instance_arn if ag is not None and ag.identity_center else None
    if seen.instance is None:
        if ag is not None:
            extra = {"IdentityCenterArn": target} if target else {}
            create = request(
                label, s3c, "CreateAccessGrantsInstance", AccountId=account, Tags=[spec.tag], **extra
            )
            plan.add("create", label, "instance", create)
        return
    current = seen.instance.get("IdentityCenterInstanceArn") or seen.instance.get("IdentityCenterArn")
    if not seen.instance_owned:
        if ag is not None and current != target:
            plan.problem(
                ag.line,
                f"the account's Access Grants instance in {ctx.region} was not created by setup "
                f"{spec.name!r} and is associated with {current or 'no Identity Center instance'}, the file "
                f"asks for {target or 'none'}: change it yourself (aws s3control "
                "associate-access-grants-identity-center) or set access_grants.identity_center to match",
            )
        elif ag is not None:
            plan.same(f"{label} (not created by this setup: used as it is)")
        return
    if ag is None:
        if _kept(seen) or _foreign_locations(seen):
            plan.keep(label, "it holds locations this setup does not own")
            return
        # docs/aws.md#access-grants-administration: an associated instance must be dissociated first.
        steps: list[Action] = []
        if current:
            steps.append(request(label, s3c, "DissociateAccessGrantsIdentityCenter", AccountId=account))
        steps.append(request(label, s3c, "DeleteAccessGrantsInstance", AccountId=account))
        plan.add("delete", label, "instance-delete", Steps(tuple(steps)))
        return
    if current == target:
        plan.same(label)
        return
    steps = []
    if current:
        steps.append(request(label, s3c, "DissociateAccessGrantsIdentityCenter", AccountId=account))
    if target:
        steps.append(
            request(
                label, s3c, "AssociateAccessGrantsIdentityCenter", AccountId=account, IdentityCenterArn=target
            )
        )
    plan.add(
        "update",
        label,
        "instance",
        Steps(tuple(steps)),
        f"Identity Center {current or 'none'} -> {target or 'none'}",
    )


def _foreign_locations(seen: Observed) -> set[str]:
    return set(seen.locations) - seen.owned_locations


def _kept(seen: Observed) -> set[str]:
    """Return the owned locations holding grants this setup does not own."""
    foreign_grant_locations = {
        str(g.get("AccessGrantsLocationId"))
        for g in seen.grants
        if str(g["AccessGrantId"]) not in seen.owned_grants
    }
    return {
        scope
        for scope in seen.owned_locations
        if str(seen.locations[scope]["AccessGrantsLocationId"]) in foreign_grant_locations
    }


def _role_arn(ctx: Context, name: str) -> str:
    return ctx.ids.get(f"role:{name}", f"arn:aws:iam::{ctx.account}:role/{name}")


def _plan_locations(clients: Clients, spec: SetupSpec, plan: Plan, seen: Observed) -> set[str]:
    """Plan the locations; return the owned ones that must stay although the file dropped them."""
    s3c, ctx, ag = clients.s3control, plan.context, spec.access_grants
    wanted = {loc.scope: loc for loc in ag.locations} if ag is not None else {}
    role = _role_arn(ctx, ag.location_role) if ag is not None else ""
    for scope, location in wanted.items():
        label = f"location {location.name} ({scope})"
        key = f"location:{location.name}"
        found = seen.locations.get(scope)
        if found is None:
            create = creating(
                key,
                "AccessGrantsLocationId",
                label,
                s3c,
                "CreateAccessGrantsLocation",
                AccountId=ctx.account,
                LocationScope=scope,
                IAMRoleArn=role,
                Tags=[spec.tag],
            )
            plan.add("create", label, "location", create)
        elif scope not in seen.owned_locations:
            plan.problem(location.line, f"location {scope} exists and was not created by setup {spec.name!r}")
        else:
            ctx[key] = str(found["AccessGrantsLocationId"])
            if found.get("IAMRoleArn") == role:
                plan.same(label)
            else:
                update = request(
                    label,
                    s3c,
                    "UpdateAccessGrantsLocation",
                    AccountId=ctx.account,
                    AccessGrantsLocationId=ctx[key],
                    IAMRoleArn=role,
                )
                plan.add("update", label, "location", update, "IAM role")
    kept = _kept(seen)
    dropped = seen.owned_locations - set(wanted)
    for scope in sorted(dropped):
        label = f"location {scope}"
        if scope in kept:
            plan.keep(label, "it holds grants this setup does not own")
            continue
        location_id = seen.locations[scope]["AccessGrantsLocationId"]
        delete = request(
            label,
            s3c,
            "DeleteAccessGrantsLocation",
            AccountId=ctx.account,
            AccessGrantsLocationId=location_id,
        )
        plan.add("delete", label, "location-delete", delete)
    return kept & dropped


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


def _plan_grants(clients: Clients, spec: SetupSpec, plan: Plan, seen: Observed, directory: Directory) -> None:
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
        plan.context.ids.setdefault(key, name if key.startswith("arn:") else _role_arn(plan.context, name))
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
