"""`setup destroy` removes what the setup created and nothing else; interrupted runs converge."""

from __future__ import annotations

import json

import pytest

from tests.setup.conftest import Account

EMPTY = {
    "applications": [],
    "issuers": [],
    "users": [],
    "groups": [],
    "roles": [],
    "instances": [],
    "locations": [],
    "grants": [],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}],
}


def test_setup_destroy_leaves_the_account_empty_and_a_new_apply_works(account: Account) -> None:
    account.setup("apply")
    applied = account.inventory()

    destroyed = account.setup("destroy")
    after = account.inventory()
    again = account.setup("apply")

    assert destroyed.status == 0, destroyed.err
    assert destroyed.out.splitlines()[-1] == "Done: 23 changes."
    assert after == EMPTY
    assert again.status == 0, again.err
    assert account.inventory() == applied


def test_setup_destroy_keeps_resources_made_by_hand_with_similar_names(account: Account) -> None:
    account.setup("apply")
    sso, ids, iam = account.client("sso-admin"), account.client("identitystore"), account.client("iam")
    iam.create_role(
        RoleName="tip-identity-bearer-2",
        AssumeRolePolicyDocument=json.dumps(TRUST),
        Description="tip-broker setup demo: made by hand",
    )
    ids.create_user(
        IdentityStoreId=account.store_id,
        UserName="alice2",
        DisplayName="Alice Two",
        Name={"GivenName": "Alice", "FamilyName": "Two"},
        UserType="tip-broker:setup=demo2",
    )
    ids.create_group(
        IdentityStoreId=account.store_id, DisplayName="engineering-2", Description="[tip-broker:setup=x]"
    )
    sso.create_application(
        InstanceArn=account.instance_arn,
        ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/custom",
        Name="tip-broker-2",
        Tags=[{"Key": "tip-broker:setup", "Value": "demo-2"}],
    )

    result = account.setup("destroy")

    assert result.status == 0, result.err
    assert account.inventory() == {
        **EMPTY,
        "applications": ["tip-broker-2"],
        "users": ["alice2"],
        "groups": ["engineering-2"],
        "roles": ["tip-identity-bearer-2"],
    }


def test_setup_destroy_keeps_an_owned_location_holding_a_grant_made_by_hand(account: Account) -> None:
    account.setup("apply")
    s3c = account.client("s3control")
    locations = s3c.list_access_grants_locations(AccountId="111122223333", LocationScope="s3://demo-data")
    s3c.create_access_grant(
        AccountId="111122223333",
        AccessGrantsLocationId=locations["AccessGrantsLocationsList"][0]["AccessGrantsLocationId"],
        AccessGrantsLocationConfiguration={"S3SubPrefix": "hand/*"},
        Grantee={"GranteeType": "IAM", "GranteeIdentifier": "arn:aws:iam::111122223333:role/someone"},
        Permission="READ",
    )

    result = account.setup("destroy")

    assert result.status == 1
    assert (
        "    ! keep    location s3://demo-data: it holds grants this setup does not own"
        in result.out.splitlines()
    )
    assert "tip-broker setup: 3 resources kept (see '! keep' above): they are still in use" in result.err
    assert "    ! keep    IAM role s3-access-grants-location" in result.out
    found = account.inventory()
    assert found["grants"] == ["s3://demo-data/hand/*"]
    assert found["locations"] == ["s3://demo-data"]
    assert found["roles"] == ["s3-access-grants-location"]
    assert found["users"] == []
    assert found["applications"] == []


@pytest.mark.parametrize(
    "operation",
    [
        "CreateGroupMembership",
        "CreateTrustedTokenIssuer",
        "PutApplicationGrant",
        "PutApplicationAuthenticationMethod",
        "CreateRole",
        "PutRolePolicy",
        "CreateAccessGrantsInstance",
        "CreateAccessGrantsLocation",
        "CreateAccessGrant",
    ],
)
def test_setup_apply_interrupted_at_an_operation_converges_on_the_next_apply(
    account: Account, operation: str
) -> None:
    account.fail(operation)

    interrupted = account.setup("apply")
    partial = account.inventory()
    account.heal()
    resumed = account.setup("apply")
    plan = account.setup("plan")

    assert interrupted.status == 1
    assert f" {operation} failed: InjectedFault" in interrupted.err
    assert "run `tip-broker setup apply` again" in interrupted.err
    assert partial["users"] == ["alice", "bob", "carol"]
    assert resumed.status == 0, resumed.err
    assert "    + create  " in resumed.out
    assert plan.status == 0, plan.out
    found = account.inventory()
    assert found["roles"] == ["s3-access-grants-location", "tip-identity-bearer"]
    assert len(found["grants"]) == 8
    assert found["applications"] == ["tip-broker"]
    assert found["issuers"] == ["cognito-demo"]


@pytest.mark.parametrize(
    "operation", ["DeleteAccessGrantsLocation", "DeleteRole", "DeleteApplication", "DeleteUser"]
)
def test_setup_destroy_interrupted_at_an_operation_converges_on_the_next_destroy(
    account: Account, operation: str
) -> None:
    account.setup("apply")
    account.fail(operation)

    interrupted = account.setup("destroy")
    account.heal()
    resumed = account.setup("destroy")

    assert interrupted.status == 1
    assert f" {operation} failed: InjectedFault" in interrupted.err
    assert resumed.status == 0, resumed.err
    assert account.inventory() == EMPTY
