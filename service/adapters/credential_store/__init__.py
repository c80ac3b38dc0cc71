"""The ``CredentialStore`` adapter: the broker's sealed cache layers over one byte cache (Redis or memory)."""

from service.adapters.credential_store.keys import NAMESPACE, CacheKeys, Hasher, Sealer
from service.adapters.credential_store.records import (
    decode_book,
    decode_exchange,
    decode_session,
    encode_book,
    encode_exchange,
    encode_session,
)
from service.adapters.credential_store.store import EncryptedCredentialStore

__all__ = [
    "NAMESPACE",
    "CacheKeys",
    "EncryptedCredentialStore",
    "Hasher",
    "Sealer",
    "decode_book",
    "decode_exchange",
    "decode_session",
    "encode_book",
    "encode_exchange",
    "encode_session",
]
