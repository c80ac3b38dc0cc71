"""Emulator CreateTokenWithIAM throughput with 10,000 extra Identity Store users (the user lookup index)."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from typing import Any

import boto3
from moto.identitystore.models import identitystore_backends

from bench.alone import run_alone
from emulator.server import EmulatorServer

USERS = 10_000
EXCHANGES = 300
TARGET_PER_SECOND = 200
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(  # noqa: S310 - loopback emulator
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def _add_users(server: EmulatorServer) -> None:
    state = server.state
    assert state is not None
    backend = identitystore_backends[state.account_id][state.region]
    store_id = state.identity_center.identity_store_id
    for n in range(USERS):
        backend.create_user(
            store_id,
            f"filler-{n}",
            {"GivenName": "F", "FamilyName": str(n)},
            f"Filler {n}",
            "",
            "",
            [{"Value": f"filler-{n}@example.com", "Primary": True}],
            [],
            [],
            "",
            "",
            "",
            "",
            "",
        )


def _exchanges_per_second(server: EmulatorServer) -> float:
    config = json.loads(urllib.request.urlopen(f"{server.url}/_emulator/config", timeout=10).read())  # noqa: S310
    user = config["users"][0]
    tokens = [
        _post(f"{server.url}/_emulator/login", {"username": user["username"], "password": user["password"]})[
            "id_token"
        ]
        for _ in range(EXCHANGES)
    ]
    broker = config["broker_env"]
    oidc = boto3.client(
        "sso-oidc",
        region_name=config["region"],
        endpoint_url=server.url,
        aws_access_key_id=broker["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=broker["AWS_SECRET_ACCESS_KEY"],
    )
    started = time.perf_counter()
    for token in tokens:
        oidc.create_token_with_iam(
            clientId=broker["BROKER_IDC_APPLICATION_ARN"], grantType=JWT_BEARER, assertion=token
        )
    return EXCHANGES / (time.perf_counter() - started)


def run() -> list[dict[str, Any]]:
    """Time sequential exchanges against an in-process emulator holding 10,000 more users; one row."""
    server = EmulatorServer(port=0).start()
    try:
        _add_users(server)
        ours = _exchanges_per_second(server)
    finally:
        server.stop()
    ratio = round(ours / TARGET_PER_SECOND, 2)
    print(
        f"emulator_exchanges_10k_users: {ours:.0f}/s, {ratio} x the {TARGET_PER_SECOND}/s target", flush=True
    )
    return [
        {
            "name": "emulator_exchanges_10k_users",
            "baseline": "target",
            "baseline_value": TARGET_PER_SECOND,
            "ours_value": round(ours, 1),
            "unit": "exchanges/s",
            "ratio": ratio,
            "target": f">= 1 (ours/{TARGET_PER_SECOND})",
            "met": "yes" if ratio >= 1 else "no",
            "note": f"{EXCHANGES} sequential CreateTokenWithIAM calls (boto3, one client) against an "
            f"in-process emulator with {USERS} extra Identity Store users; tokens minted first "
            "(bench_emulator.py)",
        }
    ]


if __name__ == "__main__":
    sys.exit(run_alone(run))
