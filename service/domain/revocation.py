"""Revocation marks: sign-outs, operator revocations and grant changes that kill cached entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.domain.identity import Caller


@dataclass(frozen=True, slots=True)
class Stamp:
    """The revocation marks in force when a request began; written with what that request caches.

    Marks only grow (each is a millisecond instant from the shared cache's clock), so an entry whose
    stamp is below a current mark was produced by a request that started before that revocation: it is
    dead, even when an in-flight request wrote it back after the sign-out.
    """

    user: int = 0
    everyone: int = 0
    grants: int = 0

    def outlived_by(self, marks: Revocations) -> bool:
        """Return whether a revocation happened after the request that wrote this stamp began."""
        return self.user < marks.user or self.everyone < marks.everyone

    def access_outlived_by(self, marks: Revocations) -> bool:
        """Return whether a revocation or a grant change happened after that request began.

        A grant change kills data access vended before it, not the identity session: the broker asks
        S3 Access Grants again, and the user stays signed in.
        """
        return self.outlived_by(marks) or self.grants < marks.grants


@dataclass(frozen=True, slots=True)
class Revocations:
    """The marks that apply to one caller, read in the same cache round trip as their entries."""

    user: int = 0  # the user's last sign-out or revocation (ms)
    everyone: int = 0  # the last "break glass" revocation of every user (ms)
    token_revoked: bool = False  # this token's jti was revoked by an operator
    grants: int = 0  # the last change of a grant, location or Identity Center association (ms)

    @property
    def stamp(self) -> Stamp:
        """Return the stamp entries written under these marks carry."""
        return Stamp(self.user, self.everyone, self.grants)

    @property
    def any(self) -> bool:
        """Return whether any mark is set (the common case is none: nothing to filter)."""
        return bool(self.user or self.everyone or self.token_revoked or self.grants)

    def refuses(self, caller: Caller) -> bool:
        """Return whether the caller's token was issued before a revocation, or was itself revoked.

        ``iat`` has whole seconds: a token issued in the same second as the revocation is refused too,
        since it cannot be told apart from one issued just before it.
        """
        return self.token_revoked or caller.issued_at * 1000 < max(self.user, self.everyone)


NO_REVOCATIONS = Revocations()
NO_STAMP = Stamp()
