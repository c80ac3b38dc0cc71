"""The README's run command (`python -m service dev`) brings up an empty emulator, sets the demo up on it with
`tip-broker setup apply`, starts the broker, and its curls work."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from bench.stack import ROOT, free_port, stop, wait_until_ok

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    log = tmp_path_factory.mktemp("dev") / "dev.log"
    broker_port, emulator_port = free_port(), free_port()
    env_free = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [
                sys.executable,
                "-m",
                "service",
                "dev",
                "--port",
                str(broker_port),
                "--emulator-port",
                str(emulator_port),
                "--demo-port",
                "0",
                "--emulator-tls-port",
                "0",
            ],
            cwd=ROOT,
            env=env_free,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    broker_url = f"http://127.0.0.1:{broker_port}"
    try:
        wait_until_ok(f"{broker_url}/readyz", process, "tip-broker dev", log)
        yield broker_url, f"http://127.0.0.1:{emulator_port}", log
    finally:
        stop(process)
    # Stopping `tip-broker dev` (SIGTERM) must stop the emulator it started, not orphan it.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{emulator_port}/_emulator/health", timeout=2)


def test_dev_stack_prints_sign_in_and_curl_instructions(dev_stack: tuple[str, str, Path]) -> None:
    broker_url, emulator_url, log = dev_stack
    text = log.read_text()
    assert "+ create  application tip-broker" in text  # `setup apply` of examples/setup/demo.yaml
    assert "Done: 30 changes." in text
    assert "alice (groups: engineering)" in text
    assert f"{emulator_url}/_emulator/login" in text
    assert f"curl -s -X POST {broker_url}/v1/credentials" in text
    assert f"curl -s -X POST {broker_url}/v1/presign" in text
    assert f"tip-broker agent --broker-url {broker_url}" in text
    assert "tip-broker login --issuer http://" in text
    assert "Demo page (sign in with PKCE, browse, download, upload): http://127.0.0.1:" in text


def test_dev_stack_serves_credentials_and_presigned_urls_for_a_demo_user(
    dev_stack: tuple[str, str, Path],
) -> None:
    broker_url, emulator_url, _ = dev_stack
    login = httpx.post(
        f"{emulator_url}/_emulator/login", json={"username": "alice", "password": "Alice-Passw0rd!"}
    )
    headers = {"Authorization": f"Bearer {login.json()['id_token']}"}
    credentials = httpx.post(
        f"{broker_url}/v1/credentials",
        json={"target": "s3://demo-data/users/alice/*", "permission": "READ"},
        headers=headers,
        timeout=30,
    )
    assert credentials.status_code == 200, credentials.text
    presigned = httpx.post(
        f"{broker_url}/v1/presign",
        json={"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET"},
        headers=headers,
        timeout=30,
    )
    assert httpx.get(presigned.json()["url"]).content == b"alice's notes\n"


def test_doctor_reports_no_failure_against_the_emulator(dev_stack: tuple[str, str, Path]) -> None:
    _, emulator_url, _ = dev_stack
    config = httpx.get(f"{emulator_url}/_emulator/config").json()
    # The dev stack's emulator starts empty: the application and role are what `setup apply` made.
    admin = boto3.client(
        "sso-admin",
        region_name=config["region"],
        endpoint_url=emulator_url,
        aws_access_key_id=config["admin"]["access_key_id"],
        aws_secret_access_key=config["admin"]["secret_access_key"],
    )
    applications = admin.list_applications(InstanceArn=config["identity_center"]["instance_arn"])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))},
        **{k: v for k, v in config["broker_env"].items() if v is not None},
        "BROKER_IDC_APPLICATION_ARN": applications["Applications"][0]["ApplicationArn"],
        "BROKER_IDENTITY_BEARER_ROLE_ARN": "arn:aws:iam::111122223333:role/tip-identity-bearer",
    }
    result = subprocess.run(
        [sys.executable, "-m", "service", "doctor"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[PASS] jwks: 1 key(s) at" in result.stdout
    assert "[PASS] broker.identity: arn:aws:iam::111122223333:user/tip-broker" in result.stdout
    assert "[FAIL]" not in result.stdout


def test_doctor_fails_on_incomplete_configuration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "service", "doctor"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "[FAIL] configuration" in result.stdout
