"""Garbage collection under load: the pauses of CPython's default collector against the broker's tuning.

The real app in process (`create_app` with the real adapters) against a running emulator, at INFO, with
the in-process cache. Start-up ends with the heap frozen and the young-generation threshold raised
(`service/app.py`, GC_YOUNG_THRESHOLD); the baseline puts CPython's defaults back in the same process
(heap unfrozen, threshold 700), and the rounds alternate so drift hits both. Every collection is timed
with `gc.callbacks`: the row is the collector's pause per request, not a throughput, so it is steady on a
shared machine.

``python -m bench.bench_gc`` runs the rows alone and exits 1 when a target is missed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from bench import stack
from bench.alone import run_alone
from bench.bench_batch import KEYS
from bench.warm_asgi import _call, logs_written_nowhere
from service.app import create_app
from service.settings import load_settings

ROUNDS = 4
CPYTHON_DEFAULT_THRESHOLD = 700
BATCH_BODY = json.dumps(
    {"items": [{"bucket": "demo-data", "key": key, "method": "GET"} for key in KEYS]}
).encode()
# (row, path, body, requests per round). A warm single credentials or presign request leaves no container
# object behind in process (no collection in 3000 of them under either collector): the batch is the load
# whose short-lived objects the collector sees.
LOADS = (("presign_batch_1000", "/v1/presign/batch", BATCH_BODY, 40),)
BATCH_TARGET = 0.2  # the tuned collector's pause per batch <= this share of the default's


class _PauseClock:
    """Adds up the time the collector runs, from its start and stop callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


@contextmanager
def _cpython_defaults() -> Iterator[None]:
    """Run the block with the collector as CPython starts it: nothing frozen, threshold 700."""
    tuned = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(CPYTHON_DEFAULT_THRESHOLD, *tuned[1:])
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()
        gc.set_threshold(*tuned)


async def _measure(emu: stack.Emulator) -> dict[tuple[str, str], list[tuple[float, int]]]:
    """Return (pause seconds, collections) per request and round, by (load, collector)."""
    app = create_app(load_settings())
    clock = _PauseClock()
    series: dict[tuple[str, str], list[tuple[float, int]]] = {}
    async with app.router.lifespan_context(app):
        # Signed in after the ledger began (a second later): a token issued before it would be refused.
        await asyncio.sleep(1.001 - time.time() % 1)
        token = emu.sign_in("alice")
        for _, path, body, _ in LOADS:
            if await _call(app, "POST", path, token, body) != 200:
                raise RuntimeError(f"the warm-up request to {path} failed")
        gc.callbacks.append(clock)
        try:
            for _ in range(ROUNDS):
                for collector in ("default", "tuned"):
                    with _cpython_defaults() if collector == "default" else nullcontext():
                        for name, path, body, count in LOADS:
                            clock.seconds, clock.collections = 0.0, 0
                            for _ in range(count):
                                if await _call(app, "POST", path, token, body) != 200:
                                    raise RuntimeError(f"{path} failed under load")
                            series.setdefault((name, collector), []).append(
                                (clock.seconds / count, clock.collections)
                            )
        finally:
            gc.callbacks.remove(clock)
    return series


def _rows(series: dict[tuple[str, str], list[tuple[float, int]]]) -> list[dict[str, Any]]:
    rows = []
    for name, _, _, count in LOADS:
        default = sorted(pause for pause, _ in series[(name, "default")])[ROUNDS // 2]
        tuned = sorted(pause for pause, _ in series[(name, "tuned")])[ROUNDS // 2]
        collections = sum(n for _, n in series[(name, "tuned")]), sum(n for _, n in series[(name, "default")])
        share = tuned / default if default else 0.0
        rows.append(
            {
                "name": f"gc_pause_{name}",
                "baseline": "CPython's default collector (nothing frozen, threshold 700), same process",
                "baseline_value": round(default * 1e6, 1),
                "ours_value": round(tuned * 1e6, 1),
                "unit": "us of collection per request",
                "ratio": round(share, 3),
                "target": f"<= {BATCH_TARGET:g} (ours/baseline)",
                "met": "yes" if default > 0 and share <= BATCH_TARGET else "no",
                "note": (
                    f"{count} warm requests per round through the ASGI app, {ROUNDS} rounds alternating "
                    f"with the default collector; median round; collections in all rounds: "
                    f"{collections[0]} tuned, {collections[1]} default (bench_gc.py)"
                ),
            }
        )
    return rows


def run() -> list[dict[str, Any]]:
    """Return the collector rows, printing each load's pauses."""
    with stack.emulator() as emu:
        os.environ.update(emu.config["broker_env"])  # the broker's AWS identity comes from the environment
        with logs_written_nowhere("INFO"):  # the default level: its records are garbage too
            series = asyncio.run(_measure(emu))
    rows = _rows(series)
    for row in rows:
        print(f" {row['name']}: default {row['baseline_value']} us, tuned {row['ours_value']} us per request")
    return rows


if __name__ == "__main__":
    sys.exit(run_alone(run))
