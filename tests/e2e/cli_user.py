"""A person at a terminal: runs `python -m service <client command>` as a subprocess and, for `login`,
plays the browser against the emulator's sign-in form with httpx."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from bench.stack import ROOT

PASSWORDS = {"alice": "Alice-Passw0rd!", "bob": "Bob-Passw0rd!", "carol": "Carol-Passw0rd!"}


def cli_env(config_home: Path, **extra: str) -> dict[str, str]:
    """Return an environment without AWS, broker or token variables, with the worktree importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "BROKER_", "TIPB_", "TIP_BROKER_", "XDG_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env["XDG_CONFIG_HOME"] = str(config_home)
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m service …` to completion."""
    return subprocess.run(  # noqa: S603 - our own CLI with test-chosen arguments
        [sys.executable, "-m", "service", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `python -m service …` with stdout and stderr piped."""
    return subprocess.Popen(  # noqa: S603 - our own CLI with test-chosen arguments
        [sys.executable, "-m", "service", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def login_args(config: dict[str, Any], *extra: str) -> list[str]:
    """Return `login` arguments for the emulator's user pool, without opening a browser."""
    cognito = config["cognito"]
    return [
        "login",
        "--issuer",
        cognito["discovery_url"],
        "--client-id",
        cognito["client_id"],
        "--no-browser",
        *extra,
    ]


def sign_in_url(process: subprocess.Popen[str]) -> str:
    """Read `login`'s stderr until it prints the URL to open."""
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("http"):
            return line.strip()
    raise AssertionError(f"login printed no URL; exit code {process.wait(timeout=10)}")


def browse_sign_in(url: str, username: str, password: str | None = None) -> httpx.Response:
    """Open the sign-in form, submit it, follow the redirect to the CLI's loopback listener."""
    with httpx.Client(timeout=10) as browser:
        form = browser.get(url)
        assert form.status_code == 200, form.text
        assert 'name="password"' in form.text
        submitted = browser.post(
            url, data={"username": username, "password": password or PASSWORDS[username]}
        )
        assert submitted.status_code == 302, submitted.text
        location = submitted.headers["location"]
        assert location.startswith(("http://127.0.0.1:", "http://localhost:"))
        return browser.get(location)


def log_in(config: dict[str, Any], env: dict[str, str], username: str) -> subprocess.CompletedProcess[str]:
    """Run `tip-broker login` and sign in as `username` the way a browser would."""
    process = start_cli(login_args(config, "--timeout", "60"), env)
    try:
        landing = browse_sign_in(sign_in_url(process), username)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert landing.status_code == 200
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
