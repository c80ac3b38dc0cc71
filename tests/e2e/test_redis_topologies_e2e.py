"""The broker process on a real Redis Cluster and on a sentinel-managed Redis that fails over mid-traffic."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from bench import stack as processes
from tests import redis_topologies as topologies

pytestmark = pytest.mark.e2e
TARGET = {"target": "s3://demo-data/reports/q3.csv", "permission": "READ"}
# Requests after the failover that must all succeed once the broker found the new master.
SETTLED_REQUESTS = 5


def _tls_settings(ca_file: str, cert_file: str, key_file: str) -> dict[str, str]:
    """The broker's settings for a TLS Redis that asks for a client certificate."""
    return {
        "BROKER_REDIS_TLS_CA_FILE": ca_file,
        "BROKER_REDIS_TLS_CERT_FILE": cert_file,
        "BROKER_REDIS_TLS_KEY_FILE": key_file,
    }


def _issue(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/credentials", json=TARGET)


def test_broker_on_a_redis_cluster_serves_credentials_from_the_shared_cache(
    redis_cluster: topologies.Cluster, tmp_path: Path
) -> None:
    redis_cluster.flush()
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(emulator, redis_url=redis_cluster.url, log_dir=tmp_path) as broker,
    ):
        token = emulator.sign_in("carol")
        with broker.client(token) as client:
            statuses = [_issue(client).status_code for _ in range(3)]
            assert client.get("/readyz").status_code == 200
        counts = emulator.counts()

    assert statuses == [200, 200, 200]
    # One exchange, one GetDataAccess: the second and third requests were answered by the cluster.
    assert (counts.get("CreateTokenWithIAM"), counts.get("GetDataAccess")) == (1, 1)
    written = 0
    for port in redis_cluster.ports:
        with topologies.redis.Redis(port=port) as node:
            written += node.dbsize()
    assert written > 0


def test_broker_on_sentinel_survives_a_failover_without_a_500(
    redis_sentinel: topologies.SentinelSetup, tmp_path: Path
) -> None:
    redis_sentinel.flush()
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(emulator, redis_url=redis_sentinel.url, log_dir=tmp_path) as broker,
    ):
        token = emulator.sign_in("carol")
        with broker.client(token) as client:
            assert _issue(client).status_code == 200
            switched = threading.Event()
            during: list[httpx.Response] = []

            def fail_over() -> None:
                redis_sentinel.failover()
                switched.set()

            worker = threading.Thread(target=fail_over)
            worker.start()
            while not switched.wait(0.05):
                during.append(_issue(client))
            worker.join()
            after = [_issue(client) for _ in range(SETTLED_REQUESTS * 4)]
        with broker.client(emulator.sign_in("alice")) as fresh:
            signed_in_after = fresh.post(
                "/v1/credentials", json={"target": "s3://demo-data/users/alice/x", "permission": "READ"}
            )

    refused = [r for r in during + after if r.status_code != 200]
    assert all(r.status_code == 503 for r in refused), [(r.status_code, r.text) for r in refused]
    assert all(r.json()["code"] == "cache_unavailable" and r.headers["Retry-After"] for r in refused)
    # Once the broker found the new master, every request is served again.
    assert [r.status_code for r in after[-SETTLED_REQUESTS:]] == [200] * SETTLED_REQUESTS
    assert signed_in_after.status_code == 200, signed_in_after.text
    assert during, "no request ran while the sentinels switched masters"


def test_broker_on_tls_as_an_acl_user_serves_credentials_and_never_logs_the_password(
    redis_tls: topologies.TlsServer, tmp_path: Path
) -> None:
    redis_tls.flush()
    tls = {
        **_tls_settings(redis_tls.ca_file, redis_tls.cert_file, redis_tls.key_file),
        "BROKER_REDIS_USERNAME": topologies.ACL_USER,
        "BROKER_REDIS_PASSWORD": topologies.ACL_PASSWORD,
    }
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(
            emulator,
            redis_url=redis_tls.url(credentials=False),
            log_dir=tmp_path,
            log_level="DEBUG",
            extra_env=tls,
        ) as broker,
    ):
        with broker.client(emulator.sign_in("carol")) as client:
            statuses = [_issue(client).status_code for _ in range(2)]
        with redis_tls.admin() as admin:
            written = admin.dbsize()
        exchanges = emulator.counts().get("CreateTokenWithIAM")

    assert statuses == [200, 200]
    assert exchanges == 1
    assert written > 0
    assert topologies.ACL_PASSWORD not in broker.log.read_text()


def test_broker_on_tls_sentinels_serves_credentials_from_the_tls_master(
    redis_tls_sentinel: topologies.TlsSentinelSetup, tmp_path: Path
) -> None:
    files = redis_tls_sentinel.files
    tls = _tls_settings(files.ca_file, files.client_cert, files.client_key)
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(
            emulator, redis_url=redis_tls_sentinel.url, log_dir=tmp_path, extra_env=tls
        ) as broker,
    ):
        with broker.client(emulator.sign_in("carol")) as client:
            statuses = [_issue(client).status_code for _ in range(2)]
        exchanges = emulator.counts().get("CreateTokenWithIAM")
    with files.client(redis_tls_sentinel.master_port()) as master:
        written = master.dbsize()

    assert statuses == [200, 200]
    assert exchanges == 1  # the second request was served from the shared cache on the TLS master
    assert written > 0
