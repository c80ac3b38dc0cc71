"""Load a scenario YAML file and seed moto (Cognito, IAM, Identity Store, S3) and the emulator state,
through the same state operations the sso-admin and s3control handlers use."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from moto.cognitoidp.models import cognitoidp_backends
from moto.iam.models import iam_backends
from moto.identitystore.models import identitystore_backends
from moto.s3.models import s3_backends

from emulator import applications, directory, scenario_grants, token_issuers
from emulator.access_grants import AccessGrantsHandler
from emulator.scenario_file import DEFAULT_SCENARIO, ScenarioError, Seeded, SeededUser, load, substitute
from emulator.state import Credential, EmulatorState, IdentityCenter

__all__ = ["DEFAULT_SCENARIO", "ScenarioError", "Seeded", "SeededUser", "load", "new_state", "seed"]

_HEX = "0123456789abcdef"


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_state(data: dict[str, Any]) -> EmulatorState:
    """Create the empty emulator state for a scenario (account, region, Identity Center ids)."""
    account = str(data.get("account_id", "111122223333"))
    region = str(data.get("region", "us-east-1"))
    ic = data.get("identity_center", {}) or {}
    instance_id = str(ic.get("instance_id") or f"ssoins-{_rand(_HEX, 16)}")
    store_id = str(ic.get("identity_store_id") or f"d-{_rand(_HEX, 10)}")
    state = EmulatorState(
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
    state.identity_center.created_at = state.now()
    return state


def seed(state: EmulatorState, access_grants: AccessGrantsHandler, *, empty: bool = False) -> Seeded:
    """Create every resource of the scenario; `state.endpoint_url` must already be set.

    With ``empty``, only the IdP (Cognito pool, app client and users), the broker's and admin's IAM users,
    the Identity Center instance with an empty identity store, and the buckets: what a setup tool adds
    (issuer, application, identity-store users, roles, Access Grants) is left to the API.
    """
    return _Seeder(state, access_grants, empty=empty).run()


class _Seeder:
    """One seeding run; each method creates one kind of resource."""

    def __init__(self, state: EmulatorState, access_grants: AccessGrantsHandler, *, empty: bool) -> None:
        self.state = state
        self.access_grants = access_grants
        self.empty = empty
        self.data = state.scenario
        self.account, self.region = state.account_id, state.region
        self.ic = state.identity_center
        self.instance_id = self.ic.instance_arn.rsplit("/", 1)[-1]
        self.iam = iam_backends[self.account]["aws"]
        self.principals: dict[str, Credential] = {}
        self.user_ids: dict[str, str] = {}
        self.role_arns: dict[str, str] = {}

    def run(self) -> Seeded:
        self._principals()
        app_spec = self.data.get("application") or {}
        app_id = str(app_spec.get("id") or f"apl-{_rand(_HEX, 16)}")
        self.app_arn = f"arn:aws:sso::{self.account}:application/{self.instance_id}/{app_id}"
        variables = {
            "account_id": self.account,
            "region": self.region,
            "broker_arn": self.principals["broker"].arn,
            "admin_arn": self.principals["admin"].arn,
            "instance_arn": self.ic.instance_arn,
            "application_arn": self.app_arn,
            "identity_store_arn": self.ic.identity_store_arn,
        }
        self.data = substitute(self.data, variables)
        self._principal_policies()
        self.seeded = self._cognito()
        directory.identity_store(self.state)
        self._directory()
        if not self.empty:
            self._application(app_id)
            self._roles()
        self._storage()
        if not self.empty:
            self._access_grants()
        return self.seeded

    def _principals(self) -> None:
        for role_name in ("broker", "admin"):
            spec = self.data.get(role_name) or {}
            user_name = str(spec.get("user_name", f"tip-{role_name}"))
            self.iam.create_user(self.region, user_name)
            self.principals[role_name] = self.state.register(
                Credential(
                    access_key=str(spec.get("access_key_id") or f"AKIA{_rand(string.ascii_uppercase, 16)}"),
                    secret_key=str(spec.get("secret_access_key") or secrets.token_urlsafe(30)),
                    kind="iam_user",
                    arn=f"arn:aws:iam::{self.account}:user/{user_name}",
                    user_id=f"AIDA{_rand(string.ascii_uppercase + string.digits, 17)}",
                    account_id=self.account,
                )
            )

    def _principal_policies(self) -> None:
        """Attach each principal's inline identity policies (`policies: [{name, document}]`)."""
        for role_name in ("broker", "admin"):
            spec = self.data.get(role_name) or {}
            user_name = self.principals[role_name].arn.rsplit("/", 1)[-1]
            for policy in spec.get("policies") or []:
                self.iam.put_user_policy(user_name, str(policy["name"]), json.dumps(policy["document"]))

    def _cognito(self) -> Seeded:
        """Create the Cognito user pool (the IdP whose ID tokens the application trusts) and its client."""
        cog_spec = self.data.get("cognito") or {}
        self.cognito = cognitoidp_backends[self.account][self.region]
        self.pool = self.cognito.create_user_pool(str(cog_spec.get("pool_name", "tip-demo")), {})
        client_config: dict[str, Any] = {
            "ClientName": str(cog_spec.get("client_name", "tip-broker")),
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "ReadAttributes": ["email", "email_verified", "preferred_username", "name"],
            # The hosted UI's authorization-code flow (emulator/hosted_ui.py); loopback redirects are
            # always accepted, other redirect URIs must be listed here.
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthScopes": ["openid", "email", "profile"],
            "CallbackURLs": [str(url) for url in cog_spec.get("callback_urls") or []],
        }
        self.client = self.cognito.create_user_pool_client(self.pool.id, False, client_config)
        return Seeded(
            user_pool_id=self.pool.id,
            client_id=self.client.id,
            issuer_url=f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool.id}",
            application_arn=None if self.empty else self.app_arn,
            bearer_role_arn=None,
            empty=self.empty,
            broker_access_key=self.principals["broker"].access_key,
            broker_secret_key=self.principals["broker"].secret_key,
            admin_access_key=self.principals["admin"].access_key,
            admin_secret_key=self.principals["admin"].secret_key,
        )

    def _directory(self) -> None:
        """Create the Cognito users and (unless empty) the matching Identity Store users and groups."""
        store = identitystore_backends[self.account][self.region]
        store_id = self.ic.identity_store_id
        for group in [] if self.empty else self.data.get("groups") or []:
            name = str(group["name"] if isinstance(group, dict) else group)
            group_id, _ = store.create_group(store_id, name, f"{name} group")
            self.seeded.group_ids[name] = group_id
        for user in self.data.get("users") or []:
            username, email, password = str(user["username"]), str(user["email"]), str(user["password"])
            groups = [] if self.empty else [str(g) for g in user.get("groups") or []]
            user_id = None if self.empty else self._identity_store_user(store, user, groups)
            attributes = [
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "preferred_username", "Value": username},
            ]
            self.cognito.admin_create_user(self.pool.id, username, "SUPPRESS", password, attributes)
            self.cognito.admin_set_user_password(self.pool.id, username, password, True)
            self.seeded.users.append(SeededUser(username, email, password, user_id, groups))

    def _identity_store_user(self, store: Any, user: dict[str, Any], groups: list[str]) -> str:
        username, email = str(user["username"]), str(user["email"])
        given = str(user.get("given_name", username.capitalize()))
        family = str(user.get("family_name", "Example"))
        emails = [{"Value": email, "Type": "work", "Primary": True}]
        full_name = {"GivenName": given, "FamilyName": family}
        store_id = self.ic.identity_store_id
        user_id, _ = store.create_user(
            store_id, username, full_name, f"{given} {family}", "", "", emails, [], [], "", "", "", "", ""
        )
        self.user_ids[username] = user_id
        for g in groups:
            if g not in self.seeded.group_ids:
                raise ScenarioError(f"user {username}: unknown group {g}")
            store.create_group_membership(store_id, self.seeded.group_ids[g], {"UserId": user_id})
        return str(user_id)

    def _application(self, app_id: str) -> None:
        """Create the trusted token issuer and the application with its grants, actor policy and scopes."""
        app_spec = self.data.get("application") or {}
        tti_spec = app_spec.get("trusted_token_issuer") or {}
        pool_url = f"{self.state.endpoint_url}/{self.pool.id}"
        issuer = token_issuers.create_issuer(
            self.state,
            instance_arn=self.ic.instance_arn,
            name=str(tti_spec.get("name", "cognito")),
            issuer_url=str(tti_spec.get("issuer_url") or self.seeded.issuer_url),
            claim_attribute_path=str(tti_spec.get("claim", "email")),
            identity_store_attribute_path=str(tti_spec.get("identity_store_attribute", "emails.value")),
            discovery=tti_spec.get("discovery_url") or f"{pool_url}/.well-known/openid-configuration",
            jwks_url=tti_spec.get("jwks_url"),
        )
        audiences = [str(a) for a in tti_spec.get("authorized_audiences") or [self.client.id]]
        app = applications.create_application(
            self.state,
            instance_arn=self.ic.instance_arn,
            name=str(app_spec.get("name", "tip-broker")),
            application_id=app_id,
        )
        jwt_bearer = {
            "AuthorizedTokenIssuers": [
                {"TrustedTokenIssuerArn": issuer.arn, "AuthorizedAudiences": audiences}
            ]
        }
        applications.put_grant(self.state, app.arn, applications.JWT_BEARER, {"JwtBearer": jwt_bearer})
        if app_spec.get("refresh_token", True):
            applications.put_grant(self.state, app.arn, "refresh_token", {"RefreshToken": {}})
        actors = app_spec.get("actor_principals")
        principals = [str(a) for a in actors] if actors is not None else [self.principals["broker"].arn]
        policy = applications.actor_policy(principals)
        applications.put_actor_policy(self.state, app.arn, "IAM", {"Iam": {"ActorPolicy": policy}})
        for scope in app_spec.get("scopes") or ["s3:access_grants:read_write"]:
            applications.put_scope(self.state, app.arn, str(scope))
        # A scenario's application lets every identity-store user in unless it says otherwise; one
        # created through CreateApplication requires assignments, AWS's default.
        applications.set_assignment_required(
            self.state, app.arn, bool(app_spec.get("assignment_required", False))
        )
        app.refresh_identity_context = bool(app_spec.get("refresh_identity_context", True))

    def _roles(self) -> None:
        """Create IAM roles (the identity-bearer role, the location roles) and their inline policies."""
        for role in self.data.get("roles") or []:
            name = str(role["name"])
            trust = role.get("trust_policy") or {}
            max_duration = int(role.get("max_session_duration", 3600))
            description = str(role.get("description", ""))
            moto_role = self.iam.create_role(
                name, json.dumps(trust), "/", None, description, [], str(max_duration)
            )
            for policy in role.get("policies") or []:
                self.iam.put_role_policy(name, str(policy["name"]), json.dumps(policy["document"]))
            arn = str(moto_role.arn)
            self.role_arns[name] = arn
            if role.get("identity_bearer"):
                self.seeded.bearer_role_arn = arn

    def _storage(self) -> None:
        """Create S3 buckets and objects in moto's storage."""
        s3 = s3_backends[self.account]["aws"]
        for bucket in self.data.get("buckets") or []:
            # Optional per bucket: the region it lives in and the account owning it (storage is shared).
            s3.create_bucket(str(bucket["name"]), str(bucket.get("region") or self.region))
            if bucket.get("account"):
                self.state.bucket_owners[str(bucket["name"])] = str(bucket["account"])
            for key, body in (bucket.get("objects") or {}).items():
                s3.put_object(str(bucket["name"]), str(key), str(body).encode())

    def _access_grants(self) -> None:
        """Create the Access Grants instances (one mapping, or a list of them), locations and grants."""
        scenario_grants.seed_access_grants(
            self.access_grants.store,
            self.data.get("access_grants"),
            scenario_grants.Names(
                account=self.account,
                region=self.region,
                identity_center_arn=self.ic.instance_arn,
                application_arn=self.app_arn,
                user_ids=self.user_ids,
                group_ids=self.seeded.group_ids,
                role_arns=self.role_arns,
                principals=self.principals,
            ),
        )
