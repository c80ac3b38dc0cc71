"""The cache port's own failure: raised only where a caller must choose how to degrade."""

from __future__ import annotations


class CacheUnavailableError(Exception):
    """The cache could not answer (connection refused, timeout, server error)."""
