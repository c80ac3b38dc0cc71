"""Seed a scenario's `access_grants` (instances, locations, grants) through the Access Grants store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.access_grants.state import AccessGrantsStore
from emulator.scenario_file import ScenarioError
from emulator.state import Credential


@dataclass(frozen=True)
class Names:
    """What the rest of the scenario created, by the names grants use for it."""

    account: str
    region: str
    identity_center_arn: str
    application_arn: str
    user_ids: dict[str, str]
    group_ids: dict[str, str]
    role_arns: dict[str, str]
    principals: dict[str, Credential]


def seed_access_grants(store: AccessGrantsStore, spec: Any, names: Names) -> None:
    """Create the Access Grants instances (one mapping, or a list of them), locations and grants."""
    for instance in spec if isinstance(spec, list) else [spec] if spec else []:
        _grants_instance(store, instance, names)


def _grants_instance(store: AccessGrantsStore, ag: dict[str, Any], names: Names) -> None:
    """Create one instance (optional `account` and `region`), its locations and grants."""
    account = str(ag.get("account") or names.account)
    idc_arn = names.identity_center_arn if ag.get("identity_center", True) else None
    store.create_instance(account, idc_arn, str(ag.get("region") or names.region))
    location_ids: dict[str, str] = {}
    for loc in ag.get("locations") or []:
        role_arn = names.role_arns.get(str(loc["role"]), str(loc["role"]))
        created = store.create_location(account, str(loc["scope"]), role_arn)
        location_ids[str(loc.get("name", loc["scope"]))] = created.location_id
    for grant in ag.get("grants") or []:
        gtype, gid = _grantee(grant.get("grantee") or {}, names)
        store.create_grant(
            account,
            location_ids[str(grant["location"])],
            sub_prefix=grant.get("sub_prefix"),
            grantee_type=gtype,
            grantee_identifier=gid,
            permission=str(grant["permission"]),
            application_arn=_grant_application(grant, names),
            s3_prefix_type=grant.get("s3_prefix_type"),
        )


def _grant_application(grant: dict[str, Any], names: Names) -> str | None:
    """`application_only: true` ties a grant to the demo application; `application` names one or ALL."""
    if grant.get("application_only"):
        return names.application_arn
    application = grant.get("application")
    return str(application) if application else None


def _grantee(spec: dict[str, Any], names: Names) -> tuple[str, str]:
    if "user" in spec:
        return "DIRECTORY_USER", names.user_ids[str(spec["user"])]
    if "group" in spec:
        return "DIRECTORY_GROUP", names.group_ids[str(spec["group"])]
    if "iam_role" in spec:
        return "IAM", names.role_arns.get(str(spec["iam_role"]), str(spec["iam_role"]))
    if "iam_user" in spec:
        name = str(spec["iam_user"])
        return "IAM", names.principals[name].arn if name in names.principals else name
    raise ScenarioError(f"grant grantee must name a user, group, iam_role or iam_user: {spec}")
