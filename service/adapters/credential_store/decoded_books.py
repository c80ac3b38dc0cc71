"""Decoded access records kept in process by their sealed bytes: a warm read skips AES-GCM and JSON."""

from __future__ import annotations

from collections.abc import Callable

from service.adapters.credential_store.records import decode_book
from service.domain.access_book import AccessBook
from service.metrics import CacheCounter


class DecodedBooks:
    """The last decoded access record per cache key with its sealed value, least recently used first.

    A sealed value never changes once written (every write has a fresh nonce), so while the cache returns
    the same bytes the decoded record is reused, and is never stale.
    """

    def __init__(
        self, open_sealed: Callable[[str, bytes], bytes | None], capacity: int, lookups: CacheCounter
    ) -> None:
        self._open = open_sealed
        self._capacity = capacity
        self._lookups = lookups
        self._books: dict[str, tuple[bytes, AccessBook]] = {}

    def decode(self, key: str, blob: bytes | None) -> AccessBook | None:
        """Return the record sealed in ``blob`` under ``key`` (None when absent or unreadable)."""
        if blob is None:
            return None
        decoded = self._books.get(key)
        if decoded is not None and decoded[0] == blob:
            self._lookups.hit.inc()
            book = decoded[1]
        else:
            self._lookups.miss.inc()
            plain = self._open(key, blob)
            if plain is None:
                return None
            book = decode_book(plain)
        self.remember(key, blob, book)
        return book

    def remember(self, key: str, blob: bytes, book: AccessBook) -> None:
        """Keep ``book`` as what ``blob`` (just read or written under ``key``) decodes to."""
        self._books.pop(key, None)
        if len(self._books) >= self._capacity:
            del self._books[next(iter(self._books))]  # the least recently used
        self._books[key] = (blob, book)

    def forget(self, key: str) -> None:
        """Drop what is kept for ``key``."""
        self._books.pop(key, None)
