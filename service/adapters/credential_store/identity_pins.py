"""Identity pins: each (issuer, subject) maps to one Identity Center user and back, until an operator unpins.

A later exchange that disagrees is refused ``identity_conflict`` (docs/security.md).
"""

from __future__ import annotations

import logging

from service.adapters.credential_store.keys import CacheKeys, Sealer
from service.domain.cache_errors import CacheUnavailableError
from service.domain.ports import Cache

logger = logging.getLogger("service.cache")

# How long a subject stays pinned to its Identity Center user after its last exchange.
_PIN_SECONDS = 400 * 86400


class IdentityPins:
    """Records in the shared cache which directory user each subject maps to, sealed both ways."""

    def __init__(self, cache: Cache, sealer: Sealer, keys: CacheKeys) -> None:
        self._cache = cache
        self._sealer = sealer
        self._key = keys

    async def pin_identity(self, issuer: str, subject: str, idc_user_id: str) -> str | None:
        by_subject = self._key("pin-sub", issuer, subject)
        by_user = self._key("pin-user", idc_user_id)
        owner = _owner(issuer, subject)
        for _ in range(2):
            pinned_user, pinned_owner = await self._cache.get_many([by_subject, by_user])
            seen_user = self._open_text(by_subject, pinned_user)
            seen_owner = self._open_text(by_user, pinned_owner)
            if seen_user is not None and seen_user != idc_user_id:
                return "subject_remapped"
            if seen_owner is not None and seen_owner != owner:
                return "user_claimed_by_other_subject"
            if seen_user is not None and seen_owner is not None:
                break
            try:
                # SET NX on both: of two replicas pinning different answers at once, one loses and looks
                # again.
                stored = await self._cache.add(
                    by_subject, self._sealer.seal(by_subject, idc_user_id.encode()), _PIN_SECONDS
                )
                stored &= await self._cache.add(
                    by_user, self._sealer.seal(by_user, owner.encode()), _PIN_SECONDS
                )
            except CacheUnavailableError:
                logger.warning("identity.pin_unverified")
                return None
            if stored:
                return None
        return None

    async def pinned_subject(self, idc_user_id: str) -> tuple[str, str] | None:
        key = self._key("pin-user", idc_user_id)
        owner = self._open_text(key, await self._cache.get(key))
        if owner is None:
            return None
        issuer, _, subject = owner.partition("\n")
        return issuer, subject

    async def unpin(self, issuer: str, subject: str) -> None:
        by_subject = self._key("pin-sub", issuer, subject)
        idc_user_id = self._open_text(by_subject, await self._cache.get(by_subject))
        keys = [by_subject] if idc_user_id is None else [by_subject, self._key("pin-user", idc_user_id)]
        await self._cache.delete(keys)

    def _open_text(self, key: str, blob: bytes | None) -> str | None:
        plain = None if blob is None else self._sealer.open(key, blob)
        if blob is not None and plain is None:
            logger.warning("cache.unreadable", extra={"cache_key": key})
        return None if plain is None else plain.decode()


def _owner(issuer: str, subject: str) -> str:
    return f"{issuer}\n{subject}"
