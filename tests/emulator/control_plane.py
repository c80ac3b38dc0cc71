"""Set up, through boto3 only, everything the TIP chain needs for one user on an `--empty` emulator, and
run the chain: CreateTokenWithIAM → AssumeRole with ProvidedContexts → GetDataAccess."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDC_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
CUSTOM = "arn:aws:sso::aws:applicationProvider/custom"
OWNED = [{"Key": "managed-by", "Value": "tip-setup"}]
Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Provisioned:
    """What the setup created: the ARNs and ids a test needs."""

    instance_arn: str
    identity_store_id: str
    issuer_arn: str
    application_arn: str
    user_id: str
    group_id: str
    bearer_role_arn: str
    location_id: str
    grant_id: str
    broker_arn: str


def actor_policy(*principals: str) -> dict[str, Any]:
    """Return an ActorPolicy letting ``principals`` call CreateTokenWithIAM."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": list(principals)},
                "Action": "sso-oauth:CreateTokenWithIAM",
                "Resource": "*",
            }
        ],
    }


def jwt_bearer_grant(issuer_arn: str, *audiences: str) -> dict[str, Any]:
    """Return a JwtBearer grant authorizing ``audiences`` of one trusted token issuer."""
    issuers = [{"TrustedTokenIssuerArn": issuer_arn, "AuthorizedAudiences": list(audiences)}]
    return {"JwtBearer": {"AuthorizedTokenIssuers": issuers}}


def provision(admin: Clients, broker: Clients, config: dict[str, Any], username: str) -> Provisioned:
    """Create issuer, application (grants, scope, actor policy, group assignment), the user and a group in
    the identity store, the bearer and location roles, the Access Grants instance, a location and a grant."""
    sso, ids, iam, s3control = admin("sso-admin"), admin("identitystore"), admin("iam"), admin("s3control")
    broker_arn = str(broker("sts").get_caller_identity()["Arn"])
    instance = sso.list_instances()["Instances"][0]
    instance_arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    issuer_arn = sso.create_trusted_token_issuer(
        InstanceArn=instance_arn,
        Name="cognito",
        TrustedTokenIssuerType="OIDC_JWT",
        TrustedTokenIssuerConfiguration={
            "OidcJwtConfiguration": {
                "IssuerUrl": config["broker_env"]["BROKER_OIDC_ISSUER"],
                "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
            }
        },
        Tags=OWNED,
    )["TrustedTokenIssuerArn"]
    app_arn = sso.create_application(
        InstanceArn=instance_arn, ApplicationProviderArn=CUSTOM, Name="tip-broker", Tags=OWNED
    )["ApplicationArn"]
    grant = jwt_bearer_grant(issuer_arn, config["cognito"]["client_id"])
    sso.put_application_grant(ApplicationArn=app_arn, GrantType=JWT_BEARER, Grant=grant)
    sso.put_application_grant(ApplicationArn=app_arn, GrantType="refresh_token", Grant={"RefreshToken": {}})
    sso.put_application_access_scope(ApplicationArn=app_arn, Scope="s3:access_grants:read_write")
    sso.put_application_authentication_method(
        ApplicationArn=app_arn,
        AuthenticationMethodType="IAM",
        AuthenticationMethod={"Iam": {"ActorPolicy": actor_policy(broker_arn)}},
    )
    user = next(u for u in config["users"] if u["username"] == username)
    user_id = ids.create_user(
        IdentityStoreId=store_id,
        UserName=username,
        DisplayName=username.capitalize(),
        Name={"GivenName": username.capitalize(), "FamilyName": "Example"},
        Emails=[{"Value": user["email"], "Type": "work", "Primary": True}],
    )["UserId"]
    group_id = ids.create_group(IdentityStoreId=store_id, DisplayName="tip-users")["GroupId"]
    ids.create_group_membership(IdentityStoreId=store_id, GroupId=group_id, MemberId={"UserId": user_id})
    # A new application requires assignments (AWS's default): assign the group, not the user.
    sso.create_application_assignment(ApplicationArn=app_arn, PrincipalId=group_id, PrincipalType="GROUP")
    bearer_role_arn = _role(
        iam,
        "tip-identity-bearer",
        {"AWS": broker_arn},
        ["sts:AssumeRole", "sts:SetContext"],
        ["s3:GetDataAccess", "s3:ListCallerAccessGrants", "s3:GetAccessGrantsInstanceForPrefix"],
    )
    location_role_arn = _role(
        iam,
        "tip-access-grants-location",
        {"Service": "access-grants.s3.amazonaws.com"},
        ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:SetContext"],
        ["s3:GetObject", "s3:PutObject"],
    )
    account = config["account_id"]
    s3control.create_access_grants_instance(AccountId=account, IdentityCenterArn=instance_arn, Tags=OWNED)
    location_id = s3control.create_access_grants_location(
        AccountId=account, LocationScope="s3://demo-data", IAMRoleArn=location_role_arn, Tags=OWNED
    )["AccessGrantsLocationId"]
    grant_id = s3control.create_access_grant(
        AccountId=account,
        AccessGrantsLocationId=location_id,
        AccessGrantsLocationConfiguration={"S3SubPrefix": f"users/{username}/*"},
        Grantee={"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": user_id},
        Permission="READWRITE",
        Tags=OWNED,
    )["AccessGrantId"]
    return Provisioned(
        instance_arn,
        store_id,
        issuer_arn,
        app_arn,
        user_id,
        group_id,
        bearer_role_arn,
        location_id,
        grant_id,
        broker_arn,
    )


def _role(iam: Any, name: str, principal: dict[str, str], trusted: list[str], allowed: list[str]) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": trusted}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=OWNED)["Role"][
        "Arn"
    ]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="tip", PolicyDocument=json.dumps(policy))
    return str(arn)


def identity_context(broker: Clients, provisioned: Provisioned, id_token: str) -> str:
    """Exchange an IdP ID token for the user's Identity Center identity context."""
    answer = broker("sso-oidc").create_token_with_iam(
        clientId=provisioned.application_arn, grantType=JWT_BEARER, assertion=id_token
    )
    return str(answer["awsAdditionalDetails"]["identityContext"])


def data_access(
    broker: Clients,
    session_clients: Callable[[dict[str, Any]], Clients],
    provisioned: Provisioned,
    account: str,
    id_token: str,
    target: str,
) -> dict[str, Any]:
    """Run the whole chain for ``target`` (READ) and return GetDataAccess's answer."""
    context = identity_context(broker, provisioned, id_token)
    credentials = broker("sts").assume_role(
        RoleArn=provisioned.bearer_role_arn,
        RoleSessionName="tip-e2e",
        ProvidedContexts=[{"ProviderArn": IDC_PROVIDER, "ContextAssertion": context}],
    )["Credentials"]
    answer: dict[str, Any] = session_clients(credentials)("s3control").get_data_access(
        AccountId=account, Target=target, Permission="READ"
    )
    return answer
