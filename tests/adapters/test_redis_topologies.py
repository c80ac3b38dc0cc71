"""RedisCache on a real cluster, sentinel setup and TLS + ACL server: what differs from one plain server."""

from __future__ import annotations

import asyncio
import gc
import logging
import os

import pytest
import redis
from redis.cluster import key_slot

from bench.stack import free_port
from service.adapters.cache_crypto import KeyHasher
from service.adapters.credential_store.keys import CacheKeys
from service.adapters.redis_cache import RedisCache
from service.domain.cache_errors import CacheUnavailableError
from service.domain.redis_url import RedisOptions
from tests import redis_topologies as topologies

# Guards calls that must not hang; generous, and never asserted as a timing.
NO_HANG_SECONDS = 20


def _keys_on_every_master(cluster: topologies.Cluster, count: int = 30) -> list[str]:
    """Return ``count`` keys; the test checks they land on all three masters."""
    keys = [f"tipb:v1:test:{index}" for index in range(count)]
    with cluster.client() as client:
        owners = {client.get_node_from_key(key).port for key in keys}
    assert owners == set(cluster.ports)
    return keys


async def test_cluster_coalesced_read_spans_every_master(
    cluster_cache: RedisCache, redis_cluster: topologies.Cluster
) -> None:
    keys = _keys_on_every_master(redis_cluster)
    for key in keys[::2]:
        await cluster_cache.set(key, key.encode(), 60)

    # Same event-loop tick: one coalesced read over keys of many slots, answered in order.
    values = await asyncio.gather(*(cluster_cache.get(key) for key in keys))
    checked = await cluster_cache.get_many_checked(keys)

    expected = [key.encode() if index % 2 == 0 else None for index, key in enumerate(keys)]
    assert (values, checked) == (expected, expected)


async def test_cluster_delete_spans_every_master(
    cluster_cache: RedisCache, redis_cluster: topologies.Cluster
) -> None:
    keys = _keys_on_every_master(redis_cluster)
    for key in keys:
        await cluster_cache.set(key, b"v", 60)

    await cluster_cache.delete(keys[1:])

    assert await cluster_cache.get_many(keys) == [b"v"] + [None] * (len(keys) - 1)


def test_one_users_keys_share_a_hash_slot_and_users_spread() -> None:
    derive = CacheKeys(KeyHasher(os.urandom(32)), 1024)

    def user_keys(subject: str) -> list[str]:
        return [
            derive("session", "https://idp", subject),
            derive("access", "https://idp", subject),
            derive("revoked", "https://idp", subject),
            derive("lock", "https://idp", subject, "session"),
            derive("budget-upstream", "https://idp", subject),
            derive("pin-sub", "https://idp", subject),
        ]

    alice = user_keys("alice")
    assert len({key_slot(k.encode()) for k in alice}) == 1
    assert all(k.startswith(f"tipb:v1:{k.split(':')[2]}:{{") for k in alice)
    slots = {key_slot(user_keys(f"user-{n}")[0].encode()) for n in range(50)}
    assert len(slots) > 40  # users spread over the cluster, not one hot slot
    assert "{" not in derive("revoked-all") + derive("jti", "https://idp", "jti-1")


@pytest.mark.parametrize("scheme", ["redis+cluster", "redis+sentinel"])
async def test_unreachable_cluster_or_sentinels_degrade_like_an_unreachable_server(scheme: str) -> None:
    path = "/tipb" if scheme == "redis+sentinel" else ""
    cache = RedisCache.from_url(f"{scheme}://127.0.0.1:{free_port()}{path}", socket_timeout=0.2)
    try:
        async with asyncio.timeout(NO_HANG_SECONDS):
            assert await cache.get("tipb:v1:test:a") is None
            assert await cache.ping() is False
            await cache.set("tipb:v1:test:a", b"v", 60)
            async with cache.lock("tipb:v1:lock:a", 5) as held:
                assert held is True  # no coordination possible: the caller goes ahead
            with pytest.raises(CacheUnavailableError):
                await cache.get_many_checked(["tipb:v1:test:a"])
            with pytest.raises(CacheUnavailableError):
                await cache.spend("tipb:v1:test:bucket", 3, 1.0)
    finally:
        await cache.close()


async def test_sentinel_cache_keeps_working_after_failover(
    sentinel_cache: RedisCache, redis_sentinel: topologies.SentinelSetup
) -> None:
    await sentinel_cache.set("tipb:v1:test:before", b"kept", 60)
    old_master = redis_sentinel.master_port()

    new_master = await asyncio.to_thread(redis_sentinel.failover)

    assert new_master != old_master
    async with asyncio.timeout(NO_HANG_SECONDS):
        for _ in range(100):  # the first commands after the switch may meet a closed connection
            if await sentinel_cache.ping():
                break
            await asyncio.sleep(0.2)
    # Written on the new master, and what the old one replicated before the switch is still there.
    await sentinel_cache.set("tipb:v1:test:after", b"new", 60)
    assert await sentinel_cache.get_many_checked(["tipb:v1:test:before", "tipb:v1:test:after"]) == [
        b"kept",
        b"new",
    ]
    with redis.Redis(port=new_master) as master:
        assert master.get("tipb:v1:test:after") == b"new"
    assert await sentinel_cache.bump_stamp("tipb:v1:test:mark", 60) > 0


async def test_tls_cluster_reads_and_writes_across_every_master(
    redis_tls_cluster: topologies.Cluster,
) -> None:
    # rediss+cluster: every node (and the nodes the cluster redirects to) is reached over TLS.
    files = redis_tls_cluster.files
    assert files is not None
    redis_tls_cluster.flush()
    keys = _keys_on_every_master(redis_tls_cluster)
    options = RedisOptions(ca_file=files.ca_file, cert_file=files.client_cert, key_file=files.client_key)
    cache = RedisCache.from_url(redis_tls_cluster.url, options=options, socket_timeout=2.0)
    try:
        async with asyncio.timeout(NO_HANG_SECONDS):
            for key in keys:
                await cache.set(key, key.encode(), 60)
            assert await cache.get_many_checked(keys) == [key.encode() for key in keys]
    finally:
        await cache.close()
    with redis_tls_cluster.client() as client:
        assert client.get(keys[-1]) == keys[-1].encode()


async def test_tls_sentinels_lead_to_the_tls_master(redis_tls_sentinel: topologies.TlsSentinelSetup) -> None:
    # rediss+sentinel: the sentinels and the master they name are both reached over TLS, with the
    # client certificate, and the cache works on the master.
    files = redis_tls_sentinel.files
    options = RedisOptions(ca_file=files.ca_file, cert_file=files.client_cert, key_file=files.client_key)
    cache = RedisCache.from_url(redis_tls_sentinel.url, options=options, socket_timeout=2.0)
    try:
        async with asyncio.timeout(NO_HANG_SECONDS):
            await cache.set("tipb:v1:test:tls-sentinel", b"over tls", 60)
            assert await cache.get_many_checked(["tipb:v1:test:tls-sentinel"]) == [b"over tls"]
            assert await cache.add("tipb:v1:test:tls-sentinel", b"again", 60) is False
    finally:
        await cache.close()
    with files.client(redis_tls_sentinel.master_port()) as master:
        assert master.get("tipb:v1:test:tls-sentinel") == b"over tls"


async def test_tls_sentinels_refuse_a_client_without_tls(
    redis_tls_sentinel: topologies.TlsSentinelSetup,
) -> None:
    plain_url = redis_tls_sentinel.url.replace("rediss+sentinel://", "redis+sentinel://")
    cache = RedisCache.from_url(plain_url, socket_timeout=1.0)
    try:
        async with asyncio.timeout(NO_HANG_SECONDS):
            with pytest.raises(CacheUnavailableError):
                await cache.get_many_checked(["tipb:v1:test:tls-sentinel"])
    finally:
        await cache.close()


async def test_tls_acl_user_from_settings_instead_of_the_url(redis_tls: topologies.TlsServer) -> None:
    options = RedisOptions(
        ca_file=redis_tls.ca_file,
        cert_file=redis_tls.cert_file,
        key_file=redis_tls.key_file,
        username=topologies.ACL_USER,
        password=topologies.ACL_PASSWORD,
    )
    cache = RedisCache.from_url(redis_tls.url(credentials=False), options=options, socket_timeout=2.0)
    try:
        assert await cache.ping() is True
        assert await cache.spend("tipb:v1:test:bucket", 2, 1.0) == 0
    finally:
        await cache.close()


# redis-py leaves the socket of a refused TLS handshake to the garbage collector (a ResourceWarning):
# collected inside the test, and not this suite's defect.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    "case",
    ["default-user", "wrong-password", "no-client-certificate", "unknown-ca"],
)
async def test_tls_acl_server_refuses_what_it_should_and_logs_no_secret(
    redis_tls: topologies.TlsServer, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-password-" + os.urandom(4).hex()
    options = RedisOptions(
        ca_file=redis_tls.ca_file, cert_file=redis_tls.cert_file, key_file=redis_tls.key_file
    )
    url = redis_tls.url()
    if case == "default-user":
        url = redis_tls.url(credentials=False)
    elif case == "wrong-password":
        url = f"rediss://{topologies.ACL_USER}:{secret}@127.0.0.1:{redis_tls.port}/0"
    elif case == "no-client-certificate":
        options = RedisOptions(ca_file=redis_tls.ca_file)
    else:
        options = RedisOptions(cert_file=redis_tls.cert_file, key_file=redis_tls.key_file)
    cache = RedisCache.from_url(url, options=options, socket_timeout=2.0)
    try:
        with caplog.at_level(logging.DEBUG):
            assert await cache.ping() is False
    finally:
        await cache.close()
        gc.collect()
    assert caplog.records
    assert secret not in caplog.text
    assert topologies.ACL_PASSWORD not in caplog.text
