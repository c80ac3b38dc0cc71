"""The check every request makes first: a token issued before a sign-out or revocation is refused."""

from __future__ import annotations

from service.domain.errors import SessionRevokedError
from service.domain.identity import Caller
from service.domain.revocation import Revocations


def refuse_revoked(caller: Caller, marks: Revocations) -> None:
    """Raise SessionRevokedError when the marks read with the caller's entries refuse the caller."""
    if marks.any and marks.refuses(caller):
        raise SessionRevokedError(
            "this token was issued before a sign-out or revocation; sign in again to get a new token"
        )
