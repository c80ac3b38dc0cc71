"""`tip-broker dev`: the local emulator, the demo set up on it by `tip-broker setup`, the broker, the demo page.

By default the emulator starts empty (`--empty`: IdP, broker key, buckets) and `setup apply` of
examples/setup/demo.yaml creates the rest; with an explicit scenario (or an emulator already seeded) the
broker is configured from the emulator's own `broker_env`.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import httpx
from botocore.exceptions import BotoCoreError, ClientError
from dotenv import dotenv_values

from service.app import create_app
from service.demo_site import DEMO_PAGE_DIR, DemoSite, bucket_cors_rules
from service.logs import configure_logging
from service.server import run_server
from service.settings import ConfigurationError, load_settings
from service.setup.document import load_document
from service.setup.validation import validate

READY_TIMEOUT_SECONDS = 60.0
DEMO_SETUP = Path(__file__).resolve().parents[1] / "examples" / "setup" / "demo.yaml"
# Vite's dev server (examples/storage-browser: `npm run dev`) under both loopback names.
STORAGE_BROWSER_DEV_ORIGINS = ["http://localhost:5173", "http://127.0.0.1:5173"]


def start_emulator(
    host: str, port: int, scenario: str | None, tls_port: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m emulator`` as a child process: empty unless a scenario is named; HTTPS too on ``tls_port``."""
    command = [sys.executable, "-m", "emulator", "--host", host, "--port", str(port)]
    if tls_port is not None:
        command += ["--tls-port", str(tls_port)]
    if scenario:
        command += ["--scenario", scenario]
    else:
        command.append("--empty")
    return subprocess.Popen(command)  # noqa: S603 - our own interpreter and module


def apply_demo_setup(
    emulator_url: str, config: dict[str, Any], setup_file: Path = DEMO_SETUP
) -> dict[str, str]:
    """Run `tip-broker setup apply` of the demo file on an empty emulator; return the broker's settings.

    Raises:
        RuntimeError: the setup failed (its own output says why).
    """
    admin = config["admin"]
    cognito = config["cognito"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BROKER_"))},
        "AWS_ENDPOINT_URL": emulator_url,
        "AWS_REGION": str(config["region"]),
        "AWS_ACCESS_KEY_ID": str(admin["access_key_id"]),
        "AWS_SECRET_ACCESS_KEY": str(admin["secret_access_key"]),
        "TIPB_DEMO_POOL_ID": str(cognito["user_pool_id"]),
        "TIPB_DEMO_CLIENT_ID": str(cognito["client_id"]),
    }
    with tempfile.TemporaryDirectory(prefix="tipb-dev-") as workdir:
        env_out = Path(workdir) / "broker.env"
        command = [sys.executable, "-m", "service", "setup", "apply", "--file", str(setup_file)]
        finished = subprocess.run([*command, "--env-out", str(env_out)], env=env, check=False)  # noqa: S603
        if finished.returncode != 0:
            raise RuntimeError(f"setup apply --file {setup_file} failed (exit {finished.returncode})")
        settings = {k: v for k, v in dotenv_values(env_out).items() if v is not None}
    # The emulator's config lists no groups once empty: show the ones the setup file gave each user.
    spec = validate(load_document(setup_file, environ=env), str(setup_file))
    groups = {user.user_name: list(user.groups) for user in spec.users}
    for user in config.get("users", []):
        user["groups"] = groups.get(user.get("username"), [])
    return settings


def wait_for_config(base_url: str, process: subprocess.Popen[bytes] | None) -> dict[str, Any]:
    """Poll the emulator until it serves its configuration, or raise RuntimeError."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the emulator exited with status {process.returncode}")
        try:
            response = httpx.get(f"{base_url}/_emulator/config", timeout=2)
            if response.status_code == 200:
                config: dict[str, Any] = response.json()
                return config
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the emulator did not answer within {READY_TIMEOUT_SECONDS:.0f} s")


def allow_browser_origins(emulator_url: str, config: dict[str, object], origins: list[str]) -> None:
    """Let browser apps at ``origins`` call the broker and every emulator bucket (CORS on both)."""
    configured = [o for o in os.environ.get("BROKER_CORS_ALLOW_ORIGINS", "").split(",") if o]
    os.environ["BROKER_CORS_ALLOW_ORIGINS"] = ",".join(dict.fromkeys(configured + origins))
    admin = config.get("admin")
    admin = admin if isinstance(admin, dict) else {}
    s3 = boto3.client(
        "s3",
        region_name=str(config.get("region")),
        endpoint_url=emulator_url,
        aws_access_key_id=admin.get("access_key_id"),
        aws_secret_access_key=admin.get("secret_access_key"),
    )
    try:
        for bucket in s3.list_buckets()["Buckets"]:
            rules = bucket_cors_rules(origins)
            s3.put_bucket_cors(Bucket=bucket["Name"], CORSConfiguration={"CORSRules": rules})
    except (BotoCoreError, ClientError) as exc:
        raise RuntimeError(f"could not set CORS on the emulator's buckets: {exc}") from None


def demo_config(broker_url: str, config: dict[str, object]) -> dict[str, object]:
    """Return the demo page's `config.json`: where the broker is, and the IdP to sign in at."""
    cognito = config.get("cognito")
    cognito = cognito if isinstance(cognito, dict) else {}
    return {
        "broker_url": broker_url,
        "discovery_url": cognito.get("discovery_url"),
        "client_id": cognito.get("client_id"),
        "region": config.get("region"),
    }


def instructions(broker_url: str, emulator_url: str, config: dict[str, Any]) -> str:
    """Return the how-to-try-it text printed once both processes run."""
    users = config.get("users", [])
    first = users[0] if isinstance(users, list) and users else {}
    username = first.get("username", "alice") if isinstance(first, dict) else "alice"
    password = first.get("password", "") if isinstance(first, dict) else ""
    cognito = config.get("cognito")
    cognito = cognito if isinstance(cognito, dict) else {}
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

4. Or sign in from the terminal and let the AWS CLI and SDKs fetch credentials themselves (README,
   "Use it from the AWS CLI and SDKs"):
   tip-broker login --issuer {cognito.get("discovery_url")} --client-id {cognito.get("client_id")}
   tip-broker agent --broker-url {broker_url} --target 's3://demo-data/users/{username}/*' > agent.env &
   sleep 2; . ./agent.env
   AWS_REGION={config.get("region")} AWS_ENDPOINT_URL_S3={emulator_url} aws s3 ls s3://demo-data/users/{username}/
"""


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_dev_stack(
    *,
    host: str,
    port: int,
    emulator_port: int,
    scenario: str | None,
    emulator_url: str | None = None,
    emulator_tls_port: int | None = None,
    demo_port: int = 8081,
    allow_origins: list[str] | None = None,
) -> int:
    """Run the broker against a started (or, with ``emulator_url``, a running) emulator until interrupted.

    The demo page is served on ``demo_port`` from a checkout (0: any free port); browser apps at its
    origin, Vite's dev server and ``allow_origins`` may call the broker and the emulator's S3 (CORS).
    """
    # A SIGTERM while the emulator starts must still reach the finally below that stops it (the default
    # handler would kill this process first); while the broker serves, run_server takes the signal.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    process = None if emulator_url else start_emulator(host, emulator_port, scenario, emulator_tls_port)
    emulator_url = emulator_url or f"http://{host}:{emulator_port}"
    broker_url = f"http://{host}:{port}"
    demo: DemoSite | None = None
    try:
        config = wait_for_config(emulator_url, process)
        # The emulator's broker_env holds the broker's own key and endpoint; an empty emulator gets the
        # rest from the setup tool, as an account would.
        broker_env = {k: str(v) for k, v in config.get("broker_env", {}).items() if v is not None}
        if config.get("empty"):
            broker_env.update(apply_demo_setup(emulator_url, config))
        os.environ.update(broker_env)
        if DEMO_PAGE_DIR.is_dir():
            try:
                demo = DemoSite(host, demo_port, demo_config(broker_url, config)).start()
            except OSError as exc:
                raise RuntimeError(f"cannot serve the demo page on port {demo_port}: {exc}") from None
        origins = ([demo.url.rstrip("/")] if demo else []) + STORAGE_BROWSER_DEV_ORIGINS
        origins += allow_origins or []
        allow_browser_origins(emulator_url, config, origins)
        if os.environ.get("BROKER_REDIS_URL") and not os.environ.get("BROKER_CACHE_KEY"):
            # A throw-away key: the dev stack's Redis entries need not outlive this process.
            os.environ["BROKER_CACHE_KEY"] = base64.b64encode(os.urandom(32)).decode()
        os.environ.setdefault("BROKER_LOG_FORMAT", "console")
        settings = load_settings()
        settings.check()
        configure_logging(settings.log_format, settings.log_level)
        print(instructions(broker_url, emulator_url, config), flush=True)
        print(
            f"Demo page (sign in with PKCE, browse, download, upload): {demo.url}"
            if demo
            else "Demo page: not served (examples/demo-page/ is only in a checkout of the repository)",
            flush=True,
        )
        tls_url = config.get("tls_endpoint_url")
        if isinstance(tls_url, str):
            print(
                "Storage Browser example: cd examples/storage-browser && npm ci && npm run dev, then open "
                f"http://127.0.0.1:5173/ (its S3 endpoint is {tls_url}, self-signed: see README)",
                flush=True,
            )
        return run_server(create_app(settings), settings, host=host, port=port)
    except (RuntimeError, ConfigurationError) as exc:
        print(f"tip-broker dev: {exc}", file=sys.stderr)
        return 1
    finally:
        if demo is not None:
            demo.stop()
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
