"""`tip-broker dev`: the local emulator with a scenario, the broker configured against it, the demo page."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import boto3
import httpx
import uvicorn
from botocore.exceptions import BotoCoreError, ClientError

from service.app import create_app
from service.demo_site import DEMO_PAGE_DIR, DemoSite, bucket_cors_rules
from service.logs import configure_logging
from service.settings import ConfigurationError, load_settings

READY_TIMEOUT_SECONDS = 60.0
# Vite's dev server (examples/storage-browser: `npm run dev`) under both loopback names.
STORAGE_BROWSER_DEV_ORIGINS = ["http://localhost:5173", "http://127.0.0.1:5173"]


def start_emulator(
    host: str, port: int, scenario: str | None, tls_port: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m emulator`` as a child process (also on an HTTPS port when ``tls_port``)."""
    command = [sys.executable, "-m", "emulator", "--host", host, "--port", str(port)]
    if tls_port is not None:
        command += ["--tls-port", str(tls_port)]
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
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that would kill
    # this process before the finally below stops the emulator. Exiting normally runs it.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    process = None if emulator_url else start_emulator(host, emulator_port, scenario, emulator_tls_port)
    emulator_url = emulator_url or f"http://{host}:{emulator_port}"
    broker_url = f"http://{host}:{port}"
    demo: DemoSite | None = None
    try:
        config = wait_for_config(emulator_url, process)
        broker_env = config.get("broker_env", {})
        if isinstance(broker_env, dict):
            os.environ.update({k: str(v) for k, v in broker_env.items()})
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
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
    except (RuntimeError, ConfigurationError) as exc:
        print(f"tip-broker dev: {exc}", file=sys.stderr)
        return 1
    else:
        return 0
    finally:
        if demo is not None:
            demo.stop()
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
