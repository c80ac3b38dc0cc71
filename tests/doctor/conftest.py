"""A real emulator set up well (the demo scenario), the admin's boto3 clients to break it with, and
`python -m service doctor` run as a subprocess with the broker's environment from `/_emulator/config`."""

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

from bench import stack as processes
from service.adapters.aws_clients import strip_account_prefix

ROOT = Path(__file__).resolve().parents[2]
READ_POLICY = ROOT / "examples" / "doctor" / "read-policy.json"
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

    @property
    def config(self) -> dict[str, Any]:
        return self.emulator.config

    @property
    def broker_env(self) -> dict[str, str]:
        return dict(self.config["broker_env"])

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
        return str(next(u["idc_user_id"] for u in self.config["users"] if u["username"] == username))

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


def allow_doctor_reads(setup: Setup) -> None:
    """Give the broker's IAM user the doctor's read policy (docs/doctor.md#permissions)."""
    setup.client("iam").put_user_policy(
        UserName=BROKER_USER, PolicyName="doctor-read", PolicyDocument=READ_POLICY.read_text()
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A demo emulator whose broker user may read what the doctor checks."""
    workdir = tmp_path_factory.mktemp("doctor")
    with processes.emulator(log_dir=workdir) as emulator:
        running = Setup(emulator, workdir)
        allow_doctor_reads(running)
        yield running
