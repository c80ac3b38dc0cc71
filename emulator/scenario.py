"""Load a scenario YAML file and seed moto (Cognito, IAM, Identity Store, S3) and the emulator state."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from moto.cognitoidp.models import cognitoidp_backends
from moto.iam.models import iam_backends
from moto.identitystore.models import identitystore_backends
from moto.s3.models import s3_backends

from emulator.access_grants import AccessGrantsHandler
from emulator.state import (
    Application,
    AuthorizedIssuer,
    Credential,
    EmulatorState,
    IdentityCenter,
    Role,
    TrustedTokenIssuer,
    new_id,
)

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "demo.yaml"
_HEX = "0123456789abcdef"


class ScenarioError(Exception):
    """The scenario file is invalid."""


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass
class SeededUser:
    """A scenario user as the admin API reports it."""

    username: str
    email: str
    password: str
    idc_user_id: str
    groups: list[str]


@dataclass
class Seeded:
    """What seeding produced: ids the admin config and tests need."""

    user_pool_id: str
    client_id: str
    issuer_url: str
    application_arn: str
    bearer_role_arn: str
    broker_access_key: str
    broker_secret_key: str
    admin_access_key: str
    admin_secret_key: str
    users: list[SeededUser] = field(default_factory=list)
    group_ids: dict[str, str] = field(default_factory=dict)


def load(path: str | Path) -> dict[str, Any]:
    """Read a scenario file."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: top level must be a mapping")
    return data


def _substitute(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return string.Template(value).safe_substitute(variables)
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    return value


def new_state(data: dict[str, Any]) -> EmulatorState:
    """Create the empty emulator state for a scenario (account, region, Identity Center ids)."""
    account = str(data.get("account_id", "111122223333"))
    region = str(data.get("region", "us-east-1"))
    ic = data.get("identity_center", {}) or {}
    instance_id = str(ic.get("instance_id") or f"ssoins-{_rand(_HEX, 16)}")
    store_id = str(ic.get("identity_store_id") or f"d-{_rand(_HEX, 10)}")
    return EmulatorState(
        account_id=account,
        region=region,
        identity_center=IdentityCenter(
            instance_arn=f"arn:aws:sso:::instance/{instance_id}",
            identity_store_id=store_id,
            identity_store_arn=f"arn:aws:identitystore::{account}:identitystore/{store_id}",
            issuer_url=f"https://identitycenter.amazonaws.com/{instance_id}",
        ),
        scenario=data,
    )


def seed(state: EmulatorState, access_grants: AccessGrantsHandler) -> Seeded:
    """Create every resource of the scenario; `state.endpoint_url` must already be set."""
    data = state.scenario
    account, region = state.account_id, state.region
    ic = state.identity_center
    instance_id = ic.instance_arn.rsplit("/", 1)[-1]
    iam = iam_backends[account]["aws"]

    principals: dict[str, Credential] = {}
    for role_name in ("broker", "admin"):
        spec = data.get(role_name) or {}
        user_name = str(spec.get("user_name", f"tip-{role_name}"))
        iam.create_user(region, user_name)
        arn = f"arn:aws:iam::{account}:user/{user_name}"
        principals[role_name] = state.register(
            Credential(
                access_key=str(spec.get("access_key_id") or f"AKIA{_rand(string.ascii_uppercase, 16)}"),
                secret_key=str(spec.get("secret_access_key") or secrets.token_urlsafe(30)),
                kind="iam_user",
                arn=arn,
                user_id=f"AIDA{_rand(string.ascii_uppercase + string.digits, 17)}",
                account_id=account,
            )
        )

    app_spec = data.get("application") or {}
    app_id = str(app_spec.get("id") or f"apl-{_rand(_HEX, 16)}")
    app_arn = f"arn:aws:sso::{account}:application/{instance_id}/{app_id}"
    variables = {
        "account_id": account,
        "region": region,
        "broker_arn": principals["broker"].arn,
        "admin_arn": principals["admin"].arn,
        "instance_arn": ic.instance_arn,
        "application_arn": app_arn,
        "identity_store_arn": ic.identity_store_arn,
    }
    data = _substitute(data, variables)
    app_spec = data.get("application") or {}

    # Cognito: the IdP whose ID tokens the application trusts.
    cog_spec = data.get("cognito") or {}
    cognito = cognitoidp_backends[account][region]
    pool = cognito.create_user_pool(str(cog_spec.get("pool_name", "tip-demo")), {})
    client = cognito.create_user_pool_client(
        pool.id,
        False,
        {
            "ClientName": str(cog_spec.get("client_name", "tip-broker")),
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "ReadAttributes": ["email", "email_verified", "preferred_username", "name"],
        },
    )
    issuer_url = f"https://cognito-idp.{region}.amazonaws.com/{pool.id}"

    # Identity Store groups and users (moto's identitystore backend).
    store = identitystore_backends[account][region]
    seeded = Seeded(
        user_pool_id=pool.id,
        client_id=client.id,
        issuer_url=issuer_url,
        application_arn=app_arn,
        bearer_role_arn="",
        broker_access_key=principals["broker"].access_key,
        broker_secret_key=principals["broker"].secret_key,
        admin_access_key=principals["admin"].access_key,
        admin_secret_key=principals["admin"].secret_key,
    )
    for group in data.get("groups") or []:
        name = str(group["name"] if isinstance(group, dict) else group)
        group_id, _ = store.create_group(ic.identity_store_id, name, f"{name} group")
        seeded.group_ids[name] = group_id
    user_ids: dict[str, str] = {}
    for user in data.get("users") or []:
        username, email, password = str(user["username"]), str(user["email"]), str(user["password"])
        given = str(user.get("given_name", username.capitalize()))
        family = str(user.get("family_name", "Example"))
        user_id, _ = store.create_user(
            ic.identity_store_id, username, {"GivenName": given, "FamilyName": family}, f"{given} {family}", "",
            "", [{"Value": email, "Type": "work", "Primary": True}], [], [], "", "", "", "", "",
        )
        user_ids[username] = user_id
        groups = [str(g) for g in user.get("groups") or []]
        for g in groups:
            if g not in seeded.group_ids:
                raise ScenarioError(f"user {username}: unknown group {g}")
            store.create_group_membership(ic.identity_store_id, seeded.group_ids[g], {"UserId": user_id})
        cognito.admin_create_user(
            pool.id, username, "SUPPRESS", password,
            [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"},
             {"Name": "preferred_username", "Value": username}],
        )
        cognito.admin_set_user_password(pool.id, username, password, True)
        seeded.users.append(SeededUser(username, email, password, user_id, groups))

    # The IdC application, its trusted token issuer and grants.
    tti_spec = app_spec.get("trusted_token_issuer") or {}
    tti_arn = f"arn:aws:sso::{account}:trustedTokenIssuer/{instance_id}/tti-{new_id()}"
    pool_url = f"{state.endpoint_url}/{pool.id}"
    ic.issuers[tti_arn] = TrustedTokenIssuer(
        arn=tti_arn,
        name=str(tti_spec.get("name", "cognito")),
        issuer_url=str(tti_spec.get("issuer_url") or issuer_url),
        claim_attribute_path=str(tti_spec.get("claim", "email")),
        identity_store_attribute_path=str(tti_spec.get("identity_store_attribute", "emails.value")),
        discovery_url=tti_spec.get("discovery_url") or f"{pool_url}/.well-known/openid-configuration",
        jwks_url=tti_spec.get("jwks_url"),
    )
    audiences = tuple(str(a) for a in tti_spec.get("authorized_audiences") or [client.id])
    actors = app_spec.get("actor_principals")
    ic.applications[app_arn] = Application(
        arn=app_arn,
        name=str(app_spec.get("name", "tip-broker")),
        client_id=_rand(string.ascii_letters + string.digits, 22),
        jwt_bearer=[AuthorizedIssuer(tti_arn, audiences)],
        refresh_token_grant=bool(app_spec.get("refresh_token", True)),
        actor_principals=[str(a) for a in actors] if actors is not None else [principals["broker"].arn],
        scopes=[str(s) for s in app_spec.get("scopes") or ["s3:access_grants:read_write"]],
    )

    # IAM roles: the identity-bearer role and the Access Grants location roles.
    role_arns: dict[str, str] = {}
    for role in data.get("roles") or []:
        name = str(role["name"])
        trust = role.get("trust_policy") or {}
        max_duration = int(role.get("max_session_duration", 3600))
        moto_role = iam.create_role(name, json.dumps(trust), "/", None, str(role.get("description", "")), [],
                                    str(max_duration))
        arn = f"arn:aws:iam::{account}:role/{name}"
        state.roles[arn] = Role(arn, name, moto_role.id, trust, max_duration)
        role_arns[name] = arn
        if role.get("identity_bearer"):
            seeded.bearer_role_arn = arn

    # S3 buckets and objects (moto storage).
    s3 = s3_backends[account]["aws"]
    for bucket in data.get("buckets") or []:
        s3.create_bucket(str(bucket["name"]), region)
        for key, body in (bucket.get("objects") or {}).items():
            s3.put_object(str(bucket["name"]), str(key), str(body).encode())

    # Access Grants instance, locations, grants.
    ag = data.get("access_grants")
    if ag:
        access_grants.create_instance(account, ic.instance_arn if ag.get("identity_center", True) else None)
        location_ids: dict[str, str] = {}
        for loc in ag.get("locations") or []:
            role_arn = role_arns.get(str(loc["role"]), str(loc["role"]))
            created = access_grants.create_location(account, str(loc["scope"]), role_arn)
            location_ids[str(loc.get("name", loc["scope"]))] = created.location_id
        for grant in ag.get("grants") or []:
            gtype, gid = _grantee(grant.get("grantee") or {}, user_ids, seeded.group_ids, role_arns, principals)
            access_grants.create_grant(
                account,
                location_ids[str(grant["location"])],
                grant.get("sub_prefix"),
                gtype,
                gid,
                str(grant["permission"]),
                app_arn if grant.get("application_only") else None,
                grant.get("s3_prefix_type"),
            )
    return seeded


def _grantee(
    spec: dict[str, Any],
    users: dict[str, str],
    groups: dict[str, str],
    roles: dict[str, str],
    principals: dict[str, Credential],
) -> tuple[str, str]:
    if "user" in spec:
        return "DIRECTORY_USER", users[str(spec["user"])]
    if "group" in spec:
        return "DIRECTORY_GROUP", groups[str(spec["group"])]
    if "iam_role" in spec:
        return "IAM", roles.get(str(spec["iam_role"]), str(spec["iam_role"]))
    if "iam_user" in spec:
        name = str(spec["iam_user"])
        return "IAM", principals[name].arn if name in principals else name
    raise ScenarioError(f"grant grantee must name a user, group, iam_role or iam_user: {spec}")
