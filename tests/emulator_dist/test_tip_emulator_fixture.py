"""The tip_emulator fixture drives the TIP chain with boto3 alone; also run in a venv without the broker.

This file imports nothing from the repository: tests/emulator_dist/test_fresh_venv.py copies it into a
fresh virtual environment holding only the tip-emulator distribution and pytest, and runs it there.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDC_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"


def _role_session(emu: Any, username: str) -> Any:
    """CreateTokenWithIAM with the user's Cognito ID token, then AssumeRole with its identity context."""
    config = emu.config
    broker = emu.session("broker")
    token = emu.client(broker, "sso-oidc").create_token_with_iam(
        clientId=config["broker_env"]["BROKER_IDC_APPLICATION_ARN"],
        grantType=JWT_BEARER,
        assertion=emu.login(username),
    )
    credentials = emu.client(broker, "sts").assume_role(
        RoleArn=config["broker_env"]["BROKER_IDENTITY_BEARER_ROLE_ARN"],
        RoleSessionName=f"tip-{username}",
        DurationSeconds=900,
        ProvidedContexts=[
            {
                "ProviderArn": IDC_PROVIDER,
                "ContextAssertion": token["awsAdditionalDetails"]["identityContext"],
            }
        ],
    )["Credentials"]
    return emu.session_for(credentials)


def _data_access(emu: Any, username: str, target: str) -> dict[str, Any]:
    s3control = emu.client(_role_session(emu, username), "s3control")
    return dict(
        s3control.get_data_access(
            AccountId=emu.config["account_id"], Target=target, Permission="READ", DurationSeconds=900
        )
    )


def test_get_data_access_through_the_tip_chain(tip_emulator: Any) -> None:
    bob = next(u for u in tip_emulator.config["users"] if u["username"] == "bob")
    access = _data_access(tip_emulator, "bob", "s3://demo-data/users/bob/*")
    assert access["Grantee"] == {"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": bob["idc_user_id"]}
    assert access["MatchedGrantTarget"] == "s3://demo-data/users/bob/*"
    s3 = tip_emulator.client(tip_emulator.session_for(access["Credentials"]), "s3")
    assert s3.get_object(Bucket="demo-data", Key="users/bob/todo.txt")["Body"].read() == b"bob's todo\n"
    with pytest.raises(ClientError) as denied:
        _data_access(tip_emulator, "bob", "s3://demo-data/users/alice/*")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_advancing_the_clock_expires_the_vended_credentials(tip_emulator: Any) -> None:
    access = _data_access(tip_emulator, "bob", "s3://demo-data/users/bob/*")
    s3 = tip_emulator.client(tip_emulator.session_for(access["Credentials"]), "s3")
    s3.head_object(Bucket="demo-data", Key="users/bob/todo.txt")

    assert tip_emulator.advance(901) == 901
    assert tip_emulator.clock_offset == 901
    with pytest.raises(ClientError) as expired:
        s3.get_object(Bucket="demo-data", Key="users/bob/todo.txt")
    assert expired.value.response["Error"]["Code"] == "ExpiredToken"

    assert tip_emulator.set_offset(0) == 0
    assert s3.get_object(Bucket="demo-data", Key="users/bob/todo.txt")["Body"].read() == b"bob's todo\n"


@pytest.mark.tip_emulator(empty=True)
def test_marker_starts_the_emulator_empty(tip_emulator: Any) -> None:
    assert tip_emulator.config["empty"] is True
    assert tip_emulator.config["broker_env"]["BROKER_IDC_APPLICATION_ARN"] is None
    admin = tip_emulator.session("admin")
    grants = tip_emulator.client(admin, "s3control").list_access_grants_instances(
        AccountId=tip_emulator.config["account_id"]
    )
    assert grants["AccessGrantsInstancesList"] == []
