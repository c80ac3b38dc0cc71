"""The in-process mirror served while the shared cache cannot answer (docs/architecture.md#outages).

What this replica last wrote or read of each user, and the revocation marks it last saw, applied to it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from service.domain.access_book import AccessBook
from service.domain.identity import Caller, IdentitySession
from service.domain.revocation import NO_REVOCATIONS, Revocations

# Revoked jtis this replica saw, applied by the mirror during an outage.
_MIRRORED_REVOKED_TOKENS = 100_000


@dataclass(slots=True)
class _Mirrored:
    """What this replica last wrote or read of one user: served only when the cache cannot answer."""

    session: IdentitySession | None = None
    book: AccessBook | None = None
    user_mark: int = 0  # the user's last sign-out or revocation mark this replica saw


class OutageMirror:
    """Per-user sessions and access books by (issuer, subject), least recently used first, with marks."""

    def __init__(self, users: int) -> None:
        self._capacity = users  # users whose session and access book are mirrored
        self._users: OrderedDict[tuple[str, str], _Mirrored] = OrderedDict()
        self.seen_everyone = 0
        self.seen_grants = 0
        self._revoked_tokens: dict[tuple[str, str], None] = {}

    def __bool__(self) -> bool:
        return bool(self._users)

    def _entry(self, issuer: str, subject: str, *, create: bool = False) -> _Mirrored | None:
        owner = (issuer, subject)
        entry = self._users.get(owner)
        if entry is not None:
            self._users.move_to_end(owner)
        elif create:
            entry = self._users[owner] = _Mirrored()
            if len(self._users) > self._capacity:
                self._users.popitem(last=False)
        return entry

    def note_marks(self, caller: Caller, marks: Revocations) -> None:
        """Remember the marks the cache answered, for the mirror to apply while it cannot answer."""
        if marks is NO_REVOCATIONS:
            return
        self.seen_everyone = max(self.seen_everyone, marks.everyone)
        self.seen_grants = max(self.seen_grants, marks.grants)
        if marks.token_revoked:
            self.note_revoked_token(caller.issuer, caller.token_id)
        if marks.user:
            self.note_user_mark(caller.issuer, caller.subject, marks.user)

    def note_user_mark(self, issuer: str, subject: str, mark: int) -> None:
        """Remember a sign-out or revocation mark of one user."""
        entry = self._entry(issuer, subject, create=True)
        if entry is not None:
            entry.user_mark = max(entry.user_mark, mark)

    def note_revoked_token(self, issuer: str, token_id: str) -> None:
        """Remember a revoked jti."""
        self._revoked_tokens[(issuer, token_id)] = None
        if len(self._revoked_tokens) > _MIRRORED_REVOKED_TOKENS:
            del self._revoked_tokens[next(iter(self._revoked_tokens))]

    def marks(self, caller: Caller) -> Revocations:
        """Return the revocation marks this replica last saw that concern the caller."""
        entry = self._users.get((caller.issuer, caller.subject))
        user = entry.user_mark if entry is not None else 0
        token = (caller.issuer, caller.token_id) in self._revoked_tokens
        if not (user or self.seen_everyone or token or self.seen_grants):
            return NO_REVOCATIONS
        return Revocations(user, self.seen_everyone, token, self.seen_grants)

    def keep_session(self, session: IdentitySession) -> None:
        """Mirror a session this replica wrote or read."""
        entry = self._entry(session.issuer, session.subject, create=True)
        if entry is not None:
            entry.session = session

    def keep_book(self, issuer: str, subject: str, book: AccessBook) -> None:
        """Mirror an access book this replica wrote or read."""
        entry = self._entry(issuer, subject, create=True)
        if entry is not None:
            entry.book = book

    def session(self, caller: Caller, marks: Revocations) -> IdentitySession | None:
        """Return the mirrored session of the caller unless ``marks`` outlive it."""
        entry = self._entry(caller.issuer, caller.subject)
        session = None if entry is None else entry.session
        if session is None or session.stamp.outlived_by(marks):
            return None
        return session

    def book(self, caller: Caller, marks: Revocations) -> AccessBook | None:
        """Return the mirrored access book of the caller with what ``marks`` revoke taken out."""
        book = self.raw_book(caller.issuer, caller.subject)
        if book is not None and marks is not NO_REVOCATIONS:
            book = book.revoked_by(marks)
        return book

    def raw_book(self, issuer: str, subject: str) -> AccessBook | None:
        """Return the mirrored access book of a user as it was stored."""
        entry = self._entry(issuer, subject)
        return None if entry is None else entry.book

    def forget(self, issuer: str, subject: str) -> None:
        """Drop the user's mirrored session and access book (its marks stay)."""
        entry = self._users.get((issuer, subject))
        if entry is not None:
            entry.session = entry.book = None


def latest(a: Revocations, b: Revocations) -> Revocations:
    """Return the union of two sets of marks, each mark at its latest."""
    if b is NO_REVOCATIONS:
        return a
    if a is NO_REVOCATIONS:
        return b
    return Revocations(
        max(a.user, b.user),
        max(a.everyone, b.everyone),
        a.token_revoked or b.token_revoked,
        max(a.grants, b.grants),
    )
