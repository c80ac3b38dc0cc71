"""Real processes on loopback ports for the benchmarks and the end-to-end tests: redis, emulator, broker."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60.0
LOG_DIR = Path(tempfile.gettempdir()) / "tip-broker-bench"

# One (target, permission) per demo user that the demo scenario grants.
GRANTED = {
    "alice": ("s3://demo-data/users/alice/*", "READ"),
    "bob": ("s3://demo-data/users/bob/*", "READ"),
    "carol": ("s3://demo-data/reports/q3.csv", "READ"),
}


class StackError(RuntimeError):
    """A process of the stack did not start."""


def next_second() -> None:
    """Wait past a sign-out's second: a token issued within it is refused as issued before it."""
    time.sleep(1.001 - time.time() % 1)


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ok(url: str, process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise StackError(f"{name} not ready after {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def proc_status(pid: int, field_name: str) -> int:
    """Return a /proc/<pid>/status memory field (VmRSS, VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


@dataclass
class Emulator:
    """The running emulator and what a broker or a user needs from it."""

    url: str
    config: dict[str, Any]
    process: subprocess.Popen[bytes]

    @property
    def region(self) -> str:
        """Return the emulator's region."""
        return str(self.config["region"])

    def sign_in(self, username: str) -> str:
        """Return a fresh Cognito ID token via cognito-idp InitiateAuth (USER_PASSWORD_AUTH)."""
        password = next(u["password"] for u in self.config["users"] if u["username"] == username)
        result = self._cognito.initiate_auth(
            ClientId=self.config["cognito"]["client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        token: str = result["AuthenticationResult"]["IdToken"]
        return token

    @property
    def _cognito(self) -> Any:
        client = self.__dict__.get("_cognito_client")
        if client is None:
            client = boto3.client(
                "cognito-idp",
                region_name=self.region,
                endpoint_url=self.url,
                aws_access_key_id="unused",
                aws_secret_access_key="unused",  # noqa: S106 - InitiateAuth is unsigned
            )
            self.__dict__["_cognito_client"] = client
        return client

    def counts(self) -> dict[str, int]:
        """Return the emulator's per-operation call counters."""
        counts: dict[str, int] = httpx.get(f"{self.url}/_emulator/calls/counts", timeout=5).json()
        return counts

    def reset(self) -> None:
        """Clear the emulator's call counters and log."""
        httpx.post(f"{self.url}/_emulator/reset", timeout=5).raise_for_status()


@dataclass
class Broker:
    """One running broker process (the uvicorn supervisor when it runs several workers)."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(repr=False)

    @property
    def pid(self) -> int:
        """Return the broker's process id."""
        return self.process.pid

    def client(self, token: str) -> httpx.Client:
        """Return a keep-alive client acting as the holder of ``token``."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@contextmanager
def emulator(
    log_dir: Path = LOG_DIR, scenario: Path | None = None, *, empty: bool = False
) -> Iterator[Emulator]:
    """Run `python -m emulator` (the demo scenario unless ``scenario``; only its IdP, IAM users, Identity
    Center instance and buckets with ``empty``) on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = log_dir / (f"emulator-{scenario.stem}.log" if scenario else "emulator.log")
    chosen = ["--scenario", str(scenario)] if scenario is not None else []
    chosen += ["--empty"] if empty else []
    process = _spawn(
        [sys.executable, "-m", "emulator", *chosen, "--host", "127.0.0.1", "--port", str(port)], log
    )
    try:
        wait_until_ok(f"{url}/_emulator/config", process, "emulator", log)
        config = httpx.get(f"{url}/_emulator/config", timeout=5).json()
        yield Emulator(url, config, process)
    finally:
        stop(process)


@contextmanager
def redis_server() -> Iterator[str]:
    """Run a private, non-persistent redis-server on a free port; yield its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("redis-server is not on PATH")
    port = free_port()
    log = LOG_DIR / "redis.log"
    process = _spawn(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], log
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise StackError(f"redis-server did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


@contextmanager
def canned_server(answer: bytes) -> Iterator[str]:
    """Run a bare uvicorn app answering every POST with ``answer`` (bench/canned_server.py); yield its URL."""
    with tempfile.TemporaryDirectory() as scratch:
        answer_file = Path(scratch) / "answer.json"
        answer_file.write_bytes(answer)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = LOG_DIR / "canned_server.log"
        process = _spawn([sys.executable, "-m", "bench.canned_server", str(port), str(answer_file)], log)
        try:
            wait_until_ok(f"{url}/healthz", process, "canned server", log)
            yield url
        finally:
            stop(process)


@contextmanager
def broker(
    emu: Emulator,
    *,
    redis_url: str | None = None,
    log_level: str = "WARNING",
    profile_to: Path | None = None,
    log_dir: Path = LOG_DIR,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[Broker]:
    """Run `python -m service serve --workers N` against ``emu``; Redis cache when given.

    With ``profile_to`` the broker runs under cProfile, which writes its stats there on a clean exit.
    """
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))},
        **emu.config["broker_env"],
        "BROKER_LOG_LEVEL": log_level,
        **(extra_env or {}),
    }
    if redis_url is not None:
        env["BROKER_REDIS_URL"] = redis_url
        # Replicas sharing one Redis must share the key too: a caller passes it in ``extra_env``.
        env.setdefault("BROKER_CACHE_KEY", base64.b64encode(os.urandom(32)).decode())
    url = f"http://127.0.0.1:{port}"
    suffix = f"-{workers}w" if workers > 1 else ""
    log = log_dir / f"broker-{'redis' if redis_url else 'memory'}-{log_level.lower()}{suffix}.log"
    entry = ["-m", "bench.profiled_serve", str(profile_to)] if profile_to is not None else ["-m", "service"]
    argv = [*entry, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    process = _spawn([sys.executable, *argv], log, env)
    try:
        wait_until_ok(f"{url}/readyz", process, "broker", log)
        yield Broker(url, process, log, env)
    finally:
        stop(process)
