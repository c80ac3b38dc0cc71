"""Application access scopes, AllowedByApplication listing and role chaining, as AWS documents them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"
READ_ONLY = "s3:access_grants:read_only"
READ_WRITE = "s3:access_grants:read_write"
ALICE_OBJECTS = "s3://demo-data/users/alice/*"


@pytest.fixture(scope="module")
def application_arn(config: dict[str, Any]) -> str:
    return str(config["broker_env"]["BROKER_IDC_APPLICATION_ARN"])


@pytest.fixture
def scopes(admin: Any, client_for: Callable[..., Any], application_arn: str) -> Iterator[Any]:
    """An sso-admin client; the demo application's scopes are restored after the test."""
    sso_admin = client_for(admin, "sso-admin")
    yield sso_admin
    for scope in (READ_ONLY, READ_WRITE):
        sso_admin.delete_application_access_scope(ApplicationArn=application_arn, Scope=scope)
    sso_admin.put_application_access_scope(ApplicationArn=application_arn, Scope=READ_WRITE)


def _set_scopes(client: Any, application_arn: str, wanted: list[str]) -> None:
    for scope in (READ_ONLY, READ_WRITE):
        client.delete_application_access_scope(ApplicationArn=application_arn, Scope=scope)
    for scope in wanted:
        client.put_application_access_scope(ApplicationArn=application_arn, Scope=scope)


def _gda(client: Any, permission: str) -> dict[str, Any]:
    return dict(client.get_data_access(AccountId=ACCOUNT, Target=ALICE_OBJECTS, Permission=permission))


def test_exchange_answers_the_demo_applications_read_write_scope(
    exchange: Callable[..., dict[str, Any]], scopes: Any, application_arn: str
) -> None:
    listed = scopes.list_application_access_scopes(ApplicationArn=application_arn)["Scopes"]

    assert READ_WRITE in exchange("alice")["scope"]
    assert [s["Scope"] for s in listed] == [READ_WRITE]


def test_read_only_application_gets_read_but_not_write(
    scopes: Any,
    application_arn: str,
    exchange: Callable[..., dict[str, Any]],
    user_session: Callable[[str], Any],
    client_for: Callable[..., Any],
) -> None:
    _set_scopes(scopes, application_arn, [READ_ONLY])
    assert READ_ONLY in exchange("alice")["scope"]
    alice = client_for(user_session("alice"), "s3control")

    assert _gda(alice, "READ")["MatchedGrantTarget"] == ALICE_OBJECTS
    for permission in ("WRITE", "READWRITE"):
        with pytest.raises(ClientError) as refused:
            _gda(alice, permission)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_application_without_access_grants_scope_gets_nothing(
    scopes: Any,
    application_arn: str,
    exchange: Callable[..., dict[str, Any]],
    user_session: Callable[[str], Any],
    client_for: Callable[..., Any],
) -> None:
    _set_scopes(scopes, application_arn, [])
    answered = exchange("alice")["scope"]
    assert READ_ONLY not in answered
    assert READ_WRITE not in answered
    alice = client_for(user_session("alice"), "s3control")

    with pytest.raises(ClientError) as refused:
        _gda(alice, "READ")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_list_caller_grants_allowed_by_application_keeps_only_this_app_or_all(
    user_session: Callable[[str], Any], client_for: Callable[..., Any], application_arn: str
) -> None:
    alice = client_for(user_session("alice"), "s3control")

    def listed(**kwargs: Any) -> dict[str, str]:
        grants = alice.list_caller_access_grants(AccountId=ACCOUNT, **kwargs)["CallerAccessGrantsList"]
        return {g["GrantScope"]: g["ApplicationArn"] for g in grants}

    every = listed()
    by_app = listed(AllowedByApplication=True)

    assert every["s3://demo-data/users/alice/*"] == "NA"
    assert every["s3://demo-data/shared/all-apps/*"] == "ALL"
    assert every["s3://demo-data/shared/other-app/*"].endswith("/apl-0123456789abcdef")
    assert listed(AllowedByApplication=False) == every
    assert by_app == {"s3://demo-data/shared/all-apps/*": "ALL"}
    assert application_arn not in every.values()


def test_role_chaining_caps_duration_at_one_hour(
    admin: Any, broker: Any, client_for: Callable[..., Any], make_session: Any
) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/chained"
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    client_for(admin, "iam").create_role(
        RoleName="chained", AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=43200
    )
    first = client_for(broker, "sts").assume_role(RoleArn=arn, RoleSessionName="first", DurationSeconds=7200)
    chained = client_for(make_session(first["Credentials"]), "sts")

    assert ":assumed-role/" in chained.get_caller_identity()["Arn"]
    with pytest.raises(ClientError) as refused:
        chained.assume_role(RoleArn=arn, RoleSessionName="second", DurationSeconds=3601)
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    )
    assert chained.assume_role(RoleArn=arn, RoleSessionName="second", DurationSeconds=3600)["Credentials"]
