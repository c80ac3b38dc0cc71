"""Who is calling: the verified token's caller and the identity session Identity Center gave them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from service.domain.credentials import TemporaryCredentials
from service.domain.revocation import NO_STAMP, Stamp


@dataclass(frozen=True, slots=True)
class Caller:
    """A caller whose ID token passed verification.

    The raw token is kept only in ``token`` for the one place that must send it upstream (the Identity
    Center exchange); it never reaches a cache key, a log line or ``repr``.
    """

    issuer: str
    subject: str
    username: str | None
    token_id: str
    expires_at: int
    token: str
    issued_at: int = 0

    def __repr__(self) -> str:
        return f"Caller(issuer={self.issuer!r}, subject={self.subject!r}, token_id={self.token_id!r})"


@dataclass(frozen=True, slots=True)
class IdentityCenterToken:
    """What CreateTokenWithIAM answered, reduced to what the broker uses."""

    idc_user_id: str
    identity_store_arn: str | None
    identity_context: str
    refresh_token: str | None
    expires_in: int

    def __repr__(self) -> str:
        return f"IdentityCenterToken(idc_user_id={self.idc_user_id!r})"


@dataclass(frozen=True, slots=True)
class RenewedToken:
    """What a refresh_token grant answered: AWS may leave out the idToken and the identity context.

    The user and identity store then stay those of the session being renewed; without an identity
    context no new session can be opened from this answer.
    """

    idc_user_id: str | None
    identity_store_arn: str | None
    identity_context: str | None
    refresh_token: str | None
    expires_in: int

    def __repr__(self) -> str:
        return f"RenewedToken(idc_user_id={self.idc_user_id!r})"


class TokenState(enum.Enum):
    """Where an ID token stands with Identity Center, as the exchanged-jti cache layer records it.

    A token Identity Center consumed but whose AssumeRole has not succeeded yet is recorded as its
    ``IdentityCenterToken`` instead, so that any replica can finish the job.
    """

    UNCLAIMED = "unclaimed"  # never claimed, or released after a failure that did not reach IdC
    IN_FLIGHT = "in_flight"  # a request (maybe on another replica) is exchanging it now
    SPENT = "spent"  # exchanged, or refused for good: it will never be exchanged again


@dataclass(frozen=True, slots=True)
class IdentitySession:
    """An identity-enhanced role session for one user, plus what is needed to renew it."""

    issuer: str
    subject: str
    username: str | None
    idc_user_id: str
    identity_store_arn: str | None
    refresh_token: str | None
    credentials: TemporaryCredentials
    stamp: Stamp = NO_STAMP

    def __repr__(self) -> str:
        return f"IdentitySession(idc_user_id={self.idc_user_id!r}, credentials={self.credentials!r})"


# RoleSessionName is 2–64 characters of [\w+=,.@-] (reference §2.2); CloudTrail shows it,
# so it names the user.
_SESSION_NAME_FORBIDDEN = re.compile(r"[^\w+=,.@-]", re.ASCII)
_SESSION_NAME_MAX = 64
_SESSION_NAME_MIN = 2


def role_session_name(idc_user_id: str) -> str:
    """Return the AssumeRole session name that identifies an Identity Center user in CloudTrail."""
    name = _SESSION_NAME_FORBIDDEN.sub("-", f"tip-{idc_user_id}")[:_SESSION_NAME_MAX]
    return name.ljust(_SESSION_NAME_MIN, "-")
