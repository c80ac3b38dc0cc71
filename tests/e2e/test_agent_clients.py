"""Stock clients through `tip-broker agent` and `credential_process`, with no code of ours in their
process: boto3 in a separate interpreter and the AWS CLI (PyPI `awscli`), against the emulator."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.clients.agent import CredentialCache
from service.clients.broker_api import BrokerCredentials
from tests.e2e.cli_user import cli_env, log_in, start_cli
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

ALICE_PREFIX = "s3://demo-data/users/alice/*"
AWS_CLI = Path(sys.executable).with_name("aws")
RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

# Runs in a separate interpreter: stock boto3 only, credentials from the container provider.
BOTO3_SCRIPT = """
import json, sys
import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")
listed = s3.list_objects_v2(Bucket="demo-data", Prefix="users/alice/")
body = s3.get_object(Bucket="demo-data", Key="users/alice/notes.txt")["Body"].read().decode()
try:
    s3.get_object(Bucket="demo-data", Key="users/bob/todo.txt")
    outside = "allowed"
except ClientError as err:
    outside = err.response["Error"]["Code"]
method = boto3.Session().get_credentials().method
ours = sorted(m for m in sys.modules if m.split(".")[0] in ("service", "emulator", "bench", "tests"))
print(json.dumps({"keys": [o["Key"] for o in listed.get("Contents", [])], "body": body,
                  "outside": outside, "method": method, "ours": ours}))
"""


@dataclass
class RunningAgent:
    """An agent subprocess and the environment it printed."""

    process: subprocess.Popen[str]
    exports: dict[str, str]

    @property
    def url(self) -> str:
        return self.exports["AWS_CONTAINER_CREDENTIALS_FULL_URI"]


def read_exports(process: subprocess.Popen[str], count: int = 2, timeout: float = 30) -> dict[str, str]:
    """Read the agent's first stdout lines, `export NAME=value`."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: list[str] = []

    def read() -> None:
        while len(lines) < count and (line := stdout.readline()):
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if len(lines) < count:
        process.kill()
        _, stderr = process.communicate(timeout=10)
        raise AssertionError(f"the agent printed {lines!r} then exit code {process.returncode}: {stderr}")
    exports = {}
    for line in lines:
        name, _, value = line.strip().removeprefix("export ").partition("=")
        exports[name] = value
    return exports


@pytest.fixture
def run_agent(stack: Stack, tmp_path: Path) -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> RunningAgent:
        argv = ["agent", "--broker-url", stack.broker_url, *args]
        process = start_cli(argv, env or cli_env(tmp_path))
        started.append(process)
        return RunningAgent(process, read_exports(process))

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)


def alice_token_file(stack: Stack, tmp_path: Path) -> str:
    path = tmp_path / "alice-id-token"
    path.write_text(stack.sign_in("alice"))
    path.chmod(0o600)
    return str(path)


def stock_env(stack: Stack, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Return a clean environment for a stock AWS client: the emulator's S3, no other credentials."""
    for name in ("aws-config", "aws-credentials"):
        (tmp_path / name).touch()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AWS_REGION": stack.emulator.region,
        "AWS_ENDPOINT_URL_S3": stack.emulator_url,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(extra)
    return env


def run_stock(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603


def remember_secrets(stack: Stack, agent: RunningAgent, *id_tokens: str) -> None:
    """Learn the secrets served (the stack checks none reached the broker's log); stop the agent and check
    none, nor its own token or an ID token, reached the agent's output."""
    token = agent.exports["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    body = httpx.get(agent.url, headers={"Authorization": token}, timeout=10).json()
    stack.handed_out += [body["SecretAccessKey"], body["Token"]]
    agent.process.send_signal(signal.SIGTERM)
    rest, stderr = agent.process.communicate(timeout=10)
    for secret in (body["SecretAccessKey"], body["Token"], token, *id_tokens):
        assert secret not in stderr + rest


def test_agent_prints_the_container_environment_first(
    run_agent: object, stack: Stack, tmp_path: Path
) -> None:
    agent = run_agent("--target", ALICE_PREFIX, "--token-file", alice_token_file(stack, tmp_path))  # type: ignore[operator]

    assert list(agent.exports) == ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/credentials", agent.url)
    assert len(agent.exports["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) >= 32
    assert listening_addresses(int(agent.url.split(":")[2].split("/")[0])) == {"127.0.0.1"}


def listening_addresses(port: int) -> set[str]:
    """Return the local IPv4/IPv6 addresses a TCP socket listens on for `port` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(
                    ".".join(str(b) for b in reversed(bytes.fromhex(address)))
                    if len(address) == 8
                    else address
                )
    return found


def test_agent_serves_credentials_to_its_token_only(run_agent: object, stack: Stack, tmp_path: Path) -> None:
    agent = run_agent("--target", ALICE_PREFIX, "--token-file", alice_token_file(stack, tmp_path))  # type: ignore[operator]
    token = agent.exports["AWS_CONTAINER_AUTHORIZATION_TOKEN"]

    missing = httpx.get(agent.url, timeout=10)
    wrong = httpx.get(
        agent.url, headers={"Authorization": token[:-1] + ("x" if token[-1] != "x" else "y")}, timeout=10
    )
    served = httpx.get(agent.url, headers={"Authorization": token}, timeout=10)

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert served.status_code == 200, served.text
    body = served.json()
    stack.handed_out += [body["SecretAccessKey"], body["Token"]]
    assert set(body) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert RFC3339_Z.fullmatch(body["Expiration"])
    assert body["AccessKeyId"].startswith("ASIA")


def test_agent_writes_the_token_to_a_private_file_with_token_out(
    run_agent: object, stack: Stack, tmp_path: Path
) -> None:
    out = tmp_path / "agent-token"
    agent = run_agent(  # type: ignore[operator]
        "--target", ALICE_PREFIX, "--token-file", alice_token_file(stack, tmp_path), "--token-out", str(out)
    )

    assert agent.exports["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == str(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    served = httpx.get(agent.url, headers={"Authorization": out.read_text()}, timeout=10)
    assert served.status_code == 200
    stack.handed_out += [served.json()["SecretAccessKey"], served.json()["Token"]]
    agent.process.send_signal(signal.SIGTERM)
    agent.process.wait(timeout=10)
    assert not out.exists()


def test_agent_maps_a_broker_refusal_to_a_clear_error(
    run_agent: object, stack: Stack, tmp_path: Path
) -> None:
    agent = run_agent(
        "--target", "s3://demo-data/users/bob/*", "--token-file", alice_token_file(stack, tmp_path)
    )  # type: ignore[operator]
    token = agent.exports["AWS_CONTAINER_AUTHORIZATION_TOKEN"]

    refused = httpx.get(agent.url, headers={"Authorization": token}, timeout=10)
    agent.process.send_signal(signal.SIGTERM)
    _, stderr = agent.process.communicate(timeout=10)

    assert refused.status_code == 403
    assert refused.json()["code"] == "broker_refused"
    assert refused.json()["message"].startswith("access denied (")
    refusals = [line for line in stderr.splitlines() if "access denied" in line]
    assert len(refusals) == 1  # the prefetch and the request failed alike: reported once
    assert "Traceback" not in stderr
    assert token not in stderr


def test_agent_refuses_to_start_when_nobody_is_signed_in(stack: Stack, tmp_path: Path) -> None:
    process = start_cli(
        ["agent", "--broker-url", stack.broker_url, "--target", ALICE_PREFIX], cli_env(tmp_path)
    )
    stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 1
    assert stdout == ""
    assert stderr.strip().startswith("tip-broker: not signed in")
    assert len(stderr.strip().splitlines()) == 1


def test_credential_cache_refetches_only_within_the_margin(stack: Stack) -> None:
    calls: list[int] = []
    token = stack.sign_in("alice")

    def counted() -> str:
        calls.append(1)
        return token

    with httpx.Client(timeout=30) as http:
        broker = BrokerCredentials(stack.broker_url, ALICE_PREFIX, "READ", counted, http=http)
        kept, renewed = (
            CredentialCache(broker, margin_seconds=0),
            CredentialCache(broker, margin_seconds=10**6),
        )

        kept.get(), kept.get()
        assert len(calls) == 1
        renewed.get(), renewed.get()
        assert len(calls) == 3
    stack.handed_out += [kept.get()["SecretAccessKey"], kept.get()["Token"]]


def test_stock_boto3_lists_and_gets_through_the_agent_of_a_signed_in_user(
    run_agent: object, stack: Stack, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    log_in(stack.config, cli_env(home), "alice")
    agent = run_agent("--target", ALICE_PREFIX, env=cli_env(home))  # type: ignore[operator]

    result = run_stock(
        [sys.executable, "-c", BOTO3_SCRIPT], stock_env(stack, tmp_path, **agent.exports), tmp_path
    )

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["keys"] == ["users/alice/notes.txt", "users/alice/reports/2024.csv"]
    assert seen["body"] == "alice's notes\n"
    assert seen["outside"] == "AccessDenied"
    assert seen["method"] == "container-role"
    assert seen["ours"] == []
    remember_secrets(stack, agent, json.loads((home / "tip-broker" / "tokens.json").read_text())["id_token"])


def test_aws_cli_lists_and_copies_through_the_agent(run_agent: object, stack: Stack, tmp_path: Path) -> None:
    token_file = alice_token_file(stack, tmp_path)
    agent = run_agent("--target", ALICE_PREFIX, "--token-file", token_file)  # type: ignore[operator]
    env = stock_env(stack, tmp_path, **agent.exports)

    listed = run_stock([str(AWS_CLI), "s3", "ls", "s3://demo-data/users/alice/"], env, tmp_path)
    copied = run_stock([str(AWS_CLI), "s3", "cp", "s3://demo-data/users/alice/notes.txt", "-"], env, tmp_path)
    refused = run_stock([str(AWS_CLI), "s3", "cp", "s3://demo-data/users/bob/todo.txt", "-"], env, tmp_path)

    assert listed.returncode == 0, listed.stderr
    assert "notes.txt" in listed.stdout
    assert "PRE reports/" in listed.stdout
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout == "alice's notes\n"
    assert refused.returncode != 0
    assert "403" in refused.stderr or "AccessDenied" in refused.stderr
    remember_secrets(stack, agent, Path(token_file).read_text())


def test_aws_cli_copies_through_a_credential_process_profile(stack: Stack, tmp_path: Path) -> None:
    token_file = alice_token_file(stack, tmp_path)
    command = (
        f"env PYTHONPATH={cli_env(tmp_path)['PYTHONPATH']} {sys.executable} -m service credential-process "
        f"--broker-url {stack.broker_url} --target {ALICE_PREFIX} --token-file {token_file}"
    )
    env = stock_env(stack, tmp_path, AWS_PROFILE="tip")
    Path(env["AWS_CONFIG_FILE"]).write_text(
        f"[profile tip]\ncredential_process = {command}\nregion = us-east-1\n"
    )

    listed = run_stock([str(AWS_CLI), "s3", "ls", "s3://demo-data/users/alice/"], env, tmp_path)
    copied = run_stock(
        [str(AWS_CLI), "s3", "cp", "s3://demo-data/users/alice/reports/2024.csv", "-"], env, tmp_path
    )
    refused = run_stock([str(AWS_CLI), "s3", "ls", "s3://demo-data/users/bob/"], env, tmp_path)

    assert listed.returncode == 0, listed.stderr
    assert "notes.txt" in listed.stdout
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout == "year,total\n2024,42\n"
    assert refused.returncode != 0
    assert "AccessDenied" in refused.stderr
