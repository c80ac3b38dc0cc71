"""`tip-broker credential-process` as the AWS CLI runs it: credentials on stdout, or exactly one line on
stderr naming the cause and the fix, a non-zero exit and never a traceback."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from jose import jwt
from moto.utilities.utils import load_resource

from bench.stack import free_port
from tests.e2e.cli_user import cli_env, run_cli
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

ALICE_PREFIX = "s3://demo-data/users/alice/*"


def credential_process(stack: Stack, *extra: str, broker_url: str | None = None) -> list[str]:
    return ["credential-process", "--broker-url", broker_url or stack.broker_url, *extra]


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("tip-broker: ")
    return lines[0]


def write_token(path: Path, token: str) -> Path:
    path.write_text(token)
    path.chmod(0o600)
    return path


def expired_token_of(stack: Stack, username: str) -> str:
    """Return an ID token of the emulator's user pool, signed by its key, that expired an hour ago."""
    claims = jwt.get_unverified_claims(stack.sign_in(username))
    now = int(time.time())
    claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600, jti=str(uuid.uuid4()))
    key = load_resource("cognitoidp/resources/jwks-private.json")
    return str(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"}))


def test_credential_process_prints_version_1_credentials(stack: Stack, tmp_path: Path) -> None:
    token = write_token(tmp_path / "id-token", stack.sign_in("alice"))

    result = run_cli(
        credential_process(stack, "--target", ALICE_PREFIX, "--token-file", str(token)), cli_env(tmp_path)
    )

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["Version"] == 1
    assert set(body) >= {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    stack.handed_out += [body["SecretAccessKey"], body["SessionToken"]]
    assert result.stderr == ""


def test_credential_process_when_the_broker_is_down(stack: Stack, tmp_path: Path) -> None:
    token = write_token(tmp_path / "id-token", stack.sign_in("alice"))
    down = f"http://127.0.0.1:{free_port()}"

    result = run_cli(
        credential_process(stack, "--target", ALICE_PREFIX, "--token-file", str(token), broker_url=down),
        cli_env(tmp_path),
    )

    assert result.returncode != 0
    line = one_line(result.stderr)
    assert f"cannot reach the broker at {down}" in line
    assert "check --broker-url" in line
    assert result.stdout == ""


class _NotTheBroker(BaseHTTPRequestHandler):
    """Answers every POST 200 with an HTML page, as a proxy's login page or a wrong URL would."""

    def do_POST(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>hello</html>")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_credential_process_when_the_url_is_not_the_broker(stack: Stack, tmp_path: Path) -> None:
    token = write_token(tmp_path / "id-token", stack.sign_in("alice"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotTheBroker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        other = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_cli(
            credential_process(stack, "--target", ALICE_PREFIX, "--token-file", str(token), broker_url=other),
            cli_env(tmp_path),
        )
    finally:
        server.shutdown()
        server.server_close()

    assert result.returncode != 0
    assert "without a JSON object" in one_line(result.stderr)
    assert result.stdout == ""


def test_credential_process_when_not_signed_in(stack: Stack, tmp_path: Path) -> None:
    result = run_cli(credential_process(stack, "--target", ALICE_PREFIX), cli_env(tmp_path))

    assert result.returncode != 0
    line = one_line(result.stderr)
    assert "not signed in" in line
    assert "run `tip-broker login`" in line


def test_credential_process_when_the_token_has_expired(stack: Stack, tmp_path: Path) -> None:
    token = write_token(tmp_path / "id-token", expired_token_of(stack, "alice"))

    result = run_cli(
        credential_process(stack, "--target", ALICE_PREFIX, "--token-file", str(token)), cli_env(tmp_path)
    )

    assert result.returncode != 0
    line = one_line(result.stderr)
    assert "token has expired" in line
    assert "sign in again" in line
    assert token.read_text() not in result.stderr


def test_credential_process_when_the_sign_in_expired_and_the_refresh_token_is_refused(
    stack: Stack, tmp_path: Path
) -> None:
    store = tmp_path / "tip-broker" / "tokens.json"
    store.parent.mkdir(mode=0o700)
    record = {
        "issuer": stack.config["cognito"]["discovery_url"],
        "client_id": stack.config["cognito"]["client_id"],
        "token_endpoint": stack.config["cognito"]["token_endpoint"],
        "id_token": expired_token_of(stack, "alice"),
        "refresh_token": "revoked-or-unknown",
        "access_token": None,
        "expires_at": time.time() - 3600,
    }
    write_token(store, json.dumps(record))

    result = run_cli(credential_process(stack, "--target", ALICE_PREFIX), cli_env(tmp_path))

    assert result.returncode != 0
    line = one_line(result.stderr)
    assert "your sign-in has expired (the issuer refused the refresh token: invalid_grant)" in line
    assert "run `tip-broker login`" in line


def test_credential_process_when_access_is_denied(stack: Stack, tmp_path: Path) -> None:
    token = write_token(tmp_path / "id-token", stack.sign_in("alice"))

    result = run_cli(
        credential_process(stack, "--target", "s3://demo-data/users/bob/*", "--token-file", str(token)),
        cli_env(tmp_path),
    )

    assert result.returncode != 0
    line = one_line(result.stderr)
    assert line.startswith("tip-broker: access denied (")
    assert "READ on s3://demo-data/users/bob/*" in line
    assert "GET /v1/grants" in line
    assert result.stdout == ""


def test_credential_process_when_the_token_variable_is_empty(stack: Stack, tmp_path: Path) -> None:
    result = run_cli(
        credential_process(stack, "--target", ALICE_PREFIX, "--token-env", "MY_TOKEN"),
        cli_env(tmp_path, MY_TOKEN=""),
    )

    assert result.returncode != 0
    assert "no ID token in $MY_TOKEN" in one_line(result.stderr)


def test_credential_process_reads_tipb_id_token_when_set(stack: Stack, tmp_path: Path) -> None:
    result = run_cli(
        credential_process(stack, "--target", ALICE_PREFIX),
        cli_env(tmp_path, TIPB_ID_TOKEN=stack.sign_in("alice")),
    )

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    stack.handed_out += [body["SecretAccessKey"], body["SessionToken"]]
