"""Who is calling: the verified token's caller and the identity session Identity Center gave them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from service.domain.access import Permission
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
    # The Identity Center application this token's issuer is exchanged through; None: the broker's default.
    application_arn: str | None = None

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
    # The access scopes Identity Center granted (its answer's ``scope``); empty when it sent none.
    scopes: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"IdentityCenterToken(idc_user_id={self.idc_user_id!r})"


READ_ONLY_SCOPE = "s3:access_grants:read_only"
READ_WRITE_SCOPE = "s3:access_grants:read_write"


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
    # The access scopes granted, when the answer lists them (AWS's refresh example does not).
    scopes: frozenset[str] = frozenset()

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
    scopes: frozenset[str] = frozenset()

    def allows(self, permission: Permission) -> bool:
        """Return whether the application's access scopes let S3 Access Grants vend ``permission``.

        ``s3:access_grants:read_write`` allows every permission and ``s3:access_grants:read_only`` only
        READ; a scope list naming neither allows nothing. An answer without ``scope`` (AWS documents it
        as optional) leaves the decision to S3 Access Grants.
        """
        if not self.scopes or READ_WRITE_SCOPE in self.scopes:
            return True
        return permission is Permission.READ and READ_ONLY_SCOPE in self.scopes

    def __repr__(self) -> str:
        return f"IdentitySession(idc_user_id={self.idc_user_id!r}, credentials={self.credentials!r})"


# RoleSessionName is 2–64 characters of [\w+=,.@-] (docs/aws.md#assumerole-limits); CloudTrail shows it,
# so it names the user.
_SESSION_NAME_FORBIDDEN = re.compile(r"[^\w+=,.@-]", re.ASCII)
_SESSION_NAME_MAX = 64
_SESSION_NAME_MIN = 2


def role_session_name(idc_user_id: str) -> str:
    """Return the AssumeRole session name that identifies an Identity Center user in CloudTrail."""
    name = _SESSION_NAME_FORBIDDEN.sub("-", f"tip-{idc_user_id}")[:_SESSION_NAME_MAX]
    return name.ljust(_SESSION_NAME_MIN, "-")
