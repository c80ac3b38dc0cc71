"""Sign-out and operator revocation: record a mark in the shared cache or answer 503, never silently."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.domain.cache_errors import CacheUnavailableError
from service.domain.errors import UpstreamUnavailableError
from service.domain.identity import Caller
from service.domain.ports import CredentialStore

audit = logging.getLogger("service.audit")


class Revoker:
    """Ends a user's sessions (sign-out) and revokes users, tokens or everyone (operator)."""

    def __init__(self, *, store: CredentialStore) -> None:
        self._store = store

    async def end_session(self, caller: Caller) -> None:
        """Sign the caller's user out everywhere: every cached entry and every older token dies."""
        async with _recording("sign-out"):
            await self._store.revoke_user(caller.issuer, caller.subject)
        audit.info("session.ended", extra={"issuer": caller.issuer, "subject": caller.subject})

    async def revoke_subject(self, issuer: str, subject: str, *, unpin: bool = False) -> None:
        """Operator revocation of one user (issuer, subject); ``unpin`` also forgets its directory user."""
        async with _recording("revocation"):
            await self._store.revoke_user(issuer, subject)
            if unpin:
                await self._store.unpin(issuer, subject)
        audit.warning("revoked.subject", extra={"issuer": issuer, "subject": subject, "unpinned": unpin})

    async def revoke_directory_user(self, idc_user_id: str) -> tuple[str, str] | None:
        """Operator revocation of the user pinned to an Identity Center user; None when none is known."""
        owner = await self._store.pinned_subject(idc_user_id)
        if owner is not None:
            async with _recording("revocation"):
                await self._store.revoke_user(*owner)
        audit.warning(
            "revoked.directory_user", extra={"idc_user_id": idc_user_id, "found": owner is not None}
        )
        return owner

    async def revoke_token(self, issuer: str, token_id: str) -> None:
        """Operator revocation of one token by its jti."""
        async with _recording("revocation"):
            await self._store.revoke_token(issuer, token_id)
        audit.warning("revoked.token", extra={"issuer": issuer, "token_id": token_id})

    async def revoke_everyone(self) -> None:
        """Break glass: every cached session and access dies, every token issued until now is refused."""
        async with _recording("revocation"):
            await self._store.revoke_everyone()
        audit.warning("revoked.everyone")


@asynccontextmanager
async def _recording(what: str) -> AsyncIterator[None]:
    """Turn a cache that cannot record a sign-out or revocation into 503: never a silent success."""
    try:
        yield
    except CacheUnavailableError:
        raise UpstreamUnavailableError(
            f"the shared cache is unavailable, so the {what} could not be recorded; retry shortly",
            may_have_landed=False,
        ) from None
