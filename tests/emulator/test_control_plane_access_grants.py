"""s3control Access Grants administration through boto3: instance, Identity Center association,
locations, grants and tags, with AWS's errors; grants created through the API match at GetDataAccess."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

LOCATION_ROLE = "arn:aws:iam::111122223333:role/s3-access-grants-location"
OWNED = [{"Key": "managed-by", "Value": "tip-setup"}]


@pytest.fixture(scope="module")
def s3control(admin: Any, client_for: Callable[..., Any]) -> Any:
    return client_for(admin, "s3control")


@pytest.fixture(scope="module")
def idc_arn(config: dict[str, Any]) -> str:
    return str(config["identity_center"]["instance_arn"])


@pytest.fixture
def account(s3control: Any, idc_arn: str) -> str:
    """A fresh account with an Access Grants instance associated with Identity Center and tagged."""
    account_id = "9" + "".join(secrets.choice("0123456789") for _ in range(11))
    s3control.create_access_grants_instance(AccountId=account_id, IdentityCenterArn=idc_arn, Tags=OWNED)
    return account_id


def _error(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def _location(s3control: Any, account: str, scope: str = "s3://demo-data") -> str:
    return str(
        s3control.create_access_grants_location(
            AccountId=account, LocationScope=scope, IAMRoleArn=LOCATION_ROLE, Tags=OWNED
        )["AccessGrantsLocationId"]
    )


def _grant(s3control: Any, account: str, location: str, user_id: str, sub_prefix: str = "users/x/*") -> Any:
    return s3control.create_access_grant(
        AccountId=account,
        AccessGrantsLocationId=location,
        AccessGrantsLocationConfiguration={"S3SubPrefix": sub_prefix},
        Grantee={"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": user_id},
        Permission="READ",
        Tags=OWNED,
    )


def test_instance_shows_its_identity_center_association_and_tags(
    s3control: Any, account: str, idc_arn: str
) -> None:
    got = s3control.get_access_grants_instance(AccountId=account)
    listed = s3control.list_access_grants_instances(AccountId=account)["AccessGrantsInstancesList"]

    assert (got["IdentityCenterArn"], got["IdentityCenterInstanceArn"]) == (idc_arn, idc_arn)
    assert got["IdentityCenterApplicationArn"].startswith(f"arn:aws:sso::{account}:application/")
    assert [i["AccessGrantsInstanceArn"] for i in listed] == [got["AccessGrantsInstanceArn"]]
    tags = s3control.list_tags_for_resource(AccountId=account, ResourceArn=got["AccessGrantsInstanceArn"])[
        "Tags"
    ]
    assert tags == OWNED
    again = lambda: s3control.create_access_grants_instance(AccountId=account)  # noqa: E731
    assert _error(again) == ("AccessGrantsInstanceAlreadyExists", 409)


def test_dissociate_and_associate_identity_center(s3control: Any, account: str, idc_arn: str) -> None:
    s3control.dissociate_access_grants_identity_center(AccountId=account)
    dissociated = s3control.get_access_grants_instance(AccountId=account)
    s3control.associate_access_grants_identity_center(AccountId=account, IdentityCenterArn=idc_arn)

    assert "IdentityCenterArn" not in dissociated
    assert s3control.get_access_grants_instance(AccountId=account)["IdentityCenterInstanceArn"] == idc_arn
    wrong = "arn:aws:sso:::instance/ssoins-0000000000000000"

    def associate() -> Any:
        return s3control.associate_access_grants_identity_center(AccountId=account, IdentityCenterArn=wrong)

    assert _error(associate) == ("InvalidRequest", 400)


def test_deleting_an_instance_needs_no_locations_and_no_association(
    s3control: Any, account: str, config: dict[str, Any]
) -> None:
    location = _location(s3control, account)
    grant = _grant(s3control, account, location, config["users"][0]["idc_user_id"])["AccessGrantId"]
    delete = lambda: s3control.delete_access_grants_instance(AccountId=account)  # noqa: E731

    assert _error(delete) == ("AccessGrantsInstanceNotEmptyError", 400)
    s3control.delete_access_grant(AccountId=account, AccessGrantId=grant)
    s3control.delete_access_grants_location(AccountId=account, AccessGrantsLocationId=location)
    assert _error(delete) == ("InvalidRequest", 400)  # still associated with Identity Center
    s3control.dissociate_access_grants_identity_center(AccountId=account)
    delete()
    gone = lambda: s3control.get_access_grants_instance(AccountId=account)  # noqa: E731
    assert _error(gone) == ("AccessGrantsInstanceNotExistsError", 404)


def test_locations_and_grants_are_created_read_listed_and_deleted(
    s3control: Any, account: str, config: dict[str, Any]
) -> None:
    alice = config["users"][0]["idc_user_id"]
    location = _location(s3control, account)
    created = _grant(s3control, account, location, alice, "users/alice/*")

    got = s3control.get_access_grant(AccountId=account, AccessGrantId=created["AccessGrantId"])
    grants = s3control.list_access_grants(AccountId=account, GranteeType="DIRECTORY_USER")["AccessGrantsList"]
    locations = s3control.list_access_grants_locations(AccountId=account)["AccessGrantsLocationsList"]
    assert got["GrantScope"] == "s3://demo-data/users/alice/*"
    assert got["Grantee"] == {"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": alice}
    assert [g["AccessGrantId"] for g in grants] == [created["AccessGrantId"]]
    assert [loc["AccessGrantsLocationId"] for loc in locations] == [location]
    assert s3control.get_access_grants_location(AccountId=account, AccessGrantsLocationId=location)[
        "LocationScope"
    ] == ("s3://demo-data")
    delete_location = lambda: s3control.delete_access_grants_location(  # noqa: E731
        AccountId=account, AccessGrantsLocationId=location
    )
    assert _error(delete_location) == ("AccessGrantsLocationNotEmptyError", 400)
    duplicate = lambda: _grant(s3control, account, location, alice, "users/alice/*")  # noqa: E731
    assert _error(duplicate) == ("AccessGrantAlreadyExists", 409)

    s3control.delete_access_grant(AccountId=account, AccessGrantId=created["AccessGrantId"])
    delete_location()
    missing = lambda: s3control.get_access_grant(AccountId=account, AccessGrantId=created["AccessGrantId"])  # noqa: E731
    assert _error(missing) == ("AccessGrantNotFoundError", 404)


def test_directory_grantees_need_the_identity_center_association(
    s3control: Any, account: str, config: dict[str, Any]
) -> None:
    location = _location(s3control, account)
    s3control.dissociate_access_grants_identity_center(AccountId=account)

    refused = _error(lambda: _grant(s3control, account, location, config["users"][0]["idc_user_id"]))

    assert refused == ("InvalidRequest", 400)


def test_tags_on_locations_and_grants(s3control: Any, account: str, config: dict[str, Any]) -> None:
    location = _location(s3control, account)
    grant = _grant(s3control, account, location, config["users"][0]["idc_user_id"])
    location_arn = s3control.get_access_grants_location(AccountId=account, AccessGrantsLocationId=location)[
        "AccessGrantsLocationArn"
    ]

    for arn in (location_arn, grant["AccessGrantArn"]):
        s3control.tag_resource(AccountId=account, ResourceArn=arn, Tags=[{"Key": "x", "Value": "1"}])
        listed = s3control.list_tags_for_resource(AccountId=account, ResourceArn=arn)["Tags"]
        s3control.untag_resource(AccountId=account, ResourceArn=arn, TagKeys=["x"])
        assert listed == [*OWNED, {"Key": "x", "Value": "1"}]
        assert s3control.list_tags_for_resource(AccountId=account, ResourceArn=arn)["Tags"] == OWNED

    reserved = lambda: s3control.tag_resource(  # noqa: E731
        AccountId=account, ResourceArn=location_arn, Tags=[{"Key": "aws:x", "Value": "1"}]
    )
    assert _error(reserved) == ("InvalidTag", 400)
    unknown = grant["AccessGrantArn"].rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    missing = lambda: s3control.list_tags_for_resource(AccountId=account, ResourceArn=unknown)  # noqa: E731
    assert _error(missing) == ("AccessGrantNotFoundError", 404)


@pytest.mark.parametrize(("grantee", "user"), [("user", "bob"), ("group", "carol")])
def test_directory_grants_created_through_the_api_match_at_get_data_access(
    grantee: str,
    user: str,
    s3control: Any,
    config: dict[str, Any],
    user_session: Callable[[str], Any],
    client_for: Callable[..., Any],
) -> None:
    main = config["account_id"]
    location = next(
        loc["AccessGrantsLocationId"]
        for loc in s3control.list_access_grants_locations(AccountId=main)["AccessGrantsLocationsList"]
        if loc["LocationScope"] == "s3://demo-data"
    )
    identifier = (
        next(u["idc_user_id"] for u in config["users"] if u["username"] == user)
        if grantee == "user"
        else config["groups"]["finance"]
    )
    session = client_for(user_session(user), "s3control")
    target = "s3://demo-data/reports/q4.csv"

    def read() -> Any:
        return session.get_data_access(AccountId=main, Target=target, Permission="READ")

    assert _error(read) == ("AccessDenied", 403)
    created = s3control.create_access_grant(
        AccountId=main,
        AccessGrantsLocationId=location,
        AccessGrantsLocationConfiguration={"S3SubPrefix": "reports/q4.csv"},
        Grantee={"GranteeType": f"DIRECTORY_{grantee.upper()}", "GranteeIdentifier": identifier},
        Permission="READ",
        S3PrefixType="Object",
    )
    try:
        granted = read()
    finally:
        s3control.delete_access_grant(AccountId=main, AccessGrantId=created["AccessGrantId"])

    assert granted["Grantee"]["GranteeIdentifier"] == identifier
    assert granted["MatchedGrantTarget"] == target
    assert _error(read) == ("AccessDenied", 403)
