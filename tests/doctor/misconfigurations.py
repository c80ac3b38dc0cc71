"""Misconfigurations an operator can make, each introduced through boto3 as the administrator, each
returning the function that puts the good setup back; and the doctor check id that must name it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.doctor.conftest import Setup

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
BEARER_ROLE = "tip-identity-bearer"
LOCATION_ROLE = "s3-access-grants-location"
Restore = Callable[[], None]


@dataclass(frozen=True)
class Case:
    """A misconfiguration, the doctor's finding for it, and how to make it."""

    name: str
    check_id: str
    make: Callable[[Setup], Restore]
    status: str = "FAIL"
    user: str = "alice"
    env: dict[str, str] = field(default_factory=dict)


def _app(setup: Setup) -> str:
    return setup.broker_env["BROKER_IDC_APPLICATION_ARN"]


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def remove_access_scope(setup: Setup) -> Restore:
    sso = setup.client("sso-admin")
    sso.delete_application_access_scope(ApplicationArn=_app(setup), Scope="s3:access_grants:read_write")
    return lambda: sso.put_application_access_scope(
        ApplicationArn=_app(setup), Scope="s3:access_grants:read_write"
    )


def _replace_jwt_grant(setup: Setup, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Restore:
    sso = setup.client("sso-admin")
    grant = sso.get_application_grant(ApplicationArn=_app(setup), GrantType=JWT_BEARER)["Grant"]
    sso.put_application_grant(
        ApplicationArn=_app(setup), GrantType=JWT_BEARER, Grant=change(json.loads(json.dumps(grant)))
    )
    return lambda: sso.put_application_grant(ApplicationArn=_app(setup), GrantType=JWT_BEARER, Grant=grant)


def change_audience(setup: Setup) -> Restore:
    def other_audience(grant: dict[str, Any]) -> dict[str, Any]:
        for issuer in grant["JwtBearer"]["AuthorizedTokenIssuers"]:
            issuer["AuthorizedAudiences"] = ["another-client-id"]
        return grant

    return _replace_jwt_grant(setup, other_audience)


def change_issuer_url(setup: Setup) -> Restore:
    # IssuerUrl cannot be updated (AWS's model): the grant is pointed at an issuer with another URL.
    sso = setup.client("sso-admin")
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    created = sso.create_trusted_token_issuer(
        InstanceArn=instance,
        Name="another-issuer",
        TrustedTokenIssuerType="OIDC_JWT",
        TrustedTokenIssuerConfiguration={
            "OidcJwtConfiguration": {
                "IssuerUrl": "https://issuer.example.com/another",
                "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
            }
        },
    )["TrustedTokenIssuerArn"]

    def other_issuer(grant: dict[str, Any]) -> dict[str, Any]:
        for issuer in grant["JwtBearer"]["AuthorizedTokenIssuers"]:
            issuer["TrustedTokenIssuerArn"] = created
        return grant

    restore_grant = _replace_jwt_grant(setup, other_issuer)

    def restore() -> None:
        restore_grant()
        sso.delete_trusted_token_issuer(TrustedTokenIssuerArn=created)

    return restore


def _replace_trust(setup: Setup, role: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Restore:
    iam = setup.client("iam")
    original = _document(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(change(json.loads(original))))
    return lambda: iam.update_assume_role_policy(RoleName=role, PolicyDocument=original)


def remove_set_context(setup: Setup) -> Restore:
    def without_set_context(document: dict[str, Any]) -> dict[str, Any]:
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if a != "sts:SetContext"]
        return document

    return _replace_trust(setup, BEARER_ROLE, without_set_context)


def break_location_trust(setup: Setup) -> Restore:
    def trusting_ec2(document: dict[str, Any]) -> dict[str, Any]:
        for statement in document["Statement"]:
            statement["Principal"] = {"Service": "ec2.amazonaws.com"}
        return document

    return _replace_trust(setup, LOCATION_ROLE, trusting_ec2)


def remove_get_data_access(setup: Setup) -> Restore:
    """Take s3:GetDataAccess out of every inline policy of the identity-bearer role."""
    iam = setup.client("iam")
    names = iam.list_role_policies(RoleName=BEARER_ROLE)["PolicyNames"]
    originals = {
        name: _document(iam.get_role_policy(RoleName=BEARER_ROLE, PolicyName=name)["PolicyDocument"])
        for name in names
    }
    assert originals, "the identity-bearer role has no inline policy"
    for name, original in originals.items():
        document = json.loads(original)
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if a != "s3:GetDataAccess"]
        iam.put_role_policy(RoleName=BEARER_ROLE, PolicyName=name, PolicyDocument=json.dumps(document))

    def restore() -> None:
        for name, original in originals.items():
            iam.put_role_policy(RoleName=BEARER_ROLE, PolicyName=name, PolicyDocument=original)

    return restore


def remove_broker_from_actor_policy(setup: Setup) -> Restore:
    sso = setup.client("sso-admin")
    method = sso.get_application_authentication_method(
        ApplicationArn=_app(setup), AuthenticationMethodType="IAM"
    )["AuthenticationMethod"]
    someone_else = {
        "Iam": {
            "ActorPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{setup.config['account_id']}:role/someone-else"},
                        "Action": "sso-oauth:CreateTokenWithIAM",
                        "Resource": "*",
                    }
                ],
            }
        }
    }
    arguments = {"ApplicationArn": _app(setup), "AuthenticationMethodType": "IAM"}
    sso.put_application_authentication_method(**arguments, AuthenticationMethod=someone_else)
    return lambda: sso.put_application_authentication_method(**arguments, AuthenticationMethod=method)


def disable_application(setup: Setup) -> Restore:
    sso = setup.client("sso-admin")
    sso.update_application(ApplicationArn=_app(setup), Status="DISABLED")
    return lambda: sso.update_application(ApplicationArn=_app(setup), Status="ENABLED")


def delete_only_grants(setup: Setup) -> Restore:
    """Delete carol's one grant and her group's (finance): she is left with none."""
    s3control = setup.client("s3control")
    account = setup.config["account_id"]
    holders = {setup.user_id("carol"), setup.group_id("finance")}
    grants = s3control.list_access_grants(AccountId=account)["AccessGrantsList"]
    doomed = [g for g in grants if g["Grantee"]["GranteeIdentifier"] in holders]
    assert len(doomed) == 2, doomed
    for grant in doomed:
        s3control.delete_access_grant(AccountId=account, AccessGrantId=grant["AccessGrantId"])

    def restore() -> None:
        for grant in doomed:
            s3control.create_access_grant(
                AccountId=account,
                AccessGrantsLocationId=grant["AccessGrantsLocationId"],
                AccessGrantsLocationConfiguration=grant["AccessGrantsLocationConfiguration"],
                Grantee=grant["Grantee"],
                Permission=grant["Permission"],
                # A scope without a trailing * is an object grant (the list does not say so itself).
                **({} if grant["GrantScope"].endswith("*") else {"S3PrefixType": "Object"}),
            )

    return restore


def dissociate_identity_center(setup: Setup) -> Restore:
    s3control = setup.client("s3control")
    account = setup.config["account_id"]
    instance = s3control.get_access_grants_instance(AccountId=account)
    s3control.dissociate_access_grants_identity_center(AccountId=account)
    return lambda: s3control.associate_access_grants_identity_center(
        AccountId=account, IdentityCenterArn=instance["IdentityCenterArn"]
    )


def _issuer_arn(setup: Setup) -> str:
    grant = setup.client("sso-admin").get_application_grant(ApplicationArn=_app(setup), GrantType=JWT_BEARER)
    return str(grant["Grant"]["JwtBearer"]["AuthorizedTokenIssuers"][0]["TrustedTokenIssuerArn"])


def map_claim_to_unused_attribute(setup: Setup) -> Restore:
    sso = setup.client("sso-admin")
    arn = _issuer_arn(setup)

    def mapped_to(path: str) -> None:
        sso.update_trusted_token_issuer(
            TrustedTokenIssuerArn=arn,
            TrustedTokenIssuerConfiguration={"OidcJwtConfiguration": {"IdentityStoreAttributePath": path}},
        )

    mapped_to("userName")  # the token's email is no user's userName
    return lambda: mapped_to("emails.value")


def remove_refresh_token_grant(setup: Setup) -> Restore:
    sso = setup.client("sso-admin")
    sso.delete_application_grant(ApplicationArn=_app(setup), GrantType="refresh_token")
    return lambda: sso.put_application_grant(
        ApplicationArn=_app(setup), GrantType="refresh_token", Grant={"RefreshToken": {}}
    )


def require_assignment(setup: Setup) -> Restore:
    sso = setup.client("sso-admin")
    sso.put_application_assignment_configuration(ApplicationArn=_app(setup), AssignmentRequired=True)
    return lambda: sso.put_application_assignment_configuration(
        ApplicationArn=_app(setup), AssignmentRequired=False
    )


def nothing(_: Setup) -> Restore:
    return lambda: None


WRONG_APPLICATION = "arn:aws:sso::111122223333:application/ssoins-7223a8b2c0f1e9d4/apl-0000000000000000"

CASES = [
    Case("access scope removed", "application.access_scope", remove_access_scope),
    Case("audience changed", "issuer.audience", change_audience),
    Case("issuer URL changed", "issuer.url", change_issuer_url),
    Case("sts:SetContext removed from the trust policy", "role.trust.set_context", remove_set_context),
    Case(
        "s3:GetDataAccess removed from the role policy", "role.policy.get_data_access", remove_get_data_access
    ),
    Case(
        "broker principal removed from the authentication method",
        "application.authentication_method",
        remove_broker_from_actor_policy,
    ),
    Case("application disabled", "application.enabled", disable_application),
    Case("the user's only grants deleted", "user.grants", delete_only_grants, user="carol"),
    Case(
        "Identity Center association removed", "grants.instance.identity_center", dissociate_identity_center
    ),
    Case("claim mapped to an attribute no user has", "user.identity_store", map_claim_to_unused_attribute),
    Case(
        "refresh_token grant removed", "application.grant.refresh_token", remove_refresh_token_grant, "WARN"
    ),
    Case("location role trust broken", "grants.location.role_trust", break_location_trust),
    Case("assignment required, user unassigned", "user.assignment", require_assignment),
    Case(
        "wrong BROKER_IDC_APPLICATION_ARN",
        "application.exists",
        nothing,
        env={"BROKER_IDC_APPLICATION_ARN": WRONG_APPLICATION},
    ),
]
