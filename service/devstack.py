"""`tip-broker dev`: the local emulator with a scenario, and the broker configured against it."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import httpx

from service.app import create_app
from service.logs import configure_logging
from service.server import run_server
from service.settings import ConfigurationError, load_settings

READY_TIMEOUT_SECONDS = 60.0


def start_emulator(host: str, port: int, scenario: str | None) -> subprocess.Popen[bytes]:
    """Start ``python -m emulator`` as a child process."""
    command = [sys.executable, "-m", "emulator", "--host", host, "--port", str(port)]
    if scenario:
        command += ["--scenario", scenario]
    return subprocess.Popen(command)  # noqa: S603 - our own interpreter and module


def wait_for_config(base_url: str, process: subprocess.Popen[bytes] | None) -> dict[str, object]:
    """Poll the emulator until it serves its configuration, or raise RuntimeError."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the emulator exited with status {process.returncode}")
        try:
            response = httpx.get(f"{base_url}/_emulator/config", timeout=2)
            if response.status_code == 200:
                config: dict[str, object] = response.json()
                return config
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the emulator did not answer within {READY_TIMEOUT_SECONDS:.0f} s")


def instructions(broker_url: str, emulator_url: str, config: dict[str, object]) -> str:
    """Return the how-to-try-it text printed once both processes run."""
    users = config.get("users", [])
    first = users[0] if isinstance(users, list) and users else {}
    username = first.get("username", "alice") if isinstance(first, dict) else "alice"
    password = first.get("password", "") if isinstance(first, dict) else ""
    who = ", ".join(
        f"{u.get('username')} (groups: {', '.join(u.get('groups', [])) or '-'})"
        for u in (users if isinstance(users, list) else [])
        if isinstance(u, dict)
    )
    return f"""
tip-broker dev stack
  broker    {broker_url}   (docs: {broker_url}/docs)
  emulator  {emulator_url}  (AWS endpoint; admin: {emulator_url}/_emulator/calls)
  users     {who}

1. Sign in as a demo user (Cognito InitiateAuth through the emulator) and keep the ID token:
   TOKEN=$(curl -s -X POST {emulator_url}/_emulator/login -H 'Content-Type: application/json' \\
     -d '{{"username": "{username}", "password": "{password}"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id_token"])')

2. Fetch S3 credentials scoped to that user's grant:
   curl -s -X POST {broker_url}/v1/credentials -H "Authorization: Bearer $TOKEN" \\
     -H 'Content-Type: application/json' -d '{{"target": "s3://demo-data/users/{username}/*", "permission": "READ"}}'

3. Fetch a presigned URL and download through it:
   URL=$(curl -s -X POST {broker_url}/v1/presign -H "Authorization: Bearer $TOKEN" \\
     -H 'Content-Type: application/json' \\
     -d '{{"bucket": "demo-data", "key": "users/{username}/notes.txt", "method": "GET"}}' \\
     | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
   curl -s "$URL"
"""


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_dev_stack(
    *, host: str, port: int, emulator_port: int, scenario: str | None, emulator_url: str | None = None
) -> int:
    """Run the broker against a started (or, with ``emulator_url``, a running) emulator until interrupted."""
    # A SIGTERM while the emulator starts must still reach the finally below that stops it (the default
    # handler would kill this process first); while the broker serves, run_server takes the signal.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    process = None if emulator_url else start_emulator(host, emulator_port, scenario)
    emulator_url = emulator_url or f"http://{host}:{emulator_port}"
    try:
        config = wait_for_config(emulator_url, process)
        broker_env = config.get("broker_env", {})
        if isinstance(broker_env, dict):
            os.environ.update({k: str(v) for k, v in broker_env.items()})
        if os.environ.get("BROKER_REDIS_URL") and not os.environ.get("BROKER_CACHE_KEY"):
            # A throw-away key: the dev stack's Redis entries need not outlive this process.
            os.environ["BROKER_CACHE_KEY"] = base64.b64encode(os.urandom(32)).decode()
        os.environ.setdefault("BROKER_LOG_FORMAT", "console")
        settings = load_settings()
        settings.check()
        configure_logging(settings.log_format, settings.log_level)
        print(instructions(f"http://{host}:{port}", emulator_url, config), flush=True)
        return run_server(create_app(settings), settings, host=host, port=port)
    except (RuntimeError, ConfigurationError) as exc:
        print(f"tip-broker dev: {exc}", file=sys.stderr)
        return 1
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
