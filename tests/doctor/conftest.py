"""A real emulator set up well — started `--empty`, then `tip-broker setup apply --file
examples/setup/demo.yaml --env-out` — the admin's boto3 clients to break it with, and `python -m service
doctor` run as a subprocess with the broker's environment (`/_emulator/config`'s credentials and endpoint,
the rest from the `--env-out` file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from dotenv import dotenv_values

from bench import stack as processes
from service.adapters.aws_clients import strip_account_prefix

ROOT = Path(__file__).resolve().parents[2]
READ_POLICY = ROOT / "examples" / "doctor" / "read-policy.json"
DEMO_SETUP = ROOT / "examples" / "setup" / "demo.yaml"
BROKER_USER = "tip-broker"


@dataclass(frozen=True)
class DoctorRun:
    """One doctor run: exit code, what it printed, and (with --json) its checks."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def checks(self) -> list[dict[str, str]]:
        checks: list[dict[str, str]] = json.loads(self.stdout)
        return checks

    def ids(self, status: str) -> set[str]:
        return {check["id"] for check in self.checks if check["status"] == status}


@dataclass
class Setup:
    """The running emulator, acted on as its administrator would."""

    emulator: processes.Emulator
    workdir: Path
    broker_env: dict[str, str]

    @property
    def config(self) -> dict[str, Any]:
        return self.emulator.config

    def client(self, service: str) -> Any:
        admin = self.config["admin"]
        client = boto3.client(
            service,
            region_name=self.emulator.region,
            endpoint_url=self.emulator.url,
            aws_access_key_id=admin["access_key_id"],
            aws_secret_access_key=admin["secret_access_key"],
        )
        if service == "s3control":
            client.meta.events.register("before-sign.s3-control", strip_account_prefix)
        return client

    def sign_in(self, username: str) -> str:
        return self.emulator.sign_in(username)

    def user_id(self, username: str) -> str:
        found = self.client("identitystore").get_user_id(
            IdentityStoreId=self.config["identity_center"]["identity_store_id"],
            AlternateIdentifier={
                "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": username}
            },
        )
        return str(found["UserId"])

    def group_id(self, name: str) -> str:
        found = self.client("identitystore").get_group_id(
            IdentityStoreId=self.config["identity_center"]["identity_store_id"],
            AlternateIdentifier={"UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": name}},
        )
        return str(found["GroupId"])

    def doctor(self, *args: str, env: dict[str, str] | None = None) -> DoctorRun:
        """Run `python -m service doctor ARGS` with the broker's environment (plus ``env``)."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
        process = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "service", "doctor", *args],
            # Not the repository: a .env there must not configure the doctor under test.
            cwd=self.workdir,
            env={**inherited, **self.broker_env, "PYTHONPATH": str(ROOT), **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return DoctorRun(process.returncode, process.stdout, process.stderr)


def apply_demo_setup(emulator: processes.Emulator, workdir: Path) -> dict[str, str]:
    """Run `setup apply` for the demo as the emulator's administrator; return the broker's environment."""
    admin, cognito = emulator.config["admin"], emulator.config["cognito"]
    env_out = workdir / "demo.env"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_", "TIPB_"))}
    applied = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "service",
            "setup",
            "apply",
            "--file",
            str(DEMO_SETUP),
            "--env-out",
            str(env_out),
        ],
        cwd=workdir,
        env={
            **inherited,
            "PYTHONPATH": str(ROOT),
            "AWS_ENDPOINT_URL": emulator.url,
            "AWS_REGION": emulator.region,
            "AWS_ACCESS_KEY_ID": admin["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": admin["secret_access_key"],
            "TIPB_DEMO_POOL_ID": cognito["user_pool_id"],
            "TIPB_DEMO_CLIENT_ID": cognito["client_id"],
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    broker = emulator.config["broker_env"]
    credentials = {name: broker[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    return {**credentials, **{k: v for k, v in dotenv_values(env_out).items() if v is not None}}


def allow_doctor_reads(setup: Setup) -> None:
    """Give the broker's IAM user the doctor's read policy (docs/doctor.md#permissions)."""
    setup.client("iam").put_user_policy(
        UserName=BROKER_USER, PolicyName="doctor-read", PolicyDocument=READ_POLICY.read_text()
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """An empty emulator set up by the demo setup file, whose broker user may read what the doctor checks."""
    workdir = tmp_path_factory.mktemp("doctor")
    with processes.emulator(log_dir=workdir, empty=True) as emulator:
        running = Setup(emulator, workdir, apply_demo_setup(emulator, workdir))
        allow_doctor_reads(running)
        yield running
