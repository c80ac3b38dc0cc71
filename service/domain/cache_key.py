"""The broker's cache key setting (BROKER_CACHE_KEY): 32 random bytes, given base64-encoded."""

from __future__ import annotations

import base64
import binascii
from typing import Final

KEY_BYTES: Final = 32
GENERATE_HINT: Final = (
    'generate one with: python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'
)


def decode_cache_key(value: str) -> bytes:
    """Decode a base64 cache key and check that it is 32 bytes.

    Raises:
        ValueError: the value is not base64 or not 32 bytes; the message never repeats the value.
    """
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"cache key must be base64 of {KEY_BYTES} random bytes; {GENERATE_HINT}") from None
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"cache key must decode to {KEY_BYTES} bytes, got {len(key)}; {GENERATE_HINT}",
        )
    return key
