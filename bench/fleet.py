"""A fleet on loopback: users with grants of their own, replicas sharing a Redis that can be stopped."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import stack

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "emulator" / "scenarios" / "demo.yaml"
BUCKET = "demo-data"


@dataclass(frozen=True)
class FleetUser:
    """One user of the fleet scenario and the two targets only they were granted (one grant each)."""

    username: str
    password: str

    @property
    def targets(self) -> tuple[str, str]:
        return (
            f"s3://{BUCKET}/users/{self.username}/notes.txt",
            f"s3://{BUCKET}/projects/{self.username}/plan.txt",
        )

    @property
    def prefixes(self) -> tuple[str, str]:
        """The key prefixes of the user's grants: nothing outside them may be served to the user."""
        return (f"users/{self.username}/", f"projects/{self.username}/")


def fleet_users(count: int) -> list[FleetUser]:
    """Return the fleet's users: user00, user01, ..."""
    return [FleetUser(f"user{n:02d}", f"User{n:02d}-Passw0rd!") for n in range(count)]


def write_scenario(users: list[FleetUser], path: Path) -> Path:
    """Write the demo scenario with ``users`` instead of its own, each granted only its two prefixes."""
    scenario = yaml.safe_load(DEMO_SCENARIO.read_text())
    scenario["groups"] = []
    scenario["users"] = [
        {"username": u.username, "email": f"{u.username}@example.com", "password": u.password, "groups": []}
        for u in users
    ]
    scenario["access_grants"]["grants"] = [
        {
            "location": "demo-data",
            "sub_prefix": f"{prefix}*",
            "grantee": {"user": u.username},
            "permission": "READ",
        }
        for u in users
        for prefix in u.prefixes
    ]
    scenario["buckets"] = [
        {
            "name": BUCKET,
            "objects": {f"{prefix}x.txt": f"{u.username}\n" for u in users for prefix in u.prefixes},
        }
    ]
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


class StoppableRedis:
    """A private redis-server on a fixed loopback port that can be stopped and started again.

    Without ``appendonly`` it keeps nothing: a restart comes back empty. With it, the AOF in ``workdir``
    (fsync on every write) brings the data back.
    """

    def __init__(self, workdir: Path, *, appendonly: bool = False) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise stack.StackError("redis-server is not on PATH")
        self._argv = [
            executable,
            "--port",
            str(stack.free_port()),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(workdir),
            *(["--appendonly", "yes", "--appendfsync", "always"] if appendonly else ["--appendonly", "no"]),
        ]
        self.port = int(self._argv[2])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._server: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._server = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self._server.poll() is not None:
                raise stack.StackError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server (no shutdown save): what a crash or a lost node looks like."""
        if self._server is not None:
            self._server.kill()
            self._server.wait()
            self._server = None


def new_cache_key() -> str:
    """Return a fresh BROKER_CACHE_KEY: the secret every replica of one fleet shares, restarts included."""
    return base64.b64encode(os.urandom(32)).decode()


@contextmanager
def replicas(
    emulator: stack.Emulator,
    redis_url: str,
    count: int,
    log_dir: Path,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    cache_key: str | None = None,
) -> Iterator[list[stack.Broker]]:
    """Run ``count`` broker processes (``workers`` each) sharing ``redis_url`` and one cache key."""
    env = {"BROKER_CACHE_KEY": cache_key or new_cache_key(), **(extra_env or {})}
    with ExitStack() as running:
        brokers = []
        for n in range(count):
            replica_dir = log_dir / f"replica-{n}"
            replica_dir.mkdir(parents=True, exist_ok=True)
            brokers.append(
                running.enter_context(
                    stack.broker(
                        emulator, redis_url=redis_url, log_dir=replica_dir, extra_env=env, workers=workers
                    )
                )
            )
        yield brokers
