"""Cache key names (``tipb:v1:<layer>:[{<user hmac>}:]<hmac>``) and the ports that seal values and hash names.

Every cache key the broker writes is derived here (docs/architecture.md#cache-layers).
"""

from __future__ import annotations

import functools
from typing import Protocol

NAMESPACE = "tipb:v1"
# No cached value outlives this, whatever a credential or token claims (AWS sessions end within 12 h).
MAX_TTL_SECONDS = 2 * 86400
# Layers keyed by (issuer, subject, ...): their keys share the user's hash tag, so a Redis Cluster keeps one
# user's session, access book, mark, budgets, locks and pin in one slot and one MGET reads them together.
_USER_LAYERS = frozenset({"session", "access", "revoked", "lock", "pin-sub"})
# Layers a warm request reads (a cached session or access record with its revocation marks): their names
# are kept in process, so a warm request computes no HMAC.
_WARM_LAYERS = frozenset({"session", "access", "revoked", "revoked-all", "revoked-jti", "grants-changed"})


class Sealer(Protocol):
    """Encrypts values bound to their cache key."""

    def seal(self, cache_key: str, plaintext: bytes) -> bytes: ...

    def open(self, cache_key: str, blob: bytes) -> bytes | None: ...


class Hasher(Protocol):
    """Turns identities into opaque, keyed digests for cache keys."""

    def digest(self, *parts: str) -> str: ...


class CacheKeys:
    """Derives the versioned cache key of a layer and its parts: no identity appears in a key in clear."""

    def __init__(self, hasher: Hasher, derived: int) -> None:
        """``derived``: how many key names derived in process (an HMAC each) are kept."""
        self._hasher = hasher
        self._derived = functools.lru_cache(maxsize=derived)(self._derive)
        # One user's hash tag is in every name of their layers: computed once per user while kept.
        self._user_tag = functools.lru_cache(maxsize=derived)(self._tag)

    def __call__(self, layer: str, *parts: str) -> str:
        """Return the key of ``layer`` for ``parts`` (an issuer and subject, a jti, ...)."""
        if layer in _WARM_LAYERS:
            return self._derived(layer, *parts)
        # Cold-path layers (a claim, a lock, a pin) are derived afresh: kept, they would push the warm
        # path's names out of the cache once users outnumber its share of them.
        return self._derive(layer, *parts)

    def _derive(self, layer: str, *parts: str) -> str:
        digest = self._hasher.digest(layer, *parts)
        if layer in _USER_LAYERS or layer.startswith("budget-"):
            # parts start with (issuer, subject): one hash tag per user (docs/architecture.md#cache-keys).
            return f"{NAMESPACE}:{layer}:{{{self._user_tag(parts[0], parts[1])}}}:{digest}"
        return f"{NAMESPACE}:{layer}:{digest}"

    def _tag(self, issuer: str, subject: str) -> str:
        return self._hasher.digest("user", issuer, subject)
