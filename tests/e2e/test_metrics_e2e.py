"""/metrics of `serve --workers 2` sharing Redis: every scrape, whichever worker answers, reports the server.

Each worker writes its values under PROMETHEUS_MULTIPROC_DIR (set here so the test can see whose files
exist); requests go out on new connections until both workers have answered some, then every scrape must
count every request, not only those of the worker that answers it.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from bench import stack as processes
from service.metrics import FAMILIES
from tests.scrape import Scrape

pytestmark = pytest.mark.e2e
TARGET = {"target": "s3://demo-data/reports/q3.csv", "permission": "READ"}
MAX_PROBES = 400  # new connections to /healthz until both workers have answered one
CREDENTIAL_REQUESTS = 12


def _worker_pids(supervisor: int) -> set[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return {int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()}


def _pids_with_requests(directory: Path) -> set[int]:
    """Return the processes whose histogram file exists: only an answered request creates one."""
    found = (re.fullmatch(r"histogram_(\d+)\.db", path.name) for path in directory.iterdir())
    return {int(match[1]) for match in found if match}


def _stale_run(directory: Path) -> None:
    """Leave what an earlier run's worker would have: 1000 credentials issued from the cache."""
    family = next(f for f in FAMILIES if f.name == "tipb_credentials_issued_total")
    stale = MmapedDict(str(directory / "counter_4242.db"))
    key = mmap_key("tipb_credentials_issued", family.name, ["layer"], ["cache"], family.help)
    stale.write_value(key, 1000.0, 0.0)
    stale.close()


def test_two_worker_metrics_count_every_workers_requests_in_every_scrape(
    redis_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    _stale_run(directory)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(emulator, redis_url=redis_url, log_dir=tmp_path, workers=2, extra_env=env) as broker,
    ):
        workers = _worker_pids(broker.pid)
        token = emulator.sign_in("carol")
        auth = {"Authorization": f"Bearer {token}"}
        statuses = [
            httpx.post(f"{broker.url}/v1/credentials", json=TARGET, headers=auth, timeout=30).status_code
            for _ in range(CREDENTIAL_REQUESTS)
        ]
        probes = 0
        while _pids_with_requests(directory) != workers and probes < MAX_PROBES:
            assert httpx.get(f"{broker.url}/healthz", timeout=30).status_code == 200
            probes += 1
        served_by = _pids_with_requests(directory)
        scrapes = [Scrape(httpx.get(f"{broker.url}/metrics", timeout=30).text) for _ in range(6)]

    assert len(workers) == 2
    assert served_by == workers, f"one worker answered all {probes} probes"
    assert statuses == [200] * CREDENTIAL_REQUESTS
    count = "tipb_http_request_duration_seconds_count"
    upstream = "tipb_upstream_request_duration_seconds_count"
    for seen in scrapes:
        assert seen.value(count, route="/healthz", method="GET", status="200") == probes
        assert seen.value(count, route="/v1/credentials", method="POST", status="200") == CREDENTIAL_REQUESTS
        assert seen.value("tipb_credentials_issued_total") == CREDENTIAL_REQUESTS  # the stale 1000 is gone
        assert seen.value("tipb_sessions_opened_total", via="jwt_bearer") == 1
        for service, operation in (
            ("sso-oidc", "CreateTokenWithIAM"),
            ("sts", "AssumeRole"),
            ("s3control", "GetDataAccess"),
        ):
            assert seen.value(upstream, service=service, operation=operation, outcome="ok") == 1, operation
        assert seen.value("tipb_cache_lookups_total", layer="redis", kind="access", result="hit") >= 1
        assert seen.value("tipb_jwks_refreshes_total", outcome="ok") == 2  # each worker loads the keys
