"""At start: warn when the container's memory limit cannot hold the users the caches are sized for."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from service.domain.cache_sizes import CacheSizes

logger = logging.getLogger("service.memory")

# cgroup v2, then v1: the limit the kernel kills the container at.
CGROUP_LIMIT_FILES = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
# cgroup v1 writes "no limit" as the largest page-aligned 64-bit value; anything this large means none.
_UNLIMITED_BYTES = 1 << 60
_MIB = 1024 * 1024


def container_limit_mib(files: Sequence[Path] = CGROUP_LIMIT_FILES) -> int | None:
    """Return the container's memory limit in MiB, or None when it has none (or it cannot be read)."""
    for file in files:
        try:
            text = file.read_text().strip()
        except OSError:
            continue
        if text == "max" or not text.isdigit() or int(text) >= _UNLIMITED_BYTES:
            return None
        return int(text) // _MIB
    return None


def warn_if_short(sizes: CacheSizes, workers: int, files: Sequence[Path] = CGROUP_LIMIT_FILES) -> None:
    """Log ``memory.limit_below_active_set`` when ``workers`` processes with full caches exceed the limit.

    Each worker keeps its own caches, so a busy one grows until the kernel kills the container (OOMKilled)
    instead of serving its users with a cache miss now and then (docs/operations.md#memory).
    """
    limit = container_limit_mib(files)
    needed = workers * sizes.full_mib
    if limit is None or limit >= needed:
        return
    logger.warning(
        "memory.limit_below_active_set",
        extra={
            "limit_mib": limit,
            "needed_mib": needed,
            "active_users": sizes.active_users,
            "workers": workers,
            "remedy": "lower BROKER_ACTIVE_USERS or raise the container's memory limit",
        },
    )
