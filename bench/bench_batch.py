"""A 1000-key presign batch over HTTP, per key, against the signer alone and boto3 in the same run.

Real emulator and broker (in-process cache, INFO log): sequential POST /v1/presign/batch of 1000 keys
under one of alice's grants, timed at the client; the signer's own cost per key and boto3's per URL are
measured in this process on the same keys and credentials (bench_presign's signers), and the HTTP floor
(the same exchange with a bare uvicorn app answering the broker's answer), in rounds interleaved with the
broker's.

``python -m bench.bench_batch`` runs the row alone and exits 1 when a target is missed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_presign, stack
from bench.alone import run_alone
from service.domain.credentials import TemporaryCredentials

BUCKET = "demo-data"
PATH = "/v1/presign/batch"
GRANT = "s3://demo-data/users/alice/*"  # the grant every batch key is under
KEYS = [f"users/alice/batch/{n % 10}/report {n}.csv" for n in range(1000)]
ROUNDS = 5  # each round times the broker, the signer and boto3 back to back, so drift hits all three
REQUESTS_PER_ROUND = 3
SIGNER_TARGET = 2.0  # ours per key <= 2x the signer's own cost per key
BOTO3_TARGET = 25.0  # boto3 per URL >= 25x ours per key


def _best_http_seconds(client: httpx.Client, body: dict[str, Any]) -> float:
    best = float("inf")
    for _ in range(REQUESTS_PER_ROUND):
        started = time.perf_counter()
        response = client.post(PATH, json=body)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if any("url" not in result for result in response.json()["results"]):
            raise RuntimeError("a batch item was refused")
        best = min(best, elapsed)
    return best


def _grant_credentials(client: httpx.Client) -> tuple[TemporaryCredentials, str]:
    """Return the credentials and region the broker presigns alice's batch keys with."""
    response = client.post("/v1/credentials", json={"target": GRANT, "permission": "READ"})
    response.raise_for_status()
    answer = response.json()
    credentials = TemporaryCredentials(
        access_key_id=answer["access_key_id"],
        secret_access_key=answer["secret_access_key"],
        session_token=answer["session_token"],
        expiration=datetime.fromisoformat(answer["expiration"]),
    )
    return credentials, answer["region"]


def _timed_once(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _per_key_us(broker: stack.Broker, token: str) -> dict[str, float]:
    """Return the best µs per key over the rounds (ours over HTTP, the HTTP floor, the signer, boto3) and
    the answer's bytes per key."""
    body = {"items": [{"bucket": BUCKET, "key": key, "method": "GET"} for key in KEYS]}
    series: dict[str, list[float]] = {"ours": [], "floor": [], "signer": [], "boto3": []}
    with broker.client(token) as client:
        answer = client.post(PATH, json=body)  # vends the grant's credentials
        answer.raise_for_status()
        # The baselines sign the same keys with the same grant's credentials (its session token's length
        # sets most of a URL's cost) in the broker's region.
        credentials, region = _grant_credentials(client)
        sign, boto3 = (
            make(credentials, BUCKET, region) for make in (bench_presign._ours, bench_presign._boto3)
        )
        with (
            stack.canned_server(answer.content) as floor_url,
            httpx.Client(base_url=floor_url, timeout=30) as floor,
        ):
            for _ in range(ROUNDS):
                series["ours"].append(_best_http_seconds(client, body))
                series["floor"].append(_best_http_seconds(floor, body))
                series["signer"].append(
                    min(_timed_once(lambda: sign(KEYS)) for _ in range(REQUESTS_PER_ROUND))
                )
                series["boto3"].append(_timed_once(lambda: boto3(KEYS)))
    best = {name: min(values) / len(KEYS) * 1e6 for name, values in series.items()}
    return best | {"answer_bytes": len(answer.content) / len(KEYS)}


def run() -> list[dict[str, Any]]:
    """Return the batch row."""
    with stack.emulator() as emu, stack.broker(emu, log_level="INFO") as broker:
        us = _per_key_us(broker, emu.sign_in("alice"))
    ours, floor, signer, boto3 = us["ours"], us["floor"], us["signer"], us["boto3"]
    ratio = ours / signer
    print(
        f" batch: {ours:.1f} us/key over HTTP (HTTP floor {floor:.1f}), signer {signer:.1f} us/key, "
        f"boto3 {boto3:.1f} us/url"
    )
    met = ratio <= SIGNER_TARGET and boto3 / ours >= BOTO3_TARGET
    return [
        {
            "name": "http_presign_batch_1000 [memory cache]",
            "baseline": "SigV4Presigner.presign_url alone, same keys and credentials",
            "baseline_value": round(signer, 2),
            "ours_value": round(ours, 2),
            "unit": "us/key",
            "ratio": round(ratio, 2),
            "target": f"<= {SIGNER_TARGET:g} (ours/signer) and boto3 >= {BOTO3_TARGET:g}x ours",
            "met": "yes" if met else "no",
            "note": (
                f"sequential POST /v1/presign/batch of {len(KEYS)} GET keys in 10 folders under one grant, "
                "timed at the client (HTTP, JSON both ways, validation, audit), INFO log; "
                f"{ROUNDS} rounds, each timing the broker (best of {REQUESTS_PER_ROUND}), the HTTP floor, "
                f"the signer alone (best of {REQUESTS_PER_ROUND}) and boto3 back to back; best round of "
                f"each; HTTP floor {floor:.1f} us/key = {floor / signer:.2f}x the signer: the same request "
                f"and the broker's own answer ({us['answer_bytes']:.0f} bytes of JSON per key) through a "
                "bare uvicorn app (bench/canned_server.py), so the broker's own work is "
                f"{(ours - floor) / signer:.2f}x the signer; "
                f"boto3 generate_presigned_url {boto3:.1f} us/url = {boto3 / ours:.1f}x ours (bench_batch.py)"
            ),
        }
    ]


if __name__ == "__main__":
    sys.exit(run_alone(run))
