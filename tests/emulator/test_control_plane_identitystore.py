"""identitystore through boto3 (moto behind the emulator's checks): users, groups, memberships, AWS's
errors, and users created through the API as CreateTokenWithIAM and Access Grants see them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jose import jwt

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDC_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
PASSWORD = "Dave-Passw0rd!"


@pytest.fixture(scope="module")
def ids(admin: Any, client_for: Callable[..., Any]) -> Any:
    return client_for(admin, "identitystore")


@pytest.fixture(scope="module")
def store(config: dict[str, Any]) -> str:
    return str(config["identity_center"]["identity_store_id"])


def _create_user(ids: Any, store: str, name: str, email: str) -> str:
    return str(
        ids.create_user(
            IdentityStoreId=store,
            UserName=name,
            DisplayName=name.capitalize(),
            Name={"GivenName": name.capitalize(), "FamilyName": "Example"},
            Emails=[{"Value": email, "Type": "work", "Primary": True}],
        )["UserId"]
    )


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


def test_users_are_created_found_listed_described_and_deleted(ids: Any, store: str) -> None:
    user_id = _create_user(ids, store, "erin", "erin@example.com")

    by_email = ids.get_user_id(
        IdentityStoreId=store,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "emails.value", "AttributeValue": "erin@example.com"}
        },
    )
    by_name = ids.get_user_id(
        IdentityStoreId=store,
        AlternateIdentifier={"UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "erin"}},
    )
    listed = ids.list_users(
        IdentityStoreId=store, Filters=[{"AttributePath": "UserName", "AttributeValue": "erin"}]
    )
    assert by_email["UserId"] == by_name["UserId"] == user_id
    assert [u["UserId"] for u in listed["Users"]] == [user_id]
    assert (
        ids.describe_user(IdentityStoreId=store, UserId=user_id)["Emails"][0]["Value"] == "erin@example.com"
    )

    ids.delete_user(IdentityStoreId=store, UserId=user_id)
    assert (
        _code(lambda: ids.describe_user(IdentityStoreId=store, UserId=user_id)) == "ResourceNotFoundException"
    )
    assert (
        _code(lambda: ids.delete_user(IdentityStoreId=store, UserId=user_id)) == "ResourceNotFoundException"
    )


def test_create_user_refuses_a_duplicate_user_name(ids: Any, store: str) -> None:
    with pytest.raises(ids.exceptions.ConflictException) as refused:
        _create_user(ids, store, "alice", "other-alice@example.com")

    assert refused.value.response["Reason"] == "UNIQUENESS_CONSTRAINT_VIOLATION"


def test_an_unknown_identity_store_is_not_found(ids: Any) -> None:
    with pytest.raises(ids.exceptions.ResourceNotFoundException) as refused:
        ids.list_users(IdentityStoreId="d-0000000000")

    assert refused.value.response["ResourceType"] == "IDENTITY_STORE"


def test_groups_are_created_found_listed_and_deleted(ids: Any, store: str) -> None:
    group_id = ids.create_group(IdentityStoreId=store, DisplayName="auditors")["GroupId"]

    found = ids.get_group_id(
        IdentityStoreId=store,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": "auditors"}
        },
    )
    assert found["GroupId"] == group_id
    assert group_id in [g["GroupId"] for g in ids.list_groups(IdentityStoreId=store)["Groups"]]
    assert (
        _code(lambda: ids.create_group(IdentityStoreId=store, DisplayName="auditors")) == "ConflictException"
    )

    ids.delete_group(IdentityStoreId=store, GroupId=group_id)
    assert group_id not in [g["GroupId"] for g in ids.list_groups(IdentityStoreId=store)["Groups"]]
    assert (
        _code(lambda: ids.delete_group(IdentityStoreId=store, GroupId=group_id))
        == "ResourceNotFoundException"
    )


def test_memberships_are_created_listed_refused_twice_and_deleted(ids: Any, store: str) -> None:
    user_id = _create_user(ids, store, "frank", "frank@example.com")
    group_id = ids.create_group(IdentityStoreId=store, DisplayName="frank-team")["GroupId"]
    member = {"UserId": user_id}

    membership = ids.create_group_membership(IdentityStoreId=store, GroupId=group_id, MemberId=member)[
        "MembershipId"
    ]
    listed = ids.list_group_memberships(IdentityStoreId=store, GroupId=group_id)["GroupMemberships"]
    assert [(m["MembershipId"], m["MemberId"]["UserId"]) for m in listed] == [(membership, user_id)]
    twice = lambda: ids.create_group_membership(IdentityStoreId=store, GroupId=group_id, MemberId=member)  # noqa: E731
    assert _code(twice) == "ConflictException"

    ids.delete_group_membership(IdentityStoreId=store, MembershipId=membership)
    assert ids.list_group_memberships(IdentityStoreId=store, GroupId=group_id)["GroupMemberships"] == []
    gone = lambda: ids.delete_group_membership(IdentityStoreId=store, MembershipId=membership)  # noqa: E731
    assert _code(gone) == "ResourceNotFoundException"


def test_deleting_a_user_removes_its_memberships(ids: Any, store: str) -> None:
    user_id = _create_user(ids, store, "gina", "gina@example.com")
    group_id = ids.create_group(IdentityStoreId=store, DisplayName="gina-team")["GroupId"]
    ids.create_group_membership(IdentityStoreId=store, GroupId=group_id, MemberId={"UserId": user_id})

    ids.delete_user(IdentityStoreId=store, UserId=user_id)

    assert ids.list_group_memberships(IdentityStoreId=store, GroupId=group_id)["GroupMemberships"] == []


@pytest.fixture(scope="module")
def dave(
    admin: Any, client_for: Callable[..., Any], config: dict[str, Any], ids: Any, store: str
) -> dict[str, str]:
    """A user created through the APIs only: in Cognito (the IdP) and in the identity store."""
    idp = client_for(admin, "cognito-idp")
    pool = config["cognito"]["user_pool_id"]
    idp.admin_create_user(
        UserPoolId=pool,
        Username="dave",
        MessageAction="SUPPRESS",
        UserAttributes=[
            {"Name": "email", "Value": "dave@example.com"},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    idp.admin_set_user_password(UserPoolId=pool, Username="dave", Password=PASSWORD, Permanent=True)
    return {"user_id": _create_user(ids, store, "dave", "dave@example.com")}


def _dave_token(admin: Any, client_for: Callable[..., Any], config: dict[str, Any]) -> str:
    auth = client_for(admin, "cognito-idp").initiate_auth(
        ClientId=config["cognito"]["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "dave", "PASSWORD": PASSWORD},
    )
    return str(auth["AuthenticationResult"]["IdToken"])


def test_a_user_created_through_the_api_is_mapped_by_create_token_with_iam(
    dave: dict[str, str], admin: Any, broker: Any, client_for: Callable[..., Any], config: dict[str, Any]
) -> None:
    answer = client_for(broker, "sso-oidc").create_token_with_iam(
        clientId=config["broker_env"]["BROKER_IDC_APPLICATION_ARN"],
        grantType=JWT_BEARER,
        assertion=_dave_token(admin, client_for, config),
    )

    assert answer["awsAdditionalDetails"]["identityContext"]
    assert jwt.get_unverified_claims(answer["idToken"])["sub"] == dave["user_id"]


def test_group_membership_added_through_the_api_reaches_access_grants(
    dave: dict[str, str],
    admin: Any,
    broker: Any,
    client_for: Callable[..., Any],
    make_session: Any,
    config: dict[str, Any],
    ids: Any,
    store: str,
) -> None:
    engineering = config["groups"]["engineering"]
    target = "s3://demo-data/shared/engineering/design.md"

    def get_data_access() -> Any:
        context = client_for(broker, "sso-oidc").create_token_with_iam(
            clientId=config["broker_env"]["BROKER_IDC_APPLICATION_ARN"],
            grantType=JWT_BEARER,
            assertion=_dave_token(admin, client_for, config),
        )["awsAdditionalDetails"]["identityContext"]
        credentials = client_for(broker, "sts").assume_role(
            RoleArn=config["broker_env"]["BROKER_IDENTITY_BEARER_ROLE_ARN"],
            RoleSessionName="tip-dave",
            ProvidedContexts=[{"ProviderArn": IDC_PROVIDER, "ContextAssertion": context}],
        )["Credentials"]
        s3control = client_for(make_session(credentials), "s3control")
        return s3control.get_data_access(AccountId=config["account_id"], Target=target, Permission="READ")

    assert _code(get_data_access) == "AccessDenied"
    membership = ids.create_group_membership(
        IdentityStoreId=store, GroupId=engineering, MemberId={"UserId": dave["user_id"]}
    )["MembershipId"]
    try:
        granted = get_data_access()
    finally:
        ids.delete_group_membership(IdentityStoreId=store, MembershipId=membership)

    assert granted["Grantee"] == {"GranteeType": "DIRECTORY_GROUP", "GranteeIdentifier": engineering}
    assert _code(get_data_access) == "AccessDenied"
