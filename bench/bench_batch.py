"""A 1000-key presign batch over HTTP, per key, against the signer alone and boto3 in the same run.

Real emulator and broker (in-process cache, INFO log): sequential POST /v1/presign/batch of 1000 keys
under one of alice's grants, timed at the client; the signer's own cost per key and boto3's per URL are
measured in this process on the same keys (bench_presign's signers).

``python -m bench.bench_batch`` runs the row alone and exits 1 when a target is missed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_presign, stack
from bench.alone import run_alone

KEYS = [f"users/alice/batch/{n % 10}/report {n}.csv" for n in range(1000)]
REQUESTS = 15
SIGNER_TARGET = 2.0  # ours per key <= 2x the signer's own cost per key
BOTO3_TARGET = 25.0  # boto3 per URL >= 25x ours per key


def _http_us_per_key(broker: stack.Broker, token: str) -> float:
    body = {"items": [{"bucket": "demo-data", "key": key, "method": "GET"} for key in KEYS]}
    best = float("inf")
    with broker.client(token) as client:
        for _ in range(REQUESTS + 1):  # the first one vends the grant's credentials
            started = time.perf_counter()
            response = client.post("/v1/presign/batch", json=body)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if any("url" not in result for result in response.json()["results"]):
                raise RuntimeError("a batch item was refused")
            best = min(best, elapsed)
    return best / len(KEYS) * 1e6


def run() -> list[dict[str, Any]]:
    """Return the batch row."""
    with stack.emulator() as emu, stack.broker(emu, log_level="INFO") as broker:
        ours = _http_us_per_key(broker, emu.sign_in("alice"))
    keys = bench_presign.KEYS[: len(KEYS)]
    signer = bench_presign._best_seconds(lambda: bench_presign._ours()(keys)) / len(keys) * 1e6
    boto3 = bench_presign._best_seconds(lambda: bench_presign._boto3()(keys)) / len(keys) * 1e6
    ratio = ours / signer
    print(f" batch: {ours:.1f} us/key over HTTP, signer {signer:.1f} us/key, boto3 {boto3:.1f} us/url")
    met = ratio <= SIGNER_TARGET and boto3 / ours >= BOTO3_TARGET
    return [
        {
            "name": "http_presign_batch_1000 [memory cache]",
            "baseline": "SigV4Presigner.presign_url alone, same keys",
            "baseline_value": round(signer, 2),
            "ours_value": round(ours, 2),
            "unit": "us/key",
            "ratio": round(ratio, 2),
            "target": f"<= {SIGNER_TARGET:g} (ours/signer) and boto3 >= {BOTO3_TARGET:g}x ours",
            "met": "yes" if met else "no",
            "note": (
                f"best of {REQUESTS} sequential POST /v1/presign/batch of {len(KEYS)} GET keys in 10 folders "
                f"under one grant, timed at the client (HTTP, JSON both ways, validation, audit), INFO log; "
                f"boto3 generate_presigned_url {boto3:.1f} us/url = {boto3 / ours:.1f}x ours (bench_batch.py)"
            ),
        }
    ]


if __name__ == "__main__":
    sys.exit(run_alone(run))
