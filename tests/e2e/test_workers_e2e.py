"""`serve --workers 2` sharing Redis: both worker processes serve, and a token is exchanged only once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench import stack as processes

pytestmark = pytest.mark.e2e
TARGET = {"target": "s3://demo-data/reports/q3.csv", "permission": "READ"}


def _worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _issue(url: str, token: str) -> int:
    # A new connection per request, so the kernel spreads them over the workers' shared socket.
    response = httpx.post(
        f"{url}/v1/credentials", json=TARGET, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code


def test_two_worker_broker_serves_credentials_with_one_exchange_per_token(
    redis_url: str, tmp_path: Path
) -> None:
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(emulator, redis_url=redis_url, log_dir=tmp_path, workers=2) as broker,
    ):
        assert len(_worker_pids(broker.pid)) == 2
        token = emulator.sign_in("carol")

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: _issue(broker.url, token), range(24)))

        assert statuses == [200] * 24
        assert emulator.counts().get("CreateTokenWithIAM") == 1
