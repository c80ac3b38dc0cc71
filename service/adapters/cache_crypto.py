"""Protection for cache contents: AES-GCM sealing of secret values and HMAC digests for cache keys.

Keys never hold raw tokens, subjects or targets; values holding credentials are encrypted with the key id
and the cache key as associated data, so a value copied under another key does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.domain.cache_key import GENERATE_HINT as _GENERATE_HINT
from service.domain.cache_key import KEY_BYTES, decode_cache_key

__all__ = ["KEY_BYTES", "CacheSealer", "KeyHasher", "decode_cache_key"]

_VERSION: Final = b"\x01"
_KEY_ID_BYTES: Final = 8
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_HEADER_BYTES: Final = len(_VERSION) + _KEY_ID_BYTES + _NONCE_BYTES
_DIGEST_CHARS: Final = 32
_HASHER_KEY_INFO: Final = b"tipb:v1:cache-key-hasher"


def _check_key(key: bytes) -> None:
    """Reject a key that is not 32 bytes."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"cache key must be {KEY_BYTES} bytes, got {len(key)}; {_GENERATE_HINT}")


class CacheSealer:
    """Encrypts cache values with AES-256-GCM: version | key id | nonce | ciphertext+tag."""

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._aead = AESGCM(key)
        self._key_id = hashlib.sha256(key).digest()[:_KEY_ID_BYTES]

    def seal(self, cache_key: str, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``cache_key``."""
        # Random 96-bit nonces: safe far beyond the number of values one key seals before rotation.
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext, self._associated_data(cache_key))
        return _VERSION + self._key_id + nonce + ciphertext

    def open(self, cache_key: str, blob: bytes) -> bytes | None:
        """Return the plaintext, or None when ``blob`` is malformed, tampered, or sealed elsewhere."""
        if len(blob) < _HEADER_BYTES + _TAG_BYTES or blob[:1] != _VERSION:
            return None
        key_id = blob[1 : 1 + _KEY_ID_BYTES]
        if not hmac.compare_digest(key_id, self._key_id):
            return None
        nonce = blob[1 + _KEY_ID_BYTES : _HEADER_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[_HEADER_BYTES:], self._associated_data(cache_key))
        except InvalidTag:
            return None

    def _associated_data(self, cache_key: str) -> bytes:
        """Bind a value to this key id and its cache key."""
        return self._key_id + cache_key.encode()


class KeyHasher:
    """Builds cache-key digests: HMAC-SHA256 under a key derived apart from the sealing key."""

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        # A separate derived key so that hashing and encryption never share key material.
        self._hmac_key = HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_HASHER_KEY_INFO
        ).derive(key)

    def digest(self, *parts: str) -> str:
        """Return 32 hex characters (128 bits) of HMAC-SHA256 over ``parts``."""
        # Parts are joined with 0x1f, each preceded by its byte length: S3 keys and subjects may
        # themselves contain 0x1f, and the length makes ("a\x1fb", "c") and ("a", "b\x1fc") differ.
        message = b"\x1f".join(len(data).to_bytes(4, "big") + data for data in (p.encode() for p in parts))
        return hmac.digest(self._hmac_key, message, "sha256").hex()[:_DIGEST_CHARS]
