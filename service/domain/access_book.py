"""One user's cached data access: vended credentials by grant scope, and recent denials."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from service.domain.access import DataAccess, Permission, Privilege, S3Target
from service.domain.revocation import NO_STAMP, Revocations, Stamp

# Bound the per-user record so a client walking many object-level grants cannot grow it forever.
MAX_ENTRIES = 64
MAX_DENIALS = 64


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """Credentials S3 Access Grants vended for one matched scope and privilege."""

    access: DataAccess
    privilege: Privilege
    stamp: Stamp = NO_STAMP


@dataclass(frozen=True, slots=True)
class Denial:
    """A recent AccessDenied for (permission, target), remembered until ``until``."""

    permission: Permission
    target: str
    until: datetime


@dataclass(frozen=True, slots=True)
class AccessBook:
    """The data access of one user: vended credentials looked up by the target they must cover.

    An entry stored under scope ``S`` serves target ``T`` only when every key ``T`` can name is a key
    ``S`` names (``scope_covers``) and it was vended for exactly the requested permission.
    """

    idc_user_id: str | None = None
    entries: tuple[AccessEntry, ...] = ()
    denials: tuple[Denial, ...] = field(default=())

    def find(
        self,
        target: S3Target,
        permission: Permission,
        privilege: Privilege,
        now: datetime,
        min_remaining_seconds: int,
    ) -> DataAccess | None:
        """Return the most specific usable entry vended for ``permission`` whose scope holds ``target``."""
        best: DataAccess | None = None
        for entry in self.entries:
            access = entry.access
            if (
                entry.privilege is privilege
                # Minimal means exactly the requested scope: a wider Minimal entry would over-grant.
                and (privilege is Privilege.DEFAULT or access.matched_grant_target == target.uri)
                and access.serves(target, permission)
                and access.credentials.usable(now, min_remaining_seconds)
                and (best is None or len(access.matched_grant_target) > len(best.matched_grant_target))
            ):
                best = access
        return best

    def is_denied(self, target: S3Target, permission: Permission, now: datetime) -> bool:
        """Return whether (target, permission) was denied recently."""
        return any(
            d.target == target.uri and d.permission is permission and d.until > now for d in self.denials
        )

    def with_entry(
        self, access: DataAccess, privilege: Privilege, now: datetime, stamp: Stamp = NO_STAMP
    ) -> AccessBook:
        """Return a copy holding ``access``, replacing an entry for the same scope and dropping dead ones."""
        kept = [
            e
            for e in self.entries
            if e.access.credentials.expiration > now
            and not (
                e.privilege is privilege
                and e.access.permission is access.permission
                and e.access.matched_grant_target == access.matched_grant_target
            )
        ]
        kept.append(AccessEntry(access, privilege, stamp))
        return replace(self, entries=tuple(kept[-MAX_ENTRIES:]), denials=self._live_denials(now))

    def with_denial(
        self, target: S3Target, permission: Permission, now: datetime, seconds: int
    ) -> AccessBook:
        """Return a copy remembering that (target, permission) was denied for ``seconds``."""
        denial = Denial(permission, target.uri, now + timedelta(seconds=seconds))
        denials = (*self._live_denials(now), denial)[-MAX_DENIALS:]
        return replace(self, denials=denials)

    def revoked_by(self, marks: Revocations) -> AccessBook:
        """Return a copy without the entries of requests that began before a revocation or grant change."""
        return replace(self, entries=tuple(e for e in self.entries if not e.stamp.access_outlived_by(marks)))

    def expires_at(self) -> datetime | None:
        """Return when the last entry or denial in the book dies (the record's TTL)."""
        moments = [e.access.credentials.expiration for e in self.entries] + [d.until for d in self.denials]
        return max(moments, default=None)

    def _live_denials(self, now: datetime) -> tuple[Denial, ...]:
        return tuple(d for d in self.denials if d.until > now)
