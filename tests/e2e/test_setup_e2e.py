"""From an empty emulator: `setup apply --env-out f`, a broker started with f serves a demo user,
`setup plan` then has nothing to do, `setup destroy` empties the account, and apply works again."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from bench.stack import ROOT, Emulator, emulator, free_port, stop, wait_until_ok
from service.adapters.aws_clients import strip_account_prefix

pytestmark = pytest.mark.e2e

DEMO = ROOT / "examples" / "setup" / "demo.yaml"


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_", "TIPB_"))}


def _setup(emu: Emulator, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m service setup …` as the account's administrator."""
    config = emu.config
    env = {
        **_clean_environment(),
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL": emu.url,
        "AWS_REGION": config["region"],
        "AWS_ACCESS_KEY_ID": config["admin"]["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": config["admin"]["secret_access_key"],
        "TIPB_DEMO_POOL_ID": config["cognito"]["user_pool_id"],
        "TIPB_DEMO_CLIENT_ID": config["cognito"]["client_id"],
    }
    return subprocess.run(  # noqa: S603 - our interpreter, our module
        [sys.executable, "-m", "service", "setup", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _admin(emu: Emulator, service: str) -> Any:
    client = boto3.client(
        service,
        region_name=emu.region,
        endpoint_url=emu.url,
        aws_access_key_id=emu.config["admin"]["access_key_id"],
        aws_secret_access_key=emu.config["admin"]["secret_access_key"],
    )
    if service == "s3control":
        client.meta.events.register("before-sign.s3-control", strip_account_prefix)
    return client


@pytest.fixture(scope="module")
def empty_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with emulator(log_dir=tmp_path_factory.mktemp("setup-e2e"), empty=True) as emu:
        yield emu


@pytest.fixture(scope="module")
def applied(empty_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Apply the demo setup once; return the directory holding the broker's `.env` it wrote."""
    workdir = tmp_path_factory.mktemp("broker")
    result = _setup(empty_emulator, "apply", "--file", str(DEMO), "--env-out", str(workdir / ".env"))
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir


def test_setup_e2e_a_broker_started_with_the_env_out_file_serves_a_demo_user(
    empty_emulator: Emulator, applied: Path
) -> None:
    port = free_port()
    broker_key = empty_emulator.config["broker_env"]
    env = {
        **_clean_environment(),
        "PYTHONPATH": str(ROOT),
        # The broker's own identity comes from the credential chain, never from the env-out file.
        "AWS_ACCESS_KEY_ID": broker_key["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": broker_key["AWS_SECRET_ACCESS_KEY"],
    }
    log = applied / "broker.log"
    with log.open("wb") as out:
        # cwd is where the env-out file is: the broker reads `.env` from its working directory.
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=applied,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{url}/readyz", process, "broker", log)
        login = httpx.post(
            f"{empty_emulator.url}/_emulator/login",
            json={"username": "alice", "password": "Alice-Passw0rd!"},
            timeout=30,
        )
        token = login.json()["id_token"]
        answer = httpx.post(
            f"{url}/v1/credentials",
            json={"target": "s3://demo-data/users/alice/*", "permission": "READ"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    finally:
        stop(process)
    assert answer.status_code == 200, answer.text
    credentials = answer.json()
    s3 = boto3.client(
        "s3",
        region_name=empty_emulator.region,
        endpoint_url=empty_emulator.url,
        aws_access_key_id=credentials["access_key_id"],
        aws_secret_access_key=credentials["secret_access_key"],
        aws_session_token=credentials["session_token"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    body = s3.get_object(Bucket="demo-data", Key="users/alice/notes.txt")["Body"].read()
    assert body == b"alice's notes\n"
    assert credentials["grantee"]["type"] == "DIRECTORY_USER"


def test_setup_e2e_plan_after_apply_exits_0(empty_emulator: Emulator, applied: Path) -> None:
    result = _setup(empty_emulator, "plan", "--file", str(DEMO))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes: AWS matches the file" in result.stdout


def test_setup_e2e_destroy_empties_the_account_and_apply_works_again(
    empty_emulator: Emulator, applied: Path
) -> None:
    config = empty_emulator.config
    destroyed = _setup(empty_emulator, "destroy", "--file", str(DEMO))

    sso, ids = _admin(empty_emulator, "sso-admin"), _admin(empty_emulator, "identitystore")
    instance = config["identity_center"]["instance_arn"]
    store = config["identity_center"]["identity_store_id"]
    s3c = _admin(empty_emulator, "s3control")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert sso.list_applications(InstanceArn=instance)["Applications"] == []
    assert sso.list_trusted_token_issuers(InstanceArn=instance)["TrustedTokenIssuers"] == []
    assert ids.list_users(IdentityStoreId=store)["Users"] == []
    assert ids.list_groups(IdentityStoreId=store)["Groups"] == []
    assert _admin(empty_emulator, "iam").list_roles()["Roles"] == []
    assert s3c.list_access_grants_instances(AccountId=config["account_id"])["AccessGrantsInstancesList"] == []

    again = _setup(empty_emulator, "apply", "--file", str(DEMO))

    assert again.returncode == 0, again.stdout + again.stderr
    assert "Done: 30 changes." in again.stdout
    assert _setup(empty_emulator, "plan", "--file", str(DEMO)).returncode == 0
