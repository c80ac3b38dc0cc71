"""`tip-broker login` / `logout` end to end: the emulator's hosted UI driven as a browser would, the token
file's permissions and contents, refresh with the issuer's refresh token."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import httpx
import pytest
from jose import jwt

from bench.stack import free_port
from tests.e2e.cli_user import browse_sign_in, cli_env, log_in, login_args, run_cli, sign_in_url, start_cli
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def token_file(home: Path) -> Path:
    return home / "tip-broker" / "tokens.json"


def test_login_stores_the_tokens_in_a_file_only_the_user_can_read(stack: Stack, tmp_path: Path) -> None:
    result = log_in(stack.config, cli_env(tmp_path), "alice")

    assert result.returncode == 0, result.stderr
    path = token_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored["issuer"] == stack.config["cognito"]["discovery_url"]
    assert stored["client_id"] == stack.config["cognito"]["client_id"]
    assert stored["token_endpoint"] == stack.config["cognito"]["token_endpoint"]
    assert stored["refresh_token"]
    assert stored["expires_at"] > time.time() + 600
    claims = jwt.get_unverified_claims(stored["id_token"])
    assert claims["email"] == "alice@example.com"
    assert claims["iss"] == stack.config["broker_env"]["BROKER_OIDC_ISSUER"]
    assert "Signed in" in result.stderr
    assert stored["id_token"] not in result.stderr + result.stdout
    assert stored["refresh_token"] not in result.stderr + result.stdout


def test_login_token_is_accepted_by_the_broker(stack: Stack, tmp_path: Path) -> None:
    log_in(stack.config, cli_env(tmp_path), "bob")
    id_token = json.loads(token_file(tmp_path).read_text())["id_token"]

    with stack.broker(id_token) as client:
        me = client.get("/v1/me")

    assert me.status_code == 200, me.text
    assert me.json()["username"] == "bob"


def test_login_refreshes_the_id_token_when_it_nears_expiry(stack: Stack, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    log_in(stack.config, env, "alice")
    path = token_file(tmp_path)
    before = json.loads(path.read_text())
    path.write_text(json.dumps({**before, "expires_at": time.time() + 10}))

    result = run_cli(
        ["credential-process", "--broker-url", stack.broker_url, "--target", "s3://demo-data/users/alice/*"],
        env,
    )

    assert result.returncode == 0, result.stderr
    after = json.loads(path.read_text())
    assert after["id_token"] != before["id_token"]
    assert after["refresh_token"] == before["refresh_token"]
    assert after["expires_at"] > time.time() + 600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_login_redirects_to_a_registered_localhost_port(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    args = login_args(
        stack.config, "--redirect-host", "localhost", "--redirect-port", str(port), "--timeout", "60"
    )
    process = start_cli(args, cli_env(tmp_path))
    try:
        url = sign_in_url(process)
        landing = browse_sign_in(url, "alice")
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert f"redirect_uri=http%3A%2F%2Flocalhost%3A{port}%2Fcallback" in url
    assert landing.status_code == 200
    assert process.returncode == 0, stderr
    assert token_file(tmp_path).exists()


def test_logout_removes_the_token_file(stack: Stack, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    log_in(stack.config, env, "carol")

    first = run_cli(["logout"], env)
    second = run_cli(["logout"], env)

    assert first.returncode == 0
    assert not token_file(tmp_path).exists()
    assert "Signed out" in first.stderr
    assert "Not signed in" in second.stderr


def test_login_with_a_wrong_password_then_the_right_one_signs_in(stack: Stack, tmp_path: Path) -> None:
    process = start_cli(login_args(stack.config, "--timeout", "60"), cli_env(tmp_path))
    try:
        url = sign_in_url(process)
        with httpx.Client(timeout=10) as browser:
            refused = browser.post(url, data={"username": "alice", "password": "not-it"})
        landing = browse_sign_in(url, "alice")
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert "Incorrect username or password." in refused.text
    assert landing.status_code == 200
    assert process.returncode == 0, stderr


def test_login_refused_by_the_issuer_prints_one_line(stack: Stack, tmp_path: Path) -> None:
    process = start_cli(
        login_args(stack.config, "--scope", "openid admin", "--timeout", "60"), cli_env(tmp_path)
    )
    try:
        url = sign_in_url(process)
        with httpx.Client(timeout=10) as browser:
            redirect = browser.get(url).headers["location"]  # invalid_scope: straight back with an error
            browser.get(redirect)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("tip-broker: the issuer refused the sign-in (invalid_scope")
    assert "Traceback" not in stderr
    assert not token_file(tmp_path).exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--issuer", "http://127.0.0.1:{port}/nowhere", "--client-id", "x"],
            "cannot read the issuer's discovery",
        ),
        (["--client-id", "x"], "no --issuer"),
    ],
)
def test_login_without_a_usable_issuer_prints_one_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    argv = ["login", "--no-browser", *[a.format(port=free_port()) for a in args]]

    result = run_cli(argv, cli_env(tmp_path))

    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"tip-broker: {expected}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_login_gives_up_when_nobody_signs_in(stack: Stack, tmp_path: Path) -> None:
    result = run_cli(login_args(stack.config, "--timeout", "1"), cli_env(tmp_path))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("tip-broker: no sign-in arrived within 1 s")
    assert "Traceback" not in result.stderr
