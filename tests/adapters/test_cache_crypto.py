"""Cache value sealing (AES-256-GCM), cache-key digests (HMAC) and cache key decoding."""

from __future__ import annotations

import base64
import os

import pytest

from service.adapters.cache_crypto import CacheSealer, KeyHasher, decode_cache_key

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CACHE_KEY = "tipb:v1:data:0123456789abcdef"


def test_cache_sealer_open_returns_plaintext_when_sealed_under_same_keys() -> None:
    sealer = CacheSealer(KEY)

    assert sealer.open(CACHE_KEY, sealer.seal(CACHE_KEY, b"secret access key")) == b"secret access key"


def test_cache_sealer_seal_hides_plaintext() -> None:
    assert b"secret access key" not in CacheSealer(KEY).seal(CACHE_KEY, b"secret access key")


def test_cache_sealer_seal_differs_each_time_for_same_input() -> None:
    sealer = CacheSealer(KEY)

    assert sealer.seal(CACHE_KEY, b"v") != sealer.seal(CACHE_KEY, b"v")


@pytest.mark.parametrize("position", [0, 1, 9, 21, -1])
def test_cache_sealer_open_returns_none_when_blob_tampered(position: int) -> None:
    sealer = CacheSealer(KEY)
    blob = bytearray(sealer.seal(CACHE_KEY, b"secret"))

    blob[position] ^= 0x01

    assert sealer.open(CACHE_KEY, bytes(blob)) is None


def test_cache_sealer_open_returns_none_when_cache_key_differs() -> None:
    sealer = CacheSealer(KEY)
    blob = sealer.seal(CACHE_KEY, b"secret")

    assert sealer.open("tipb:v1:data:fedcba9876543210", blob) is None


def test_cache_sealer_open_returns_none_when_sealed_with_other_key() -> None:
    blob = CacheSealer(OTHER_KEY).seal(CACHE_KEY, b"secret")

    assert CacheSealer(KEY).open(CACHE_KEY, blob) is None


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + bytes(35), b"not a sealed value at all"])
def test_cache_sealer_open_returns_none_when_blob_malformed(blob: bytes) -> None:
    assert CacheSealer(KEY).open(CACHE_KEY, blob) is None


def test_cache_sealer_open_returns_none_when_key_id_matches_but_key_differs() -> None:
    # A blob relabelled with the reader's key id still fails authentication.
    sealer = CacheSealer(KEY)
    foreign = CacheSealer(OTHER_KEY).seal(CACHE_KEY, b"secret")
    relabelled = sealer.seal(CACHE_KEY, b"x")[:9] + foreign[9:]

    assert sealer.open(CACHE_KEY, relabelled) is None


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(31), bytes(33)])
def test_cache_sealer_rejects_key_when_not_32_bytes(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CacheSealer(key)


def test_key_hasher_digest_is_stable_for_same_key_and_parts() -> None:
    assert KeyHasher(KEY).digest("issuer", "subject") == KeyHasher(KEY).digest("issuer", "subject")


def test_key_hasher_digest_is_32_lowercase_hex_chars() -> None:
    digest = KeyHasher(KEY).digest("issuer", "subject")

    assert len(digest) == 32
    assert set(digest) <= set("0123456789abcdef")


def test_key_hasher_digest_differs_when_key_differs() -> None:
    assert KeyHasher(KEY).digest("issuer", "subject") != KeyHasher(OTHER_KEY).digest("issuer", "subject")


def test_key_hasher_digest_differs_when_parts_differ() -> None:
    assert KeyHasher(KEY).digest("issuer", "alice") != KeyHasher(KEY).digest("issuer", "bob")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("a\x1fb", "c"), ("a", "b\x1fc")),
        (("ab", "c"), ("a", "bc")),
        (("a", ""), ("a",)),
    ],
)
def test_key_hasher_digest_differs_when_parts_split_differently(
    left: tuple[str, ...], right: tuple[str, ...]
) -> None:
    assert KeyHasher(KEY).digest(*left) != KeyHasher(KEY).digest(*right)


def test_key_hasher_digest_does_not_contain_raw_part() -> None:
    assert "alice" not in KeyHasher(KEY).digest("alice")


def test_key_hasher_rejects_key_when_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyHasher(bytes(16))


def test_decode_cache_key_returns_32_bytes_when_valid() -> None:
    key = os.urandom(32)

    assert decode_cache_key(base64.b64encode(key).decode()) == key


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_decode_cache_key_rejects_value_when_not_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match=r"32 bytes.*os\.urandom\(32\)"):
        decode_cache_key(base64.b64encode(bytes(length)).decode())


@pytest.mark.parametrize("value", ["not base64!", "abc", "====", "ü" * 44])
def test_decode_cache_key_rejects_value_when_not_base64(value: str) -> None:
    with pytest.raises(ValueError, match=r"base64.*os\.urandom\(32\)"):
        decode_cache_key(value)


def test_decode_cache_key_error_does_not_repeat_value() -> None:
    with pytest.raises(ValueError, match="base64") as caught:
        decode_cache_key("hunter2-secret")

    assert "hunter2" not in str(caught.value)
