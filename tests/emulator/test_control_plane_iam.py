"""iam through boto3 (moto): roles, trust policies and inline policies written through the API are what the
emulator's STS trust check and Access Grants permission check read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

IDC_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
ROLE = "api-bearer"
CALLER_ACTIONS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:ListCallerAccessGrants"], "Resource": "*"}],
}


def _trust(principal: str, *actions: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions)}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture(scope="module")
def iam(admin: Any, client_for: Callable[..., Any]) -> Any:
    return client_for(admin, "iam")


@pytest.fixture(scope="module")
def broker_arn(broker: Any, client_for: Callable[..., Any]) -> str:
    return str(client_for(broker, "sts").get_caller_identity()["Arn"])


@pytest.fixture(scope="module")
def role_arn(iam: Any, broker_arn: str) -> str:
    created = iam.create_role(
        RoleName=ROLE,
        AssumeRolePolicyDocument=_trust(broker_arn, "sts:AssumeRole", "sts:SetContext"),
        Tags=[{"Key": "managed-by", "Value": "tip-setup"}],
    )
    return str(created["Role"]["Arn"])


@pytest.fixture
def assume(
    broker: Any, client_for: Callable[..., Any], exchange: Callable[..., dict[str, Any]], role_arn: str
) -> Callable[..., dict[str, Any]]:
    """Return `assume(with_context=True)`: AssumeRole of the API-created role by the broker."""
    sts = client_for(broker, "sts")

    def run(*, with_context: bool = True) -> dict[str, Any]:
        contexts = (
            {
                "ProvidedContexts": [
                    {
                        "ProviderArn": IDC_PROVIDER,
                        "ContextAssertion": exchange("alice")["awsAdditionalDetails"]["identityContext"],
                    }
                ]
            }
            if with_context
            else {}
        )
        answer: dict[str, Any] = sts.assume_role(RoleArn=role_arn, RoleSessionName="tip-api", **contexts)
        return answer

    return run


def _denied(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    return str(refused.value.response["Error"]["Message"])


def test_create_role_with_tags_is_read_back_and_assumable_with_a_context(
    iam: Any, role_arn: str, assume: Callable[..., dict[str, Any]]
) -> None:
    role = iam.get_role(RoleName=ROLE)["Role"]

    assert role["Arn"] == role_arn
    assert iam.list_role_tags(RoleName=ROLE)["Tags"] == [{"Key": "managed-by", "Value": "tip-setup"}]
    assert assume()["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{ROLE}/tip-api")


def test_update_assume_role_policy_takes_effect_at_once(
    iam: Any, broker_arn: str, config: dict[str, Any], assume: Callable[..., dict[str, Any]]
) -> None:
    admin_arn = f"arn:aws:iam::{config['account_id']}:user/emulator-admin"
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=_trust(admin_arn, "sts:AssumeRole"))
    try:
        not_trusted = _denied(assume)
        iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=_trust(broker_arn, "sts:AssumeRole"))
        no_set_context = _denied(assume)
        without_context = assume(with_context=False)
    finally:
        iam.update_assume_role_policy(
            RoleName=ROLE, PolicyDocument=_trust(broker_arn, "sts:AssumeRole", "sts:SetContext")
        )

    assert "sts:AssumeRole on resource" in not_trusted
    assert "sts:SetContext on resource" in no_set_context
    assert without_context["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert assume()["Credentials"]


def test_inline_role_policies_decide_the_access_grants_iam_check(
    iam: Any,
    assume: Callable[..., dict[str, Any]],
    make_session: Any,
    client_for: Callable[..., Any],
    config: dict[str, Any],
) -> None:
    def list_caller_grants() -> Any:
        s3control = client_for(make_session(assume()["Credentials"]), "s3control")
        return s3control.list_caller_access_grants(AccountId=config["account_id"])

    before = _denied(list_caller_grants)
    iam.put_role_policy(RoleName=ROLE, PolicyName="caller", PolicyDocument=json.dumps(CALLER_ACTIONS))
    try:
        listed_policies = iam.list_role_policies(RoleName=ROLE)["PolicyNames"]
        document = iam.get_role_policy(RoleName=ROLE, PolicyName="caller")["PolicyDocument"]
        allowed = list_caller_grants()
    finally:
        iam.delete_role_policy(RoleName=ROLE, PolicyName="caller")

    assert "is not authorized to perform: s3:ListCallerAccessGrants" in before
    assert listed_policies == ["caller"]
    assert document == CALLER_ACTIONS
    assert "s3://demo-data/users/alice/*" in [g["GrantScope"] for g in allowed["CallerAccessGrantsList"]]
    assert "s3:ListCallerAccessGrants" in _denied(list_caller_grants)


def test_a_deleted_role_can_no_longer_be_assumed(
    iam: Any, broker_arn: str, broker: Any, client_for: Callable[..., Any], config: dict[str, Any]
) -> None:
    arn = iam.create_role(
        RoleName="short-lived", AssumeRolePolicyDocument=_trust(broker_arn, "sts:AssumeRole")
    )["Role"]["Arn"]
    sts = client_for(broker, "sts")
    assert sts.assume_role(RoleArn=arn, RoleSessionName="first")["Credentials"]

    iam.delete_role(RoleName="short-lived")

    assert "sts:AssumeRole" in _denied(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="second"))
