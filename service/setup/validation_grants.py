"""Validation of the identity-bearer role, the Access Grants section and the extra broker settings."""

from __future__ import annotations

import re
from typing import Any

from service.settings import Settings
from service.setup.model import (
    AccessGrantsSpec,
    BearerRoleSpec,
    Grantee,
    GranteeKind,
    GrantSpec,
    LocationSpec,
    SetupSpec,
)
from service.setup.schema import Reader

ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
ROLE_ARN = re.compile(r"arn:aws(-[a-z]{1,5}){0,3}:iam::\d{12}:role/[\w+=,.@/-]+")
GRANTS_INSTANCE = re.compile(r"\*|arn:aws(-[a-z]{1,5}){0,3}:s3:[a-z0-9-]+:\d{12}:access-grants/default")
# docs/aws.md#access-grant-application: an ARN or nothing; CreateAccessGrant takes no ALL.
APPLICATION = re.compile(r"this|arn:aws(-[a-z]{1,5}){0,3}:sso::\d{12}:application/\S+")
LOCATION_SCOPE = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^*]*)?)?")
PERMISSIONS = ("READ", "WRITE", "READWRITE")
GRANTEE_KEYS: tuple[GranteeKind, ...] = ("user", "group", "iam_role")
PRINCIPAL = re.compile(r"arn:aws(-[a-z]{1,5}){0,3}:iam::\d{12}:(user|role)/[\w+=,.@/-]+|\d{12}")


def setting_names() -> frozenset[str]:
    """Return every environment variable the broker's Settings read (BROKER_* and the AWS_* aliases)."""
    names = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"}
    for name, info in Settings.model_fields.items():
        if info.validation_alias is None:
            names.add(f"BROKER_{name.upper()}")
    return frozenset(names)


def bearer_role(reader: Reader, top: dict[str, Any]) -> BearerRoleSpec | None:
    """Return the identity-bearer role spec (principals default to the application's)."""
    path = ("identity_bearer_role",)
    if "identity_bearer_role" not in top:
        return None
    keys = ("name", "principals", "max_session_duration", "access_grants_instances")
    if reader.mapping(path, keys, required=("name",)) is None:
        return None
    principals = reader.strings(
        (*path, "principals"),
        pattern=PRINCIPAL,
        what="an IAM user or role ARN (arn:aws:iam::<account>:role/<name>) or an account id",
    )
    inherited = reader.raw(("application", "principals"))
    if not principals and isinstance(inherited, list | str):
        # The application's principals (already checked where they are written).
        listed = inherited if isinstance(inherited, list) else [inherited]
        principals = tuple(str(p) for p in listed if isinstance(p, str) and PRINCIPAL.fullmatch(p))
    elif not principals:
        reader.problem(path, "'principals' is required (who may assume it: the broker's IAM principal)")
    return BearerRoleSpec(
        name=reader.string((*path, "name"), pattern=ROLE_NAME, what="an IAM role name") or "",
        principals=principals,
        max_session_duration=reader.integer((*path, "max_session_duration"), 3600, 3600, 43200),
        access_grants_instances=reader.strings(
            (*path, "access_grants_instances"),
            pattern=GRANTS_INSTANCE,
            what="an Access Grants instance ARN (arn:aws:s3:<region>:<account>:access-grants/default) or *",
        ),
        line=reader.document.line(path),
    )


def access_grants(reader: Reader) -> AccessGrantsSpec | None:
    """Return the Access Grants section: instance association, location role, locations, grants."""
    path = ("access_grants",)
    keys = ("identity_center", "location_role", "locations", "grants")
    if reader.mapping(path, keys, required=("location_role",)) is None:
        return None
    role_path = (*path, "location_role")
    reader.mapping(role_path, ("name", "policy"), required=("name",))
    policy = reader.raw((*role_path, "policy"))
    if policy is not None and not (isinstance(policy, dict) and isinstance(policy.get("Statement"), list)):
        reader.problem((*role_path, "policy"), "must be an IAM policy document with a Statement list")
        policy = None
    return AccessGrantsSpec(
        location_role=reader.string((*role_path, "name"), pattern=ROLE_NAME, what="an IAM role name") or "",
        identity_center=reader.boolean((*path, "identity_center"), True),
        location_policy=policy,
        locations=_locations(reader),
        grants=_grants(reader),
        line=reader.document.line(path),
    )


def _locations(reader: Reader) -> tuple[LocationSpec, ...]:
    path = ("access_grants", "locations")
    locations = []
    for index, _ in enumerate(reader.items(path)):
        at = (*path, index)
        if reader.mapping(at, ("name", "scope"), required=("name", "scope")) is None:
            continue
        scope = reader.string(
            (*at, "scope"),
            pattern=LOCATION_SCOPE,
            what="a location scope: s3://, s3://bucket or s3://bucket/prefix (no '*')",
        )
        name = reader.string((*at, "name"), pattern=ROLE_NAME, what="a location name")
        if scope and name:
            locations.append(LocationSpec(name, scope, reader.document.line(at)))
    return tuple(locations)


def _grants(reader: Reader) -> tuple[GrantSpec, ...]:
    path = ("access_grants", "grants")
    keys = ("location", "sub_prefix", *GRANTEE_KEYS, "permission", "application", "object")
    grants = []
    for index, _ in enumerate(reader.items(path)):
        at = (*path, index)
        entry = reader.mapping(at, keys, required=("location", "permission"))
        if entry is None:
            continue
        named = [kind for kind in GRANTEE_KEYS if kind in entry]
        if len(named) != 1:
            reader.problem(at, "names its grantee with exactly one of user, group or iam_role")
            continue
        kind = named[0]
        pattern = re.compile(r"\S.{0,127}") if kind != "iam_role" else re.compile(r"[\w+=,.@/:-]{1,2048}")
        grantee = reader.string((*at, kind), pattern=pattern, what="a grantee name")
        permission = reader.string((*at, "permission"))
        if permission is not None and permission not in PERMISSIONS:
            reader.problem((*at, "permission"), f"{permission!r} is not one of {', '.join(PERMISSIONS)}")
            permission = None
        sub_prefix = reader.string((*at, "sub_prefix"))
        if sub_prefix is not None and sub_prefix.startswith("s3://"):
            reader.problem((*at, "sub_prefix"), "is relative to the location: leave out s3:// and the scope")
        location = reader.string((*at, "location"))
        if grantee and permission and location:
            grants.append(
                GrantSpec(
                    location=location,
                    grantee=Grantee(kind, grantee),
                    permission=permission,
                    sub_prefix=sub_prefix,
                    application=reader.string(
                        (*at, "application"),
                        pattern=APPLICATION,
                        what="this (the file's application) or an Identity Center application ARN "
                        "(CreateAccessGrant takes no ALL)",
                    ),
                    object=reader.boolean((*at, "object"), False),
                    line=reader.document.line(at),
                    grantee_line=reader.document.line((*at, kind)),
                )
            )
    return tuple(grants)


# Settings that hold a secret (or a URL that may carry one): --env-out never writes credentials, so a setup
# file may not name them; the operator sets them where the broker's other secrets live.
SECRET_SETTINGS = frozenset(
    {"BROKER_CACHE_KEY", "BROKER_ADMIN_TOKEN", "BROKER_REDIS_PASSWORD", "BROKER_REDIS_URL"}
)


def broker_settings(reader: Reader) -> tuple[tuple[str, str], ...]:
    """Return extra settings for --env-out, each a variable the broker reads and none a secret."""
    path = ("broker_settings",)
    known = setting_names()
    values = reader.mapping(path, sorted(known), optional=True) or {}
    result = []
    for name in values:
        if name in SECRET_SETTINGS:
            reader.problem((*path, name), "holds a secret: set it where the broker's secrets live, not here")
        elif name in known:
            text = reader.string((*path, name))
            if text is not None and "\n" not in text:
                result.append((name, text))
            elif text is not None:
                reader.problem((*path, name), "must be one line")
    return tuple(result)


def cross_check(reader: Reader, spec: SetupSpec) -> None:
    """Check references inside the Access Grants section: locations, roles, duplicates."""
    ag = spec.access_grants
    if ag is None:
        return
    names: dict[str, LocationSpec] = {}
    for index, location in enumerate(ag.locations):
        at = ("access_grants", "locations", index)
        if location.name in names:
            reader.problem(at, f"location name {location.name!r} is used twice")
        if any(other.scope == location.scope for other in names.values()):
            reader.problem(at, f"scope {location.scope} is registered twice")
        names[location.name] = location
    roles = spec.role_names()
    seen: set[GrantSpec] = set()
    for index, grant in enumerate(ag.grants):
        at = ("access_grants", "grants", index)
        target = names.get(grant.location)
        if target is None:
            known = ", ".join(names) or "none declared"
            reader.problem((*at, "location"), f"no location named {grant.location!r} ({known})")
        elif target.scope == "s3://" and not grant.sub_prefix:
            reader.problem(at, "a grant on the s3:// location needs a sub_prefix such as bucket/prefix/*")
        if grant.object and (grant.sub_prefix or "").endswith("*"):
            reader.problem((*at, "object"), "an object grant names one key: its sub_prefix cannot end with *")
        if grant.grantee.kind == "iam_role" and not (
            grant.grantee.name in roles or ROLE_ARN.fullmatch(grant.grantee.name)
        ):
            reader.problem((*at, "iam_role"), "must be a role declared in this file or a role ARN")
        if grant.application == "this" and spec.application is None:
            reader.problem((*at, "application"), "'this' needs an application section in the file")
        key = GrantSpec(grant.location, grant.grantee, grant.permission, grant.sub_prefix, grant.application)
        if key in seen:
            reader.problem(at, "the same grant is listed twice")
        seen.add(key)
