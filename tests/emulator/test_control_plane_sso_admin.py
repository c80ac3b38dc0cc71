"""sso-admin through boto3 against the emulator: instance, applications, grants, authentication method,
assignments, access scopes, trusted token issuers and tags, with AWS's errors."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

CUSTOM = "arn:aws:sso::aws:applicationProvider/custom"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACTOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:user/tip-broker"},
            "Action": "sso-oauth:CreateTokenWithIAM",
            "Resource": "*",
        }
    ],
}


@pytest.fixture(scope="module")
def sso(admin: Any, client_for: Callable[..., Any]) -> Any:
    return client_for(admin, "sso-admin")


@pytest.fixture(scope="module")
def instance_arn(config: dict[str, Any]) -> str:
    return str(config["identity_center"]["instance_arn"])


@pytest.fixture
def app(sso: Any, instance_arn: str) -> Iterator[str]:
    """A fresh customer-managed application, deleted afterwards."""
    arn = sso.create_application(
        InstanceArn=instance_arn, ApplicationProviderArn=CUSTOM, Name=f"app-{uuid.uuid4().hex[:8]}"
    )["ApplicationArn"]
    yield arn
    with contextlib.suppress(sso.exceptions.ResourceNotFoundException):
        sso.delete_application(ApplicationArn=arn)


@pytest.fixture
def issuer(sso: Any, instance_arn: str) -> Iterator[str]:
    """A fresh OIDC JWT trusted token issuer, deleted afterwards."""
    arn = sso.create_trusted_token_issuer(
        InstanceArn=instance_arn,
        Name=f"tti-{uuid.uuid4().hex[:8]}",
        TrustedTokenIssuerType="OIDC_JWT",
        TrustedTokenIssuerConfiguration={
            "OidcJwtConfiguration": {
                "IssuerUrl": f"https://idp.example.com/{uuid.uuid4().hex[:8]}",
                "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
            }
        },
    )["TrustedTokenIssuerArn"]
    yield arn
    with contextlib.suppress(sso.exceptions.ResourceNotFoundException):
        sso.delete_trusted_token_issuer(TrustedTokenIssuerArn=arn)


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_list_instances_names_the_identity_center_instance_and_store(
    sso: Any, config: dict[str, Any], instance_arn: str
) -> None:
    instances = sso.list_instances()["Instances"]

    assert [(i["InstanceArn"], i["IdentityStoreId"], i["Status"]) for i in instances] == [
        (instance_arn, config["identity_center"]["identity_store_id"], "ACTIVE")
    ]
    assert sso.describe_instance(InstanceArn=instance_arn)["OwnerAccountId"] == config["account_id"]


def test_create_application_is_described_listed_updated_and_deleted(sso: Any, instance_arn: str) -> None:
    arn = sso.create_application(
        InstanceArn=instance_arn,
        ApplicationProviderArn=CUSTOM,
        Name="lifecycle-app",
        Description="first",
        Tags=[{"Key": "owner", "Value": "setup"}],
    )["ApplicationArn"]

    described = sso.describe_application(ApplicationArn=arn)
    assert (described["Name"], described["Status"], described["Description"]) == (
        "lifecycle-app",
        "ENABLED",
        "first",
    )
    assert described["ApplicationProviderArn"] == CUSTOM
    assert arn in [
        a["ApplicationArn"] for a in sso.list_applications(InstanceArn=instance_arn)["Applications"]
    ]
    assert sso.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": "setup"}]

    sso.update_application(ApplicationArn=arn, Status="DISABLED", Description="second")
    assert sso.describe_application(ApplicationArn=arn)["Status"] == "DISABLED"

    sso.delete_application(ApplicationArn=arn)
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.describe_application(ApplicationArn=arn)
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.list_tags_for_resource(ResourceArn=arn)


def test_create_application_refuses_a_duplicate_name(sso: Any, instance_arn: str, app: str) -> None:
    name = sso.describe_application(ApplicationArn=app)["Name"]

    with pytest.raises(sso.exceptions.ConflictException):
        sso.create_application(InstanceArn=instance_arn, ApplicationProviderArn=CUSTOM, Name=name)


def test_create_application_refuses_an_unknown_instance_and_a_non_custom_provider(
    sso: Any, instance_arn: str
) -> None:
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.create_application(
            InstanceArn="arn:aws:sso:::instance/ssoins-0000000000000000",
            ApplicationProviderArn=CUSTOM,
            Name="x",
        )
    with pytest.raises(sso.exceptions.ValidationException):
        sso.create_application(
            InstanceArn=instance_arn,
            ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/catalog/other",
            Name="x",
        )


def test_list_applications_pages_with_max_results(sso: Any, instance_arn: str, app: str) -> None:
    first = sso.list_applications(InstanceArn=instance_arn, MaxResults=1)
    second = sso.list_applications(InstanceArn=instance_arn, MaxResults=1, NextToken=first["NextToken"])
    everything = sso.get_paginator("list_applications").paginate(InstanceArn=instance_arn).build_full_result()

    assert len(first["Applications"]) == len(second["Applications"]) == 1
    assert first["Applications"][0]["ApplicationArn"] != second["Applications"][0]["ApplicationArn"]
    assert app in [a["ApplicationArn"] for a in everything["Applications"]]


def test_jwt_bearer_and_refresh_token_grants_round_trip(sso: Any, app: str, issuer: str) -> None:
    grant = {
        "JwtBearer": {
            "AuthorizedTokenIssuers": [{"TrustedTokenIssuerArn": issuer, "AuthorizedAudiences": ["aud-1"]}]
        }
    }
    sso.put_application_grant(ApplicationArn=app, GrantType=JWT_BEARER, Grant=grant)
    sso.put_application_grant(ApplicationArn=app, GrantType="refresh_token", Grant={"RefreshToken": {}})

    assert sso.get_application_grant(ApplicationArn=app, GrantType=JWT_BEARER)["Grant"] == grant
    listed = sso.list_application_grants(ApplicationArn=app)["Grants"]
    assert {g["GrantType"] for g in listed} == {JWT_BEARER, "refresh_token"}

    sso.delete_application_grant(ApplicationArn=app, GrantType="refresh_token")
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.get_application_grant(ApplicationArn=app, GrantType="refresh_token")


def test_put_application_grant_refuses_unknown_issuer_and_mismatched_union(sso: Any, app: str) -> None:
    unknown = "arn:aws:sso::111122223333:trustedTokenIssuer/ssoins-7223a8b2c0f1e9d4/tti-unknown"
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.put_application_grant(
            ApplicationArn=app,
            GrantType=JWT_BEARER,
            Grant={
                "JwtBearer": {
                    "AuthorizedTokenIssuers": [
                        {"TrustedTokenIssuerArn": unknown, "AuthorizedAudiences": ["a"]}
                    ]
                }
            },
        )
    with pytest.raises(sso.exceptions.ValidationException):
        sso.put_application_grant(ApplicationArn=app, GrantType=JWT_BEARER, Grant={"RefreshToken": {}})


def test_grant_operations_on_an_unknown_application_are_not_found(sso: Any, instance_arn: str) -> None:
    missing = (
        instance_arn.replace(":sso:::instance/", ":sso::111122223333:application/") + "/apl-0000000000000000"
    )
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.list_application_grants(ApplicationArn=missing)


def test_iam_authentication_method_round_trips_the_actor_policy(sso: Any, app: str) -> None:
    method = {"Iam": {"ActorPolicy": ACTOR_POLICY}}
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.get_application_authentication_method(ApplicationArn=app, AuthenticationMethodType="IAM")

    sso.put_application_authentication_method(
        ApplicationArn=app, AuthenticationMethodType="IAM", AuthenticationMethod=method
    )

    got = sso.get_application_authentication_method(ApplicationArn=app, AuthenticationMethodType="IAM")
    assert got["AuthenticationMethod"] == method
    listed = sso.list_application_authentication_methods(ApplicationArn=app)["AuthenticationMethods"]
    assert listed == [{"AuthenticationMethodType": "IAM", "AuthenticationMethod": method}]
    sso.delete_application_authentication_method(ApplicationArn=app, AuthenticationMethodType="IAM")
    assert sso.list_application_authentication_methods(ApplicationArn=app)["AuthenticationMethods"] == []


def test_a_new_application_requires_assignments_until_configured_otherwise(sso: Any, app: str) -> None:
    assert sso.get_application_assignment_configuration(ApplicationArn=app)["AssignmentRequired"] is True

    sso.put_application_assignment_configuration(ApplicationArn=app, AssignmentRequired=False)

    assert sso.get_application_assignment_configuration(ApplicationArn=app)["AssignmentRequired"] is False


def test_application_assignments_for_users_and_groups(sso: Any, app: str, config: dict[str, Any]) -> None:
    alice = next(u["idc_user_id"] for u in config["users"] if u["username"] == "alice")
    engineering = config["groups"]["engineering"]
    sso.create_application_assignment(ApplicationArn=app, PrincipalId=alice, PrincipalType="USER")
    sso.create_application_assignment(ApplicationArn=app, PrincipalId=engineering, PrincipalType="GROUP")

    described = sso.describe_application_assignment(
        ApplicationArn=app, PrincipalId=alice, PrincipalType="USER"
    )
    listed = sso.list_application_assignments(ApplicationArn=app)["ApplicationAssignments"]
    assert (described["PrincipalId"], described["PrincipalType"]) == (alice, "USER")
    assert {(a["PrincipalType"], a["PrincipalId"]) for a in listed} == {
        ("USER", alice),
        ("GROUP", engineering),
    }
    with pytest.raises(sso.exceptions.ConflictException):
        sso.create_application_assignment(ApplicationArn=app, PrincipalId=alice, PrincipalType="USER")

    sso.delete_application_assignment(ApplicationArn=app, PrincipalId=alice, PrincipalType="USER")
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.describe_application_assignment(ApplicationArn=app, PrincipalId=alice, PrincipalType="USER")


def test_application_assignment_refuses_a_principal_not_in_the_identity_store(sso: Any, app: str) -> None:
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.create_application_assignment(
            ApplicationArn=app, PrincipalId=str(uuid.uuid4()), PrincipalType="USER"
        )
    with pytest.raises(sso.exceptions.ValidationException):
        sso.create_application_assignment(ApplicationArn=app, PrincipalId="not-an-id", PrincipalType="USER")


def test_access_scopes_with_authorized_targets(sso: Any, app: str) -> None:
    sso.put_application_access_scope(
        ApplicationArn=app, Scope="s3:access_grants:read_only", AuthorizedTargets=[app]
    )

    got = sso.get_application_access_scope(ApplicationArn=app, Scope="s3:access_grants:read_only")
    assert got == {
        "Scope": "s3:access_grants:read_only",
        "AuthorizedTargets": [app],
        "ResponseMetadata": got["ResponseMetadata"],
    }
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.get_application_access_scope(ApplicationArn=app, Scope="s3:access_grants:read_write")
    with pytest.raises(sso.exceptions.ValidationException):
        sso.put_application_access_scope(ApplicationArn=app, Scope="not a scope")


def test_trusted_token_issuer_is_described_listed_updated_and_deleted(
    sso: Any, instance_arn: str, issuer: str
) -> None:
    described = sso.describe_trusted_token_issuer(TrustedTokenIssuerArn=issuer)
    config = described["TrustedTokenIssuerConfiguration"]["OidcJwtConfiguration"]
    assert described["TrustedTokenIssuerType"] == "OIDC_JWT"
    assert (config["ClaimAttributePath"], config["IdentityStoreAttributePath"]) == ("email", "emails.value")
    listed = sso.list_trusted_token_issuers(InstanceArn=instance_arn)["TrustedTokenIssuers"]
    assert issuer in [i["TrustedTokenIssuerArn"] for i in listed]

    sso.update_trusted_token_issuer(
        TrustedTokenIssuerArn=issuer,
        Name="renamed-issuer",
        TrustedTokenIssuerConfiguration={
            "OidcJwtConfiguration": {
                "ClaimAttributePath": "preferred_username",
                "IdentityStoreAttributePath": "userName",
            }
        },
    )
    updated = sso.describe_trusted_token_issuer(TrustedTokenIssuerArn=issuer)
    assert updated["Name"] == "renamed-issuer"
    assert (
        updated["TrustedTokenIssuerConfiguration"]["OidcJwtConfiguration"]["IdentityStoreAttributePath"]
        == "userName"
    )

    sso.delete_trusted_token_issuer(TrustedTokenIssuerArn=issuer)
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.describe_trusted_token_issuer(TrustedTokenIssuerArn=issuer)


def test_trusted_token_issuer_names_and_issuer_urls_are_unique(
    sso: Any, instance_arn: str, issuer: str
) -> None:
    described = sso.describe_trusted_token_issuer(TrustedTokenIssuerArn=issuer)
    url = described["TrustedTokenIssuerConfiguration"]["OidcJwtConfiguration"]["IssuerUrl"]

    def create(name: str, issuer_url: str) -> None:
        sso.create_trusted_token_issuer(
            InstanceArn=instance_arn,
            Name=name,
            TrustedTokenIssuerType="OIDC_JWT",
            TrustedTokenIssuerConfiguration={
                "OidcJwtConfiguration": {
                    "IssuerUrl": issuer_url,
                    "ClaimAttributePath": "email",
                    "IdentityStoreAttributePath": "emails.value",
                    "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                }
            },
        )

    with pytest.raises(sso.exceptions.ConflictException):
        create(described["Name"], "https://other.example.com")
    with pytest.raises(sso.exceptions.ConflictException):
        create("another-name", url)
    with pytest.raises(sso.exceptions.ValidationException):
        sso.update_trusted_token_issuer(
            TrustedTokenIssuerArn=issuer,
            TrustedTokenIssuerConfiguration={
                "OidcJwtConfiguration": {"ClaimAttributePath": "cognito:username"}
            },
        )


def test_tags_on_applications_and_issuers(sso: Any, app: str, issuer: str) -> None:
    for arn in (app, issuer):
        sso.tag_resource(
            ResourceArn=arn, Tags=[{"Key": "managed-by", "Value": "tip-setup"}, {"Key": "x", "Value": "1"}]
        )
        sso.untag_resource(ResourceArn=arn, TagKeys=["x"])
        assert sso.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
            {"Key": "managed-by", "Value": "tip-setup"}
        ]

    with pytest.raises(sso.exceptions.ValidationException):
        sso.tag_resource(ResourceArn=app, Tags=[{"Key": "aws:reserved", "Value": "no"}])


def test_tagging_an_unknown_resource_is_not_found(sso: Any, app: str) -> None:
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.tag_resource(ResourceArn=app[:-4] + "zzzz", Tags=[{"Key": "k", "Value": "v"}])


def test_sso_admin_needs_the_callers_identity_policy(
    broker: Any, client_for: Callable[..., Any], instance_arn: str
) -> None:
    with pytest.raises(ClientError) as refused:
        client_for(broker, "sso-admin").list_applications(InstanceArn=instance_arn)

    assert _code(refused) == "AccessDeniedException"
    assert "is not authorized to perform: sso:ListApplications" in refused.value.response["Error"]["Message"]
