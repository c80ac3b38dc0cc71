"""S3 Access Grants (s3control) against the emulator: administration, GetDataAccess, caller grants."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from service.adapters.aws_errors import MessageMatch, match_message

ACCOUNT = "111122223333"


@pytest.fixture(scope="module")
def s3c_admin(admin: Any, client_for: Any) -> Any:
    return client_for(admin, "s3control")


@pytest.fixture(scope="module")
def as_user(user_session: Any, client_for: Any) -> Any:
    cache: dict[str, Any] = {}

    def get(username: str) -> Any:
        if username not in cache:
            cache[username] = client_for(user_session(username), "s3control")
        return cache[username]

    return get


def _gda(client: Any, target: str, permission: str = "READ", **kwargs: Any) -> dict[str, Any]:
    return dict(client.get_data_access(AccountId=ACCOUNT, Target=target, Permission=permission, **kwargs))


def _idc_id(config: dict[str, Any], name: str) -> str:
    return str(next(u["idc_user_id"] for u in config["users"] if u["username"] == name))


def test_get_access_grants_instance_reports_identity_center(s3c_admin: Any) -> None:
    resp = s3c_admin.get_access_grants_instance(AccountId=ACCOUNT)

    assert resp["AccessGrantsInstanceArn"] == f"arn:aws:s3:us-east-1:{ACCOUNT}:access-grants/default"
    assert resp["IdentityCenterArn"] == "arn:aws:sso:::instance/ssoins-7223a8b2c0f1e9d4"


def test_list_access_grants_locations_returns_seeded_locations(s3c_admin: Any) -> None:
    resp = s3c_admin.list_access_grants_locations(AccountId=ACCOUNT)

    assert {loc["LocationScope"] for loc in resp["AccessGrantsLocationsList"]} == {"s3://", "s3://demo-data"}


def test_access_grant_create_get_list_delete_round_trip(s3c_admin: Any, config: dict[str, Any]) -> None:
    location = s3c_admin.create_access_grants_location(
        AccountId=ACCOUNT,
        LocationScope="s3://demo-uploads",
        IAMRoleArn=f"arn:aws:iam::{ACCOUNT}:role/s3-access-grants-location",
    )
    created = s3c_admin.create_access_grant(
        AccountId=ACCOUNT,
        AccessGrantsLocationId=location["AccessGrantsLocationId"],
        AccessGrantsLocationConfiguration={"S3SubPrefix": "carol/*"},
        Grantee={"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": _idc_id(config, "carol")},
        Permission="WRITE",
    )
    got = s3c_admin.get_access_grant(AccountId=ACCOUNT, AccessGrantId=created["AccessGrantId"])
    listed = s3c_admin.list_access_grants(AccountId=ACCOUNT, GranteeType="DIRECTORY_USER")["AccessGrantsList"]

    s3c_admin.delete_access_grant(AccountId=ACCOUNT, AccessGrantId=created["AccessGrantId"])
    s3c_admin.delete_access_grants_location(
        AccountId=ACCOUNT, AccessGrantsLocationId=location["AccessGrantsLocationId"]
    )

    assert got["GrantScope"] == "s3://demo-uploads/carol/*"
    assert created["AccessGrantId"] in {g["AccessGrantId"] for g in listed}
    with pytest.raises(ClientError) as err:
        s3c_admin.get_access_grant(AccountId=ACCOUNT, AccessGrantId=created["AccessGrantId"])
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_get_access_grants_instance_for_prefix_returns_instance(as_user: Any) -> None:
    resp = as_user("alice").get_access_grants_instance_for_prefix(
        AccountId=ACCOUNT, S3Prefix="s3://demo-data/x"
    )

    assert resp["AccessGrantsInstanceArn"].endswith(":access-grants/default")


def test_get_data_access_matches_user_grant(as_user: Any, config: dict[str, Any]) -> None:
    resp = _gda(as_user("alice"), "s3://demo-data/users/alice/*", "READWRITE")

    assert resp["MatchedGrantTarget"] == "s3://demo-data/users/alice/*"
    assert resp["Grantee"] == {"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": _idc_id(config, "alice")}
    assert resp["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_get_data_access_matches_group_grant(as_user: Any, config: dict[str, Any]) -> None:
    resp = _gda(as_user("bob"), "s3://demo-data/shared/engineering/*")

    assert resp["MatchedGrantTarget"] == "s3://demo-data/shared/engineering/*"
    assert resp["Grantee"] == {
        "GranteeType": "DIRECTORY_GROUP",
        "GranteeIdentifier": config["groups"]["engineering"],
    }


def test_get_data_access_matches_iam_role_grant(as_user: Any, config: dict[str, Any]) -> None:
    resp = _gda(as_user("carol"), "s3://demo-data/public/readme.txt")

    assert resp["MatchedGrantTarget"] == "s3://demo-data/public*"
    assert resp["Grantee"] == {
        "GranteeType": "IAM",
        "GranteeIdentifier": config["broker_env"]["BROKER_IDENTITY_BEARER_ROLE_ARN"],
    }


def test_get_data_access_readwrite_grant_covers_read_and_write(as_user: Any) -> None:
    read = _gda(as_user("alice"), "s3://demo-data/users/alice/notes.txt", "READ")
    write = _gda(as_user("alice"), "s3://demo-data/users/alice/notes.txt", "WRITE")

    assert read["MatchedGrantTarget"] == write["MatchedGrantTarget"] == "s3://demo-data/users/alice/*"


@pytest.mark.parametrize(
    ("user", "target", "privilege", "expected"),
    [
        ("bob", "s3://demo-data/users/bob/*", "Default", "s3://demo-data/users/bob/*"),
        ("bob", "s3://demo-data/users/bob/", "Minimal", "s3://demo-data/users/bob/"),
        ("bob", "s3://demo-data/users/bob/images/*", "Minimal", "s3://demo-data/users/bob/images/*"),
        ("alice", "s3://demo-data/users/alice/reports/2024.csv", "Default", "s3://demo-data/users/alice/*"),
        (
            "alice",
            "s3://demo-data/users/alice/reports/2024.csv",
            "Minimal",
            "s3://demo-data/users/alice/reports/2024.csv",
        ),
    ],
)
def test_get_data_access_privilege_returns_documented_scope(
    as_user: Any, user: str, target: str, privilege: str, expected: str
) -> None:
    resp = _gda(as_user(user), target, Privilege=privilege)

    assert resp["MatchedGrantTarget"] == expected


def test_get_data_access_prefers_most_specific_grant(
    as_user: Any, s3c_admin: Any, config: dict[str, Any]
) -> None:
    location = next(
        loc["AccessGrantsLocationId"]
        for loc in s3c_admin.list_access_grants_locations(AccountId=ACCOUNT)["AccessGrantsLocationsList"]
        if loc["LocationScope"] == "s3://demo-data"
    )
    grant = s3c_admin.create_access_grant(
        AccountId=ACCOUNT,
        AccessGrantsLocationId=location,
        AccessGrantsLocationConfiguration={"S3SubPrefix": "users/alice/reports/*"},
        Grantee={"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": _idc_id(config, "alice")},
        Permission="READ",
    )
    try:
        resp = _gda(as_user("alice"), "s3://demo-data/users/alice/reports/2024.csv")
    finally:
        s3c_admin.delete_access_grant(AccountId=ACCOUNT, AccessGrantId=grant["AccessGrantId"])

    assert resp["MatchedGrantTarget"] == "s3://demo-data/users/alice/reports/*"


def test_get_data_access_object_grant_matches_only_that_object(as_user: Any) -> None:
    resp = _gda(as_user("carol"), "s3://demo-data/reports/q3.csv")

    assert resp["MatchedGrantTarget"] == "s3://demo-data/reports/q3.csv"
    with pytest.raises(ClientError) as err:
        _gda(as_user("carol"), "s3://demo-data/reports/q4.csv")
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_get_data_access_denies_other_users_prefix(as_user: Any) -> None:
    with pytest.raises(ClientError) as err:
        _gda(as_user("alice"), "s3://demo-data/users/bob/*")

    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_get_data_access_denies_write_on_read_grant(as_user: Any) -> None:
    with pytest.raises(ClientError) as err:
        _gda(as_user("bob"), "s3://demo-data/users/bob/*", "WRITE")

    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_get_data_access_ignores_directory_grants_for_plain_role_session(
    broker: Any, client_for: Any, make_session: Any, config: dict[str, Any]
) -> None:
    creds = client_for(broker, "sts").assume_role(
        RoleArn=config["broker_env"]["BROKER_IDENTITY_BEARER_ROLE_ARN"], RoleSessionName="plain"
    )["Credentials"]
    s3c = client_for(make_session(creds), "s3control")

    with pytest.raises(ClientError) as err:
        _gda(s3c, "s3://demo-data/users/alice/*")

    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_get_data_access_rejects_duration_out_of_range(as_user: Any) -> None:
    with pytest.raises(ClientError) as err:
        _gda(as_user("alice"), "s3://demo-data/users/alice/*", DurationSeconds=43201)

    assert err.value.response["Error"]["Code"] == "InvalidRequest"


def test_list_caller_access_grants_returns_user_group_and_role_grants(as_user: Any) -> None:
    grants = as_user("bob").list_caller_access_grants(AccountId=ACCOUNT)["CallerAccessGrantsList"]

    assert {(g["GrantScope"], g["Permission"]) for g in grants} == {
        ("s3://demo-data/users/bob/*", "READ"),
        ("s3://demo-data/shared/engineering/*", "READ"),
        ("s3://demo-uploads/bob/*", "WRITE"),
        ("s3://demo-data/public*", "READ"),
    }


def test_list_caller_access_grants_filters_by_grant_scope(as_user: Any) -> None:
    grants = as_user("bob").list_caller_access_grants(AccountId=ACCOUNT, GrantScope="s3://demo-uploads")

    assert [g["GrantScope"] for g in grants["CallerAccessGrantsList"]] == ["s3://demo-uploads/bob/*"]


@pytest.mark.parametrize("privilege", ["Default", "Minimal"])
def test_get_data_access_denies_character_prefix_wider_than_the_grant(as_user: Any, privilege: str) -> None:
    # `users/alice*` also names `users/alice2/...`, which the grant `users/alice/*` does not hold.
    with pytest.raises(ClientError) as err:
        _gda(as_user("alice"), "s3://demo-data/users/alice*", Privilege=privilege)

    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_get_data_access_denies_the_object_named_like_the_grant_prefix(as_user: Any) -> None:
    with pytest.raises(ClientError) as err:
        _gda(as_user("alice"), "s3://demo-data/users/alice", Privilege="Minimal")

    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_get_data_access_minimal_accepts_the_prefix_object_with_trailing_slash(as_user: Any) -> None:
    resp = _gda(as_user("alice"), "s3://demo-data/users/alice/", Privilege="Minimal")

    assert resp["MatchedGrantTarget"] == "s3://demo-data/users/alice/"


@pytest.mark.parametrize(
    "target",
    [
        "s3://demo-data/users/alice/../bob/*",
        "s3://demo-data/users/alice/../bob/secret.txt",
        "s3://demo-data/users/alice/./notes.txt",
        "s3://demo-data/users/alice/..",
        "s3://demo-data/users/alice/..*",
    ],
)
def test_get_data_access_refuses_dot_segment_target(as_user: Any, target: str) -> None:
    with pytest.raises(ClientError) as err:
        _gda(as_user("alice"), target)

    assert err.value.response["Error"]["Code"] == "InvalidRequest"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


BEARER_ROLE = "tip-identity-bearer"
POLICY = "access-grants-caller"


def test_get_data_access_requires_the_bearer_role_to_allow_it_in_iam(
    as_user: Any, admin: Any, client_for: Any
) -> None:
    iam = client_for(admin, "iam")
    document = iam.get_role_policy(RoleName=BEARER_ROLE, PolicyName=POLICY)["PolicyDocument"]
    text = document if isinstance(document, str) else json.dumps(document)
    iam.delete_role_policy(RoleName=BEARER_ROLE, PolicyName=POLICY)
    try:
        with pytest.raises(ClientError) as caught:
            _gda(as_user("bob"), "s3://demo-data/users/bob/*")
    finally:
        iam.put_role_policy(RoleName=BEARER_ROLE, PolicyName=POLICY, PolicyDocument=text)

    error = caught.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert re.fullmatch(
        r"User: arn:aws:sts::111122223333:assumed-role/tip-identity-bearer/tip-bob is not authorized to "
        r"perform: s3:GetDataAccess on resource: arn:aws:s3:us-east-1:111122223333:access-grants/default "
        r"because no identity-based policy allows the s3:GetDataAccess action",
        error["Message"],
    )
    assert match_message(caught.value) == MessageMatch("iam_denied", "s3:GetDataAccess")
    assert _gda(as_user("bob"), "s3://demo-data/users/bob/*")["MatchedGrantTarget"]


def test_get_data_access_refuses_an_explicit_deny_in_the_bearer_role(
    as_user: Any, admin: Any, client_for: Any
) -> None:
    iam = client_for(admin, "iam")
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "s3:GetDataAccess", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=BEARER_ROLE, PolicyName="deny", PolicyDocument=json.dumps(deny))
    try:
        with pytest.raises(ClientError) as caught:
            _gda(as_user("bob"), "s3://demo-data/users/bob/*")
    finally:
        iam.delete_role_policy(RoleName=BEARER_ROLE, PolicyName="deny")

    assert caught.value.response["Error"]["Message"].endswith(
        "with an explicit deny in an identity-based policy"
    )
    assert match_message(caught.value) == MessageMatch("iam_denied", "s3:GetDataAccess")


def test_get_data_access_without_a_grant_is_a_denial_the_iam_row_does_not_match(as_user: Any) -> None:
    with pytest.raises(ClientError) as caught:
        _gda(as_user("bob"), "s3://demo-data/finance/*")

    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert match_message(caught.value) is None
