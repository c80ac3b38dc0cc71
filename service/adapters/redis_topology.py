"""Redis clients for each topology BROKER_REDIS_URL names: one server, Sentinel or Cluster, TLS and ACL users.

The URL is parsed by service/domain/redis_url.py.

URL forms (docs: README, "Redis topologies"):

- ``redis://[user:password@]host:port/db``, ``rediss://…`` (TLS), ``unix:///path.sock``: one server.
- ``redis+sentinel://[user:password@]host:port[,host:port…]/master-name[/db]`` (``rediss+sentinel`` for TLS):
  the sentinels to ask for the master's address; the credentials are the master's.
- ``redis+cluster://[user:password@]host:port[,host:port…]`` (``rediss+cluster`` for TLS): seed nodes of a
  Redis Cluster; the rest of the cluster is discovered.

No error message built here contains the URL: it may hold a password.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from service.domain.redis_url import RedisOptions, parse_target, topology_of

RedisClient = redis.Redis | RedisCluster


def _tls_kwargs(options: RedisOptions) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"ssl_cert_reqs": "required"}
    if options.ca_file:
        kwargs["ssl_ca_certs"] = options.ca_file
    if options.cert_file:
        kwargs["ssl_certfile"] = options.cert_file
    if options.key_file:
        kwargs["ssl_keyfile"] = options.key_file
    return kwargs


def _credentials(username: str | None, password: str | None, options: RedisOptions) -> dict[str, Any]:
    """The URL's credentials, else the settings' ones."""
    if username is None and password is None:
        username, password = options.username, options.password
    return {"username": username, "password": password}


def connect(
    url: str, options: RedisOptions, *, socket_timeout: float, max_connections: int
) -> tuple[RedisClient, Callable[[], Awaitable[None]]]:
    """Build the client ``url`` names (no network I/O yet); return it and how to close all it opened."""
    timeouts: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
    # One immediate retry absorbs a pooled connection the server closed (or a master that moved); more
    # would only add latency during an outage, when answering from the mirror is the better use of time.
    resilience: dict[str, Any] = {"retry": Retry(NoBackoff(), 1), "health_check_interval": 30}
    topology = topology_of(url)
    if topology == "single":
        extra = _tls_kwargs(options) if url.lower().startswith("rediss://") else {}
        if options.username is not None or options.password is not None:
            # from_url lets the URL's own credentials win over these.
            extra.update(username=options.username, password=options.password)
        pool = redis.ConnectionPool.from_url(
            url, max_connections=max_connections, **timeouts, **resilience, **extra
        )
        client = redis.Redis.from_pool(pool)
        return client, client.aclose
    target = parse_target(url)
    tls = {"ssl": True, **_tls_kwargs(options)} if target.tls else {}
    auth = _credentials(target.username, target.password, options)
    if target.topology == "cluster":
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.hosts],
            max_connections=max_connections,
            # One immediate retry (after refreshing the slot map) instead of seconds of backoff.
            retry=Retry(NoBackoff(), 1),
            **timeouts,
            **auth,
            **tls,
        )
        return cluster, cluster.aclose
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves Sentinel.__init__ untyped
        list(target.hosts),
        # redis-py's default retry backs off for seconds: every cache call would wait that long for a
        # sentinel that is down.
        sentinel_kwargs={**timeouts, **tls, "retry": Retry(NoBackoff(), 1)},
        **timeouts,
    )
    master: redis.Redis = sentinel.master_for(
        target.master or "", db=target.db, max_connections=max_connections, **resilience, **auth, **tls
    )

    async def close() -> None:
        await master.aclose()
        for client in sentinel.sentinels:
            await client.aclose()

    return master, close
