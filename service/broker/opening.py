"""The last step of the session lifecycle: AssumeRole with the identity context, then store the session."""

from __future__ import annotations

from service import audit as audit_record
from service.broker.upstream import Upstream
from service.domain.errors import IdentityConflictError
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession, role_session_name
from service.domain.ports import CredentialStore, RoleAssumer
from service.domain.revocation import Stamp


class SessionOpener:
    """Opens identity-enhanced sessions (STS AssumeRole) and finds the usable one already stored."""

    def __init__(self, *, assumer: RoleAssumer, store: CredentialStore, upstream: Upstream) -> None:
        self._assumer = assumer
        self._store = store
        self._upstream = upstream

    async def usable(self, caller: Caller) -> IdentitySession | None:
        """Return the caller's stored session when it still has the policy's minimum life left."""
        session, _ = await self._store.load_session_checked(caller)
        usable = session is not None and session.credentials.usable(
            self._upstream.now(), self._upstream.policy.min_remaining_seconds
        )
        return session if usable else None

    async def open(
        self, caller: Caller, token: IdentityCenterToken, how: str, stamp: Stamp
    ) -> IdentitySession:
        """Assume the role with the token's identity context and store the session it opens."""
        credentials = await self._upstream.offload(
            self._assumer.assume,
            token.identity_context,
            role_session_name(token.idc_user_id),
            self._upstream.policy.session_duration_seconds,
        )
        session = IdentitySession(
            issuer=caller.issuer,
            subject=caller.subject,
            username=caller.username,
            idc_user_id=token.idc_user_id,
            identity_store_arn=token.identity_store_arn,
            refresh_token=token.refresh_token,
            credentials=credentials,
            stamp=stamp,
            scopes=token.scopes,
        )
        await self._store.save_session(session, self._upstream.now())
        self._upstream.metrics.sessions_opened.labels(via=how).inc()
        audit_record.session_opened(caller, token.idc_user_id, how, credentials.expiration)
        return session


def identity_conflict() -> IdentityConflictError:
    """Return the error for a sign-in that maps to a different directory user than before."""
    return IdentityConflictError(
        "this sign-in maps to a different directory user than before; an administrator must confirm the "
        "change before access is granted"
    )
