"""An empty emulator per test (an account before setup), the CLI run in process against it, boto3 to look."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from emulator.server import EmulatorServer
from service.__main__ import main
from service.adapters.aws_clients import strip_account_prefix

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "setup" / "demo.yaml"


@dataclass
class Result:
    """What one `tip-broker setup …` run printed and returned."""

    status: int
    out: str
    err: str


@dataclass
class Account:
    """The emulated account and the admin's view of it."""

    emulator: EmulatorServer
    config: dict[str, Any]

    @property
    def url(self) -> str:
        return self.emulator.url

    @property
    def store_id(self) -> str:
        return str(self.config["identity_center"]["identity_store_id"])

    @property
    def instance_arn(self) -> str:
        return str(self.config["identity_center"]["instance_arn"])

    def client(self, service: str) -> Any:
        admin = self.config["admin"]
        client = boto3.client(
            service,
            region_name=self.config["region"],
            endpoint_url=self.url,
            aws_access_key_id=admin["access_key_id"],
            aws_secret_access_key=admin["secret_access_key"],
        )
        if service == "s3control":
            client.meta.events.register("before-sign.s3-control", strip_account_prefix)
        return client

    def setup(self, command: str, file: Path = DEMO, *extra: str) -> Result:
        """Run `tip-broker setup <command> --file <file>` in this process."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["setup", command, "--file", str(file), *extra])
        return Result(status, out.getvalue(), err.getvalue())

    def fail(self, operation: str) -> None:
        """Make every call of ``operation`` fail (a non-retryable error) until ``heal``."""
        body = {"operation": operation, "error": "InjectedFault"}
        httpx.post(f"{self.url}/_emulator/faults", json=body, timeout=5).raise_for_status()

    def heal(self) -> None:
        """Remove every injected fault."""
        httpx.delete(f"{self.url}/_emulator/faults", timeout=5).raise_for_status()

    def inventory(self) -> dict[str, list[str]]:
        """Return, through boto3 list calls, everything a setup can create in the account."""
        sso, ids, iam, s3c = (self.client(s) for s in ("sso-admin", "identitystore", "iam", "s3control"))
        account = self.config["account_id"]
        instances = s3c.list_access_grants_instances(AccountId=account)["AccessGrantsInstancesList"]
        has_instance = bool(instances)
        return {
            "applications": [
                a["Name"] for a in sso.list_applications(InstanceArn=self.instance_arn)["Applications"]
            ],
            "issuers": [
                t["Name"]
                for t in sso.list_trusted_token_issuers(InstanceArn=self.instance_arn)["TrustedTokenIssuers"]
            ],
            "users": sorted(u["UserName"] for u in ids.list_users(IdentityStoreId=self.store_id)["Users"]),
            "groups": sorted(
                g["DisplayName"] for g in ids.list_groups(IdentityStoreId=self.store_id)["Groups"]
            ),
            "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
            "instances": [i["AccessGrantsInstanceArn"] for i in instances],
            "locations": sorted(
                loc["LocationScope"]
                for loc in s3c.list_access_grants_locations(AccountId=account)["AccessGrantsLocationsList"]
            )
            if has_instance
            else [],
            "grants": sorted(
                g["GrantScope"] for g in s3c.list_access_grants(AccountId=account)["AccessGrantsList"]
            )
            if has_instance
            else [],
        }


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    """Start an empty emulator and point the standard AWS variables at it with the admin's key."""
    server = EmulatorServer(port=0, empty=True).start()
    try:
        config = httpx.get(f"{server.url}/_emulator/config", timeout=5).json()
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        monkeypatch.setenv("AWS_REGION", config["region"])
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", config["admin"]["access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", config["admin"]["secret_access_key"])
        monkeypatch.setenv("TIPB_DEMO_POOL_ID", config["cognito"]["user_pool_id"])
        monkeypatch.setenv("TIPB_DEMO_CLIENT_ID", config["cognito"]["client_id"])
        yield Account(server, config)
    finally:
        server.stop()
