"""`--empty`: the emulator starts with the IdP, IAM users, Identity Center instance and buckets only, and
everything else created through boto3 makes the TIP chain work end to end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bench import stack
from emulator.server import EmulatorServer
from tests.emulator.conftest import S3_CONFIG, strip_account_prefix
from tests.emulator.control_plane import data_access, provision


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(port=0, empty=True).start()
    yield server
    server.stop()


def test_empty_config_names_no_application_role_or_identity_store_ids(config: dict[str, Any]) -> None:
    env = config["broker_env"]

    assert config["empty"] is True
    assert env["BROKER_IDC_APPLICATION_ARN"] is None
    assert env["BROKER_IDENTITY_BEARER_ROLE_ARN"] is None
    assert env["AWS_ACCESS_KEY_ID"]
    assert env["BROKER_OIDC_ISSUER"]
    assert config["groups"] == {}
    assert [u["idc_user_id"] for u in config["users"]] == [None, None, None]
    assert config["identity_center"]["instance_arn"].startswith("arn:aws:sso:::instance/ssoins-")


def test_empty_emulator_has_no_issuer_application_directory_role_or_access_grants(
    admin: Any, client_for: Callable[..., Any], config: dict[str, Any]
) -> None:
    sso = client_for(admin, "sso-admin")
    instance = sso.list_instances()["Instances"][0]
    store = config["identity_center"]["identity_store_id"]

    assert sso.list_applications(InstanceArn=instance["InstanceArn"])["Applications"] == []
    assert sso.list_trusted_token_issuers(InstanceArn=instance["InstanceArn"])["TrustedTokenIssuers"] == []
    assert client_for(admin, "identitystore").list_users(IdentityStoreId=store)["Users"] == []
    assert client_for(admin, "identitystore").list_groups(IdentityStoreId=store)["Groups"] == []
    assert client_for(admin, "iam").list_roles()["Roles"] == []
    listed = client_for(admin, "s3control").list_access_grants_instances(AccountId=config["account_id"])
    assert listed["AccessGrantsInstancesList"] == []


def test_empty_emulator_keeps_the_idp_users_the_brokers_policy_and_the_buckets(
    admin: Any, client_for: Callable[..., Any], login: Callable[[str], str]
) -> None:
    iam = client_for(admin, "iam")
    objects = client_for(admin, "s3").list_objects_v2(Bucket="demo-data")["Contents"]

    assert login("alice").count(".") == 2
    assert iam.get_user_policy(UserName="tip-broker", PolicyName="create-token-with-iam")["PolicyDocument"]
    assert "users/alice/notes.txt" in [o["Key"] for o in objects]


def _clients(url: str, region: str, key: str, secret: str, token: str | None = None) -> Callable[[str], Any]:
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=region
    )

    def make(service: str) -> Any:
        config = S3_CONFIG if service == "s3" else Config(retries={"total_max_attempts": 1})
        client = session.client(service, endpoint_url=url, config=config)
        if service == "s3control":
            client.meta.events.register("before-sign.s3-control", strip_account_prefix)
        return client

    return make


def test_python_m_emulator_empty_serves_the_whole_chain_once_set_up_through_boto3(tmp_path: Path) -> None:
    with stack.emulator(log_dir=tmp_path, empty=True) as emu:
        config, region = emu.config, emu.region
        env = config["broker_env"]
        admin = _clients(
            emu.url, region, config["admin"]["access_key_id"], config["admin"]["secret_access_key"]
        )
        broker = _clients(emu.url, region, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])

        def session(credentials: dict[str, Any]) -> Callable[[str], Any]:
            return _clients(
                emu.url,
                region,
                credentials["AccessKeyId"],
                credentials["SecretAccessKey"],
                credentials["SessionToken"],
            )

        provisioned = provision(admin, broker, config, "alice")
        answer = data_access(
            broker,
            session,
            provisioned,
            config["account_id"],
            emu.sign_in("alice"),
            "s3://demo-data/users/alice/notes.txt",
        )
        vended = session(answer["Credentials"])("s3")
        body = vended.get_object(Bucket="demo-data", Key="users/alice/notes.txt")["Body"].read()

    assert answer["Grantee"] == {"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": provisioned.user_id}
    assert answer["MatchedGrantTarget"] == "s3://demo-data/users/alice/*"
    assert body == b"alice's notes\n"
