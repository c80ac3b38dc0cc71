"""Mixed user load over broker replicas: credentials, presign, batches, /v1/me and users signing in again.

Every answer is recorded with its time and checked: a 200 must be for the asking user, inside their
grants, and not nearly expired. Used by the Redis-outage test and the recovery bench row.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench import fleet
from bench.fleet import BUCKET, FleetUser
from bench.stack import Emulator, emulator

# An answer whose credentials or URL expire sooner than this is "nearly expired": never acceptable.
MIN_REMAINING = timedelta(minutes=5)
KINDS = ("credentials", "presign", "batch", "me")
# The Redis outage run: killed this long after the load starts, down this long, then load after the restart.
OUTAGE_STARTS, OUTAGE_SECONDS, AFTER_SECONDS = 3.0, 10.0, 5.0


@dataclass(frozen=True)
class Outcome:
    """One request: when it was answered (seconds since the load began), what, and how."""

    at: float
    kind: str
    user: str
    status: int
    code: str | None
    wrong: str | None  # why a 200 was not acceptable, None when it was (or was no 200)

    @property
    def failed(self) -> bool:
        return self.status != 200


@dataclass
class MixedLoad:
    """Drive ``threads`` clients over ``urls`` round robin; sign a user in again every ``sign_in_every``."""

    emulator: Emulator
    urls: list[str]
    users: list[FleetUser]
    threads: int = 12
    sign_in_every: float = 0.5
    outcomes: list[Outcome] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: float = 0.0

    def sign_in_all(self) -> None:
        for user in self.users:
            self._tokens[user.username] = self.emulator.sign_in(user.username)

    def warm(self) -> None:
        """Serve every user on every replica once, so each replica has seen (and mirrors) everyone."""
        for url in self.urls:
            with httpx.Client(base_url=url, timeout=30) as client:
                for user in self.users:
                    for kind in KINDS:
                        status, code, wrong = _request(client, kind, user, self._tokens[user.username], 0)
                        if status != 200 or wrong:
                            raise AssertionError(
                                f"warm-up {kind} for {user.username}: {status} {code} {wrong}"
                            )

    def run(self, seconds: float, events: list[tuple[float, Callable[[], None]]]) -> list[Outcome]:
        """Load for ``seconds``, running each ``(at, action)`` of ``events`` on time; return the outcomes."""
        stop = threading.Event()
        self._started = time.monotonic()
        workers = [
            threading.Thread(target=self._client, args=(n, stop), daemon=True) for n in range(self.threads)
        ]
        workers.append(threading.Thread(target=self._signer, args=(stop,), daemon=True))
        for worker in workers:
            worker.start()
        for at, action in sorted(events, key=lambda event: event[0]):
            time.sleep(max(0.0, at - self.elapsed()))
            action()
        time.sleep(max(0.0, seconds - self.elapsed()))
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        return sorted(self.outcomes, key=lambda outcome: outcome.at)

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _client(self, number: int, stop: threading.Event) -> None:
        clients = [httpx.Client(base_url=url, timeout=30) for url in self.urls]
        try:
            for step in itertools.count(number):
                if stop.is_set():
                    return
                user = self.users[step % len(self.users)]
                kind = KINDS[(step // len(self.users)) % len(KINDS)]
                client = clients[step % len(clients)]
                token = self._tokens[user.username]
                try:
                    status, code, wrong = _request(client, kind, user, token, step)
                except httpx.HTTPError as error:
                    status, code, wrong = 0, type(error).__name__, None
                with self._lock:
                    self.outcomes.append(Outcome(self.elapsed(), kind, user.username, status, code, wrong))
        finally:
            for client in clients:
                client.close()

    def _signer(self, stop: threading.Event) -> None:
        for user in itertools.cycle(self.users):
            if stop.wait(self.sign_in_every):
                return
            self._tokens[user.username] = self.emulator.sign_in(user.username)


def _request(
    client: httpx.Client, kind: str, user: FleetUser, token: str, step: int
) -> tuple[int, str | None, str | None]:
    headers = {"Authorization": f"Bearer {token}"}
    target = user.targets[step % 2]
    key = target.removeprefix(f"s3://{BUCKET}/")
    if kind == "credentials":
        response = client.post(
            "/v1/credentials", json={"target": target, "permission": "READ"}, headers=headers
        )
    elif kind == "presign":
        body = {"bucket": BUCKET, "key": key, "method": "GET"}
        response = client.post("/v1/presign", json=body, headers=headers)
    elif kind == "batch":
        items = [
            {"bucket": BUCKET, "key": f"{prefix}item-{n}.txt", "method": "GET"}
            for prefix in user.prefixes
            for n in range(5)
        ]
        response = client.post("/v1/presign/batch", json={"items": items}, headers=headers)
    else:
        response = client.get("/v1/me", headers=headers)
    if response.status_code != 200:
        code = (
            response.json().get("code") if response.headers.get("content-type", "").endswith("json") else None
        )
        return response.status_code, code, None
    return 200, None, _wrong(kind, user, response.json())


def _wrong(kind: str, user: FleetUser, body: dict[str, Any]) -> str | None:
    """Return why a 200 answer is not acceptable for ``user``, or None."""
    soon = datetime.now(UTC) + MIN_REMAINING
    if kind == "credentials":
        scope = body["matched_grant_target"].removeprefix(f"s3://{BUCKET}/")
        if not any(scope.startswith(prefix) for prefix in user.prefixes):
            return f"credentials for another grant: {body['matched_grant_target']}"
        if datetime.fromisoformat(body["expiration"]) < soon:
            return "credentials nearly expired"
        return None
    if kind == "me":
        return (
            None
            if body.get("username") == user.username
            else f"identity of another user: {body.get('username')}"
        )
    results = body["results"] if kind == "batch" else [body]
    for result in results:
        if "url" not in result:
            return f"batch item refused: {result}"
        path = urlsplit(result["url"]).path.removeprefix(f"/{BUCKET}/")
        if not any(path.startswith(prefix) for prefix in user.prefixes):
            return f"URL outside the grants: {path}"
        if datetime.fromisoformat(result["expires_at"]) < datetime.now(UTC) + timedelta(seconds=60):
            return "URL nearly expired"
    return None


@dataclass(frozen=True)
class OutageRun:
    """The outcomes of a Redis outage under load, and when Redis was stopped and started again."""

    outcomes: list[Outcome]
    stopped: float
    restarted: float
    ended: float

    @property
    def window(self) -> list[Outcome]:
        """The answers given during the outage and after the restart."""
        return [o for o in self.outcomes if self.stopped <= o.at <= self.ended]

    @property
    def after_restart(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.at >= self.restarted]


def redis_outage(work: Path, users: int, replicas: int = 3) -> OutageRun:
    """Kill a Redis shared by ``replicas`` brokers under mixed load, then start it again empty."""
    fleet_users = fleet.fleet_users(users)
    redis = fleet.StoppableRedis(work)
    redis.start()
    restarted = OUTAGE_STARTS + OUTAGE_SECONDS
    try:
        with (
            emulator(log_dir=work, scenario=fleet.write_scenario(fleet_users, work / "fleet.yaml")) as emu,
            fleet.replicas(emu, redis.url, replicas, work) as brokers,
        ):
            load = MixedLoad(emu, [b.url for b in brokers], fleet_users)
            load.sign_in_all()
            load.warm()
            outcomes = load.run(
                restarted + AFTER_SECONDS, [(OUTAGE_STARTS, redis.stop), (restarted, redis.start)]
            )
    finally:
        redis.stop()
    return OutageRun(outcomes, OUTAGE_STARTS, restarted, restarted + AFTER_SECONDS)
