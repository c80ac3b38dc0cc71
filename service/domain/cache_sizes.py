"""How many entries each in-process cache of a replica holds, derived from the users it serves at once."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Users one replica keeps warm by default: the active set of a busy replica (docs/operations.md#memory).
DEFAULT_ACTIVE_USERS = 50_000
# Memory per cached user with AWS-sized credentials (a session token of about a thousand characters in the
# session and in each vended access), in-process cache included, so an upper bound for a replica with Redis:
# `python -m bench.bench_users` measures it and fails above this figure.
KIB_PER_ACTIVE_USER = 13
# One started broker process before any user is served (VmRSS, bench_http's broker_peak_rss row).
IDLE_MIB = 140


@dataclass(frozen=True, slots=True)
class CacheSizes:
    """Entry limits of the per-replica caches, each sized so ``active_users`` users never thrash it."""

    active_users: int = DEFAULT_ACTIVE_USERS

    @property
    def full_mib(self) -> int:
        """Memory of one broker process whose caches hold ``active_users`` users."""
        return IDLE_MIB + math.ceil(self.active_users * KIB_PER_ACTIVE_USER / 1024)

    @property
    def verified_tokens(self) -> int:
        """Verified ID tokens: a user may hold two while a client rotates its token."""
        return 2 * self.active_users

    @property
    def decoded_books(self) -> int:
        """Decoded access records (one per user): a miss costs AES-GCM and a JSON decode."""
        return self.active_users

    @property
    def mirrored_users(self) -> int:
        """Users whose session and access the outage mirror keeps."""
        return self.active_users

    @property
    def derived_keys(self) -> int:
        """Cache key names of the warm path's layers (an HMAC each): three per user and token, and room."""
        return 4 * self.active_users

    @property
    def routed_tokens(self) -> int:
        """Tokens whose issuer is known (several issuers): like the verified tokens."""
        return self.verified_tokens

    @property
    def serialized_answers(self) -> int:
        """Answers serialized once and served again while their credentials are cached: one per user."""
        return self.active_users

    @property
    def signing_identities(self) -> int:
        """SigV4 signing keys by credentials and day: each user's vended credentials, two per user."""
        return 2 * self.active_users

    @property
    def memory_entries(self) -> int:
        """Entries of the in-process cache when no Redis is configured: about eight layers per user."""
        return 8 * self.active_users
