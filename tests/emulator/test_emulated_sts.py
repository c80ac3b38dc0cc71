"""STS AssumeRole with Identity Center ProvidedContexts, and GetCallerIdentity, against the emulator."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

IDC_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"


@pytest.fixture(scope="module")
def sts(broker: Any, client_for: Any) -> Any:
    return client_for(broker, "sts")


@pytest.fixture(scope="module")
def role_arn(config: dict[str, Any]) -> str:
    return str(config["broker_env"]["BROKER_IDENTITY_BEARER_ROLE_ARN"])


def _contexts(assertion: str, provider: str = IDC_PROVIDER) -> list[dict[str, str]]:
    return [{"ProviderArn": provider, "ContextAssertion": assertion}]


def test_assume_role_with_context_returns_session_known_to_get_caller_identity(
    sts: Any, role_arn: str, exchange: Any, make_session: Any, client_for: Any
) -> None:
    ctx = exchange("alice")["awsAdditionalDetails"]["identityContext"]

    resp = sts.assume_role(RoleArn=role_arn, RoleSessionName="tip-alice", ProvidedContexts=_contexts(ctx))

    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert (
        resp["AssumedRoleUser"]["Arn"]
        == "arn:aws:sts::111122223333:assumed-role/tip-identity-bearer/tip-alice"
    )
    who = client_for(make_session(creds), "sts").get_caller_identity()
    assert who["Arn"] == resp["AssumedRoleUser"]["Arn"]


def test_assume_role_session_token_is_shaped_like_aws(sts: Any, role_arn: str, exchange: Any) -> None:
    # docs/aws.md#session-tokens: about a thousand characters of standard base64, so a client that
    # leaves '+', '/' or '=' unencoded in a presigned URL fails here as against AWS.
    ctx = exchange("alice")["awsAdditionalDetails"]["identityContext"]

    token = sts.assume_role(RoleArn=role_arn, RoleSessionName="tip-alice", ProvidedContexts=_contexts(ctx))[
        "Credentials"
    ]["SessionToken"]

    assert len(token) > 900
    assert re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", token)
    assert {"+", "/", "="} <= set(token)


def test_assume_role_rejects_unknown_context_assertion(sts: Any, role_arn: str) -> None:
    with pytest.raises(sts.exceptions.InvalidContextAssertionException):
        sts.assume_role(
            RoleArn=role_arn, RoleSessionName="tip-x", ProvidedContexts=_contexts("AQoJforged-assertion")
        )


def test_assume_role_rejects_untrusted_context_provider(sts: Any, role_arn: str, exchange: Any) -> None:
    ctx = exchange("bob")["awsAdditionalDetails"]["identityContext"]

    with pytest.raises(sts.exceptions.InvalidContextAssertionException):
        sts.assume_role(
            RoleArn=role_arn,
            RoleSessionName="tip-bob",
            ProvidedContexts=_contexts(ctx, "arn:aws:iam::aws:contextProvider/Other"),
        )


def test_assume_role_denies_caller_outside_trust_policy(
    admin: Any, client_for: Any, role_arn: str, exchange: Any
) -> None:
    ctx = exchange("alice")["awsAdditionalDetails"]["identityContext"]
    sts = client_for(admin, "sts")

    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="tip-alice", ProvidedContexts=_contexts(ctx))

    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_assume_role_rejects_duration_above_limit(sts: Any, role_arn: str) -> None:
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="tip-long", DurationSeconds=43201)

    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_assume_role_rejects_invalid_session_name(sts: Any, role_arn: str) -> None:
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="bad name!")

    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_get_caller_identity_reports_broker_iam_user(sts: Any) -> None:
    who = sts.get_caller_identity()

    assert who["Arn"] == "arn:aws:iam::111122223333:user/tip-broker"
    assert who["Account"] == "111122223333"
