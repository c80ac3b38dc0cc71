"""Fixtures: one emulator per test module, boto3 clients pointed at it, and a logged-in user's exchange."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config

from emulator.server import EmulatorServer

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDC_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
S3_CONFIG = Config(
    signature_version="s3v4", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}
)


def strip_account_prefix(request: Any, **_: Any) -> None:
    """Drop the `{AccountId}.` host prefix botocore adds to s3control URLs (docs/aws.md#s3-control-wire)."""
    acct = request.headers.get("x-amz-account-id")
    acct = acct.decode() if isinstance(acct, bytes) else acct
    parts = urlsplit(request.url)
    if acct and parts.netloc.startswith(acct + "."):
        request.url = urlunsplit(parts._replace(netloc=parts.netloc[len(acct) + 1 :]))


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def config(emulator: EmulatorServer) -> dict[str, Any]:
    return admin_get(emulator, "/_emulator/config")


def admin_get(emulator: EmulatorServer, path: str) -> Any:
    with urllib.request.urlopen(emulator.url + path) as resp:  # noqa: S310 - loopback test server
        return json.loads(resp.read())


def admin_call(emulator: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emulator.url + path, data=data, method=method)  # noqa: S310
    with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback test server
        return json.loads(resp.read())


class AdminApi:
    """JSON calls to the emulator's `/_emulator/` surface."""

    def __init__(self, emulator: EmulatorServer) -> None:
        self.emulator = emulator

    def get(self, path: str) -> Any:
        return admin_get(self.emulator, path)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return admin_call(self.emulator, method, path, body)


@pytest.fixture(scope="module")
def admin_api(emulator: EmulatorServer) -> AdminApi:
    return AdminApi(emulator)


def session_for(
    config: dict[str, Any], key: str, secret: str, token: str | None = None
) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=config["region"],
    )


@pytest.fixture(scope="module")
def make_session(config: dict[str, Any]) -> Callable[..., boto3.session.Session]:
    """Return `make_session(key, secret, token=None)`; `key` may also be a Credentials dict."""

    def make(key: Any, secret: str | None = None, token: str | None = None) -> boto3.session.Session:
        if isinstance(key, dict):
            return session_for(config, key["AccessKeyId"], key["SecretAccessKey"], key["SessionToken"])
        return session_for(config, key, secret or "", token)

    return make


@pytest.fixture(scope="module")
def broker(config: dict[str, Any]) -> boto3.session.Session:
    env = config["broker_env"]
    return session_for(config, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])


@pytest.fixture(scope="module")
def admin(config: dict[str, Any]) -> boto3.session.Session:
    return session_for(config, config["admin"]["access_key_id"], config["admin"]["secret_access_key"])


@pytest.fixture(scope="module")
def client_for(emulator: EmulatorServer) -> Callable[..., Any]:
    def make(session: boto3.session.Session, service: str, **kwargs: Any) -> Any:
        if service == "s3":
            kwargs.setdefault("config", S3_CONFIG)
        else:
            kwargs.setdefault("config", Config(retries={"total_max_attempts": 1}))
        client = session.client(service, endpoint_url=emulator.url, **kwargs)
        if service == "s3control":
            client.meta.events.register("before-sign.s3-control", strip_account_prefix)
        return client

    return make


@pytest.fixture(scope="module")
def login(emulator: EmulatorServer) -> Callable[[str], str]:
    passwords = {u["username"]: u["password"] for u in admin_get(emulator, "/_emulator/config")["users"]}

    def id_token(username: str) -> str:
        body = admin_call(
            emulator, "POST", "/_emulator/login", {"username": username, "password": passwords[username]}
        )
        return str(body["id_token"])

    return id_token


@pytest.fixture(scope="module")
def exchange(
    config: dict[str, Any],
    broker: boto3.session.Session,
    client_for: Callable[..., Any],
    login: Callable[[str], str],
) -> Callable[..., dict[str, Any]]:
    """Return `exchange(username) -> CreateTokenWithIAM response` for a fresh Cognito ID token."""
    oidc = client_for(broker, "sso-oidc")

    def run(username: str) -> dict[str, Any]:
        return dict(
            oidc.create_token_with_iam(
                clientId=config["broker_env"]["BROKER_IDC_APPLICATION_ARN"],
                grantType=JWT_BEARER,
                assertion=login(username),
            )
        )

    return run


@pytest.fixture(scope="module")
def user_session(
    config: dict[str, Any],
    broker: boto3.session.Session,
    client_for: Callable[..., Any],
    exchange: Callable[..., dict[str, Any]],
) -> Callable[[str], boto3.session.Session]:
    """Return `user_session(username)`: an identity-enhanced role session for that user."""
    sts = client_for(broker, "sts")

    def run(username: str) -> boto3.session.Session:
        ctx = exchange(username)["awsAdditionalDetails"]["identityContext"]
        creds = sts.assume_role(
            RoleArn=config["broker_env"]["BROKER_IDENTITY_BEARER_ROLE_ARN"],
            RoleSessionName=f"tip-{username}",
            DurationSeconds=900,
            ProvidedContexts=[{"ProviderArn": IDC_PROVIDER, "ContextAssertion": ctx}],
        )["Credentials"]
        return session_for(config, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    return run
