"""Storage ports: the byte ``Cache`` (Redis or memory) and the ``CredentialStore`` layered on it.

Part of the ports (``service.domain.ports`` re-exports both); adapters implement them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from service.domain.access_book import AccessBook
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession, TokenState
from service.domain.revocation import Revocations


class Cache(Protocol):
    """A byte-oriented key/value store with TTLs: Redis shared by replicas, or in-process memory."""

    async def get(self, key: str) -> bytes | None:
        """Return the value or None when absent or expired; never raises on an outage."""
        ...

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order (one round trip); all None on an outage."""
        ...

    async def get_many_checked(self, keys: list[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order, like ``get_many``, telling a miss from an outage.

        Raises:
            CacheUnavailableError: the cache could not answer.
        """
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store ``value`` for ``ttl_seconds``; a failure is logged, not raised."""
        ...

    async def add(self, key: str, value: bytes, ttl_seconds: int) -> bool:
        """Store only if absent (SET NX); return whether this call stored it.

        Raises:
            CacheUnavailableError: the store could not answer (callers decide how to degrade).
        """
        ...

    async def replace(self, key: str, expected: bytes | None, value: bytes, ttl_seconds: int) -> bool:
        """Store ``value`` only while ``key`` still holds ``expected`` (None: absent); return whether it did.

        Raises:
            CacheUnavailableError: the store could not answer.
        """
        ...

    async def bump_stamp(self, key: str, ttl_seconds: int) -> int:
        """Set ``key`` to a millisecond instant of the store's clock, above its current value; return it.

        Raises:
            CacheUnavailableError: the store could not answer.
        """
        ...

    async def spend(self, key: str, capacity: int, per_second: float, cost: int = 1) -> float:
        """Take ``cost`` from the token bucket ``key`` (refilled at ``per_second`` up to ``capacity``).

        Returns 0 when taken, else the seconds until enough is available (nothing is taken then).

        Raises:
            CacheUnavailableError: the store could not answer.
        """
        ...

    async def delete(self, keys: list[str]) -> None:
        """Remove keys; a failure is logged, not raised."""
        ...

    async def ping(self) -> bool:
        """Return whether the store answers (readiness)."""
        ...

    def lock(self, key: str, ttl_seconds: float) -> AbstractAsyncContextManager[bool]:
        """Hold ``key`` exclusively across replicas; yields whether this caller holds it.

        Redis answers False at once when another replica holds the lock; memory waits and yields True.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class CredentialStore(Protocol):
    """The broker's cache layers (docs/architecture.md#cache-layers) for one (issuer, subject)."""

    async def load_access(self, issuer: str, subject: str) -> AccessBook | None:
        """Return the user's cached data access (one cache read), or None."""
        ...

    async def load_access_checked(self, caller: Caller) -> tuple[AccessBook | None, Revocations]:
        """Return the user's data access and the revocation marks for the caller, in one round trip.

        Entries written by requests that began before a revocation are left out.
        """
        ...

    async def save_access(self, issuer: str, subject: str, book: AccessBook, now: datetime) -> None:
        """Store the user's data access until its last entry expires."""
        ...

    async def update_access(
        self, issuer: str, subject: str, change: Callable[[AccessBook | None], AccessBook], now: datetime
    ) -> AccessBook:
        """Apply ``change`` to the user's stored data access and store the result; return it.

        Atomic across replicas: a record another replica wrote meanwhile is read again and changed, so
        two replicas adding different entries at once both keep theirs.
        """
        ...

    async def load_session(self, issuer: str, subject: str) -> IdentitySession | None:
        """Return the user's cached identity session, or None."""
        ...

    async def load_session_checked(self, caller: Caller) -> tuple[IdentitySession | None, Revocations]:
        """Return the user's identity session (None if revoked) and the caller's revocation marks."""
        ...

    async def save_session(self, session: IdentitySession, now: datetime) -> None:
        """Store an identity session until its credentials expire."""
        ...

    async def open_ledger(self, now: datetime) -> None:
        """At start-up: record that the jti ledger's records begin now, unless the cache knows when they did.

        Tokens issued before the ledger's beginning are never sent (docs/architecture.md#the-jti-ledger).
        """
        ...

    async def claim_token(self, caller: Caller, now: datetime) -> bool:
        """Record that the caller's token is being exchanged; return False if it was claimed before.

        Raises:
            CacheOutageError: the ledger cannot be read, so nobody can tell the token is unused.
            TokenStateLostError: the token was issued before the ledger's records begin (the cache
                restarted empty): it may have been exchanged already.
        """
        ...

    async def release_token(self, issuer: str, token_id: str) -> None:
        """Forget a claim whose exchange never reached Identity Center (it may be retried)."""
        ...

    async def doubt_token(self, issuer: str, token_id: str, expires_at: int, now: datetime) -> None:
        """Release a claim whose exchange may have reached Identity Center, remembering the doubt.

        The token may be sent again (docs/architecture.md#the-jti-ledger, ``uncertain``): Identity
        Center refuses the resend as a replay if the first attempt landed.
        """
        ...

    async def token_doubted(self, issuer: str, token_id: str) -> bool:
        """Return whether an earlier exchange of the token ended without a known outcome."""
        ...

    async def record_exchange(self, caller: Caller, token: IdentityCenterToken, now: datetime) -> None:
        """Keep what Identity Center answered for the caller's token until its session is open.

        A failed AssumeRole can then resume with it, on any replica, instead of exchanging again.
        """
        ...

    async def spend_token(self, issuer: str, token_id: str, expires_at: int, now: datetime) -> None:
        """Mark a token as never to be exchanged again: later claims fail at once."""
        ...

    async def token_state(self, caller: Caller, now: datetime) -> TokenState | IdentityCenterToken:
        """Return where the caller's token stands, or Identity Center's answer when only AssumeRole is left.

        A claim older than any exchange can take (its holder died) counts as spent: its outcome is
        unknown, so it must not be sent again.
        """
        ...

    async def forget_user(self, issuer: str, subject: str) -> None:
        """Drop every cached entry of the user."""
        ...

    async def revoke_user(self, issuer: str, subject: str) -> None:
        """Sign the user out on every replica: older entries and tokens die; cached entries are dropped.

        Raises:
            CacheUnavailableError: the mark could not be recorded.
        """
        ...

    async def revoke_everyone(self) -> None:
        """Break glass: every cached entry and every token issued until now dies.

        Raises:
            CacheUnavailableError: the mark could not be recorded.
        """
        ...

    async def grants_changed(self) -> None:
        """Record that a grant, location or Identity Center association changed, on every replica.

        Cached data access vended before now dies (the broker asks S3 Access Grants again); identity
        sessions and tokens are unaffected.

        Raises:
            CacheUnavailableError: the mark could not be recorded.
        """
        ...

    async def revoke_token(self, issuer: str, token_id: str) -> None:
        """Refuse one token (by jti) from now on, and never exchange it."""
        ...

    async def pin_identity(self, issuer: str, subject: str, idc_user_id: str) -> str | None:
        """Pin (issuer, subject) to its Identity Center user on first exchange.

        Returns None when the pair agrees with the pins (or was pinned now), else the conflict's reason.
        """
        ...

    async def pinned_subject(self, idc_user_id: str) -> tuple[str, str] | None:
        """Return the (issuer, subject) pinned to an Identity Center user, if any."""
        ...

    async def unpin(self, issuer: str, subject: str) -> None:
        """Forget the pins of (issuer, subject): its next exchange pins it afresh."""
        ...

    async def spend_budget(self, name: str, issuer: str, subject: str, per_minute: int, cost: int) -> float:
        """Take ``cost`` units of the user's ``name`` budget (shared); return the wait, 0 when taken."""
        ...

    def exclusive(self, issuer: str, subject: str, work: str) -> AbstractAsyncContextManager[bool]:
        """Hold the user's ``work`` exclusively across replicas; yields whether this replica does it."""
        ...

    async def ping(self) -> bool:
        """Return whether the underlying cache answers."""
        ...
