"""Micro-measurement of the warm path in process: CPU µs per request through the ASGI app, no sockets.

The real app (`create_app` with the real adapters) against a running emulator, the in-process cache, logging
at WARNING (or the level given); one request warms the cache, then interleaved rounds of sequential
`POST /v1/credentials`, `POST /v1/presign` and `GET /healthz` go straight into the ASGI callable.
`python -m bench.warm_asgi [requests per round] [log level]`; not in `make bench` (it measures the app's
own CPU per request, not HTTP throughput; CPU time of this process, so other load on the machine
moves it less than wall time).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench import stack
from service.app import create_app
from service.logs import configure_logging
from service.settings import Settings, load_settings

ROUNDS = 7
BODY = json.dumps({"target": "s3://demo-data/users/alice/*", "permission": "READ"}).encode()
PRESIGN_BODY = json.dumps({"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET"}).encode()

Send = Callable[[dict[str, Any]], Awaitable[None]]


def _scope(method: str, path: str, token: str, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"broker.test"), (b"content-length", str(len(body)).encode())]
    if token:
        headers += [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


@contextmanager
def logs_written_nowhere(level: str) -> Iterator[None]:
    """Configure the broker's logging at ``level`` with its lines formatted and written, to /dev/null."""
    configure_logging("json", level)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    with open(os.devnull, "w") as sink:
        streams = [handler.setStream(sink) for handler in handlers]
        try:
            yield
        finally:
            for handler, stream in zip(handlers, streams, strict=True):
                handler.setStream(stream)


async def _call(app: Any, method: str, path: str, token: str = "", body: bytes = b"") -> int:
    status = 0
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(method, path, token, body), receive, send)
    return status


async def _round(app: Any, count: int, request: tuple[str, str, str, bytes]) -> float:
    method, path, token, body = request
    started = time.process_time()
    for _ in range(count):
        status = await _call(app, method, path, token, body)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}")
    return (time.process_time() - started) / count * 1e6


async def _measure(settings: Settings, emu: stack.Emulator, count: int) -> dict[str, list[float]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # Signed in after the revocation ledger began (a second later): a token issued before it is refused.
        stack.next_second()
        return await _rounds(app, emu.sign_in("alice"), count)


async def _rounds(app: Any, token: str, count: int) -> dict[str, list[float]]:
    requests = {
        "credentials": ("POST", "/v1/credentials", token, BODY),
        "presign": ("POST", "/v1/presign", token, PRESIGN_BODY),
        "healthz": ("GET", "/healthz", "", b""),
    }
    rounds: dict[str, list[float]] = {name: [] for name in requests}
    for method, path, bearer, body in requests.values():
        if await _call(app, method, path, bearer, body) != 200:
            raise RuntimeError(f"the warm-up request to {path} failed")
    for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits all alike
        for name, request in requests.items():
            rounds[name].append(await _round(app, count, request))
    return rounds


def run(count: int = 3000, log_level: str = "WARNING") -> dict[str, dict[str, float]]:
    """Return median and best µs per request of warm credentials, presign and /healthz, printing them."""
    with stack.emulator() as emu:
        os.environ.update(emu.config["broker_env"])  # the broker's AWS identity comes from the environment
        with logs_written_nowhere(log_level):
            rounds = asyncio.run(_measure(load_settings(), emu, count))
    summary = {
        name: {"median_us": statistics.median(values), "best_us": min(values)}
        for name, values in rounds.items()
    }
    floor = summary["healthz"]["median_us"]
    for name, row in summary.items():
        print(
            f"{name:12} median {row['median_us']:7.1f} CPU µs/request",
            f"  best {row['best_us']:7.1f} CPU µs/request",
            f"  /healthz÷this {floor / row['median_us']:.2f}",
        )
    return summary


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, sys.argv[2] if len(sys.argv) > 2 else "WARNING")
