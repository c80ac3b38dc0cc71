"""Shared fixtures: a real Redis server for adapter tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import redis.asyncio

from bench.fleet import StoppableRedis
from service.adapters.redis_cache import RedisCache
from service.domain.redis_url import RedisOptions
from tests import redis_topologies as topologies

# The tip_emulator fixture of the tip-emulator distribution (its pytest11 entry point, registered under
# this module name, when the distribution is installed).
pytest_plugins = ["emulator.pytest_plugin"]

_FALLBACK_REDIS_URL = "redis://127.0.0.1:6379/11"
_STARTUP_SECONDS = 10.0
T = TypeVar("T")


def _free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_redis(url: str, server: subprocess.Popen[bytes]) -> None:
    """Block until the server at ``url`` answers PING, or fail the session."""
    deadline = time.monotonic() + _STARTUP_SECONDS
    with redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"redis-server exited with {server.returncode} before answering PING")
            try:
                client.ping()
            except redis.ConnectionError:
                time.sleep(0.05)
            else:
                return
    pytest.fail(f"redis-server did not answer PING within {_STARTUP_SECONDS} s")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """Yield the URL of a Redis the tests may flush: TIPB_TEST_REDIS_URL, a private server, or DB 11."""
    configured = os.environ.get("TIPB_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    executable = shutil.which("redis-server")
    if executable is None:
        yield _FALLBACK_REDIS_URL
        return
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="tipb-redis-") as workdir:
        server = subprocess.Popen(  # noqa: S603 - fixed arguments, executable found on PATH
            [
                executable,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"redis://127.0.0.1:{port}/0"
            _wait_for_redis(url, server)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture
async def redis_cache(redis_url: str) -> AsyncIterator[RedisCache]:
    """Yield a ``RedisCache`` on a freshly flushed database, closed afterwards."""
    admin = redis.asyncio.Redis.from_url(redis_url)
    try:
        await admin.flushdb()
    finally:
        await admin.aclose()
    # A generous timeout: the tests exercise behaviour, and a loaded CI machine must not turn into misses.
    cache = RedisCache.from_url(redis_url, socket_timeout=2.0)
    yield cache
    await cache.close()


@pytest.fixture
def stoppable_redis() -> Iterator[StoppableRedis]:
    """Yield a running private redis-server on a free port; the test may stop and restart it (empty)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with tempfile.TemporaryDirectory(prefix="tipb-redis-outage-") as workdir:
        server = StoppableRedis(Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def _topology(start: Callable[[Path], AbstractContextManager[T]], prefix: str) -> Iterator[T]:
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        try:
            running = start(Path(workdir))
            value = running.__enter__()
        except topologies.MissingBinaryError as missing:
            pytest.skip(str(missing))
        try:
            yield value
        finally:
            running.__exit__(None, None, None)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[topologies.Cluster]:
    """Yield a private 3-master Redis Cluster on loopback ports (skipped when redis-server is missing)."""
    with _topology(topologies.cluster, "tipb-cluster-") as running:
        yield running


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[topologies.SentinelSetup]:
    """Yield a private master, replica and two sentinels on loopback ports."""
    with _topology(topologies.sentinel_setup, "tipb-sentinel-") as running:
        yield running


@pytest.fixture(scope="session")
def redis_tls_cluster() -> Iterator[topologies.Cluster]:
    """Yield a private 3-master cluster whose nodes and bus speak TLS only, with client certificates."""
    with _topology(topologies.tls_cluster, "tipb-tls-cluster-") as running:
        yield running


@pytest.fixture(scope="session")
def redis_tls_sentinel() -> Iterator[topologies.TlsSentinelSetup]:
    """Yield a private TLS-only master, replica and two TLS-only sentinels on loopback ports."""
    with _topology(topologies.tls_sentinel_setup, "tipb-tls-sentinel-") as running:
        yield running


@pytest.fixture(scope="session")
def redis_tls() -> Iterator[topologies.TlsServer]:
    """Yield a private TLS-only server with client certificates and ACL users."""
    with _topology(topologies.tls_server, "tipb-tls-") as running:
        yield running


@pytest.fixture
async def cluster_cache(redis_cluster: topologies.Cluster) -> AsyncIterator[RedisCache]:
    """Yield a ``RedisCache`` on the (flushed) private cluster."""
    redis_cluster.flush()
    cache = RedisCache.from_url(redis_cluster.url, socket_timeout=2.0)
    yield cache
    await cache.close()


@pytest.fixture
async def sentinel_cache(redis_sentinel: topologies.SentinelSetup) -> AsyncIterator[RedisCache]:
    """Yield a ``RedisCache`` on the (flushed) master the sentinels name."""
    redis_sentinel.flush()
    cache = RedisCache.from_url(redis_sentinel.url, socket_timeout=2.0)
    yield cache
    await cache.close()


@pytest.fixture
async def tls_cache(redis_tls: topologies.TlsServer) -> AsyncIterator[RedisCache]:
    """Yield a ``RedisCache`` on the (flushed) TLS server, as its ACL user, with a client certificate."""
    redis_tls.flush()
    options = RedisOptions(
        ca_file=redis_tls.ca_file, cert_file=redis_tls.cert_file, key_file=redis_tls.key_file
    )
    cache = RedisCache.from_url(redis_tls.url(), options=options, socket_timeout=2.0)
    yield cache
    await cache.close()
