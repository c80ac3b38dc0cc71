"""What BROKER_REDIS_URL names: its topology (one server, Sentinel or Cluster), hosts, TLS and credentials.

Parsed here, without a Redis client, so settings can check a URL; the clients are built in
service/adapters/redis_topology.py. No error message built here contains the URL: it may hold a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

Topology = Literal["single", "sentinel", "cluster"]

_SCHEMES: dict[str, tuple[Topology, bool]] = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "unix": ("single", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
SUPPORTED_SCHEMES = tuple(f"{scheme}://" for scheme in _SCHEMES)


@dataclass(frozen=True)
class RedisOptions:
    """What the URL cannot say: TLS files and ACL credentials kept out of the URL."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RedisTarget:
    """A parsed multi-host URL (Sentinel or Cluster)."""

    topology: Topology
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    master: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def topology_of(url: str) -> Topology:
    """Return which topology ``url`` names.

    Raises:
        ValueError: the scheme is not one of SUPPORTED_SCHEMES.
    """
    scheme = url.partition("://")[0].lower()
    if scheme not in _SCHEMES or "://" not in url:
        raise ValueError(f"the URL must start with one of {', '.join(SUPPORTED_SCHEMES)}")
    return _SCHEMES[scheme][0]


def parse_target(url: str) -> RedisTarget:
    """Parse a ``redis+sentinel://`` or ``redis+cluster://`` URL (see the module docstring).

    Raises:
        ValueError: the URL is malformed; the message never repeats it.
    """
    topology = topology_of(url)
    if topology == "single":
        raise ValueError("a single-server URL has no host list")
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    hosts = tuple(_host(entry) for entry in hostlist.split(",") if entry)
    if not hosts:
        raise ValueError("the URL names no host:port")
    segments = [unquote(part) for part in path.split("?")[0].split("/") if part]
    master, db = None, 0
    if topology == "sentinel":
        if not segments or len(segments) > 2:
            raise ValueError("a sentinel URL ends with /<master-name> or /<master-name>/<db>")
        master = segments[0]
        db = _db(segments[1]) if len(segments) == 2 else 0
    elif segments:
        raise ValueError("a cluster URL has no path: a Redis Cluster has only database 0")
    return RedisTarget(topology, _SCHEMES[scheme.lower()][1], hosts, master, db, username, password)


def _host(entry: str) -> tuple[str, int]:
    host, colon, port = entry.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("each host must be host:port")
    return host.strip("[]"), int(port)


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError("the database must be a number")
    return int(text)
