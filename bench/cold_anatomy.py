"""Where a cold request's time goes inside the broker: AWS calls, thread-pool hops, event-loop CPU.

The real app (``create_app`` with the real adapters, in-process cache, INFO log) in this process against the
running emulator, requests straight into the ASGI callable (no HTTP). Each AWS call the broker offloads is
timed in its pool thread and at both hops; the event loop's own CPU is its thread's CPU clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench import stack
from bench.warm_asgi import _call, logs_written_nowhere
from service.app import create_app
from service.broker import upstream
from service.settings import load_settings

SAMPLES = 24


@contextmanager
def _timed_offloads() -> Iterator[list[dict[str, float]]]:
    """Yield the list each offloaded call appends its times to (submitted, started, ended, resumed)."""
    calls: list[dict[str, float]] = []
    offload = upstream.Upstream.offload

    async def timed(self: upstream.Upstream, fn: Callable[..., Any], *args: object) -> Any:
        times = {"submitted": time.perf_counter()}

        def run(*call_args: object) -> Any:
            times["started"] = time.perf_counter()
            try:
                return fn(*call_args)
            finally:
                times["ended"] = time.perf_counter()

        try:
            return await offload(self, run, *args)
        finally:
            times["resumed"] = time.perf_counter()
            calls.append(times)

    upstream.Upstream.offload = timed  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        upstream.Upstream.offload = offload  # type: ignore[method-assign]


async def _samples(emu: stack.Emulator) -> list[dict[str, float]]:
    app = create_app(load_settings())
    users = list(stack.GRANTED)
    bodies = {u: json.dumps({"target": t, "permission": p}).encode() for u, (t, p) in stack.GRANTED.items()}
    tokens = {user: emu.sign_in(user) for user in users}
    samples: list[dict[str, float]] = []
    async with app.router.lifespan_context(app):
        for user in users:  # warm the clients, the JWKS and the code paths
            if await _call(app, "POST", "/v1/credentials", tokens[user], bodies[user]) != 200:
                raise RuntimeError("the warm-up request failed")
        with _timed_offloads() as calls:
            for sample in range(SAMPLES):
                user = users[sample % len(users)]
                if await _call(app, "DELETE", "/v1/session", tokens[user]) != 204:
                    raise RuntimeError("the sign-out failed")
                stack.next_second()
                tokens[user] = emu.sign_in(user)
                calls.clear()
                cpu, started = time.thread_time(), time.perf_counter()
                status = await _call(app, "POST", "/v1/credentials", tokens[user], bodies[user])
                ended, cpu = time.perf_counter(), time.thread_time() - cpu
                if status != 200 or len(calls) != 3:
                    raise RuntimeError(f"a cold request answered {status} after {len(calls)} AWS calls")
                samples.append(
                    {
                        "total": ended - started,
                        "calls": sum(c["ended"] - c["started"] for c in calls),
                        "hop_in": sum(c["started"] - c["submitted"] for c in calls),
                        "hop_out": sum(c["resumed"] - c["ended"] for c in calls),
                        "loop_cpu": cpu,
                    }
                )
    return samples


def measure(emu: stack.Emulator) -> dict[str, float]:
    """Return the median ms of a cold request in process: total, AWS calls, hops in and out, loop CPU."""
    saved = dict(os.environ)
    os.environ.update(emu.config["broker_env"])  # the broker's AWS identity comes from the environment
    try:
        with logs_written_nowhere("INFO"):  # the default level: a cold request writes three lines
            samples = asyncio.run(_samples(emu))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {name: statistics.median(s[name] for s in samples) * 1000 for name in samples[0]}
