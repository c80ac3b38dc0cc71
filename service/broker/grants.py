"""The grants listing: which S3 Access Grants the caller may use (ListCallerAccessGrants)."""

from __future__ import annotations

from service.broker.sessions import SessionLifecycle
from service.broker.upstream import Upstream
from service.domain.access import Grant
from service.domain.identity import Caller
from service.domain.ports import DataAccessVendor


class GrantLister:
    """Lists the caller's grants with the caller's identity-enhanced session."""

    def __init__(self, *, vendor: DataAccessVendor, sessions: SessionLifecycle, upstream: Upstream) -> None:
        self._vendor = vendor
        self._sessions = sessions
        self._upstream = upstream

    async def list_grants(self, caller: Caller, prefix: str | None) -> list[Grant]:
        """Return the grants the caller may use (ListCallerAccessGrants)."""
        session = await self._sessions.ensure(caller)
        await self._upstream.spend_upstream(caller)
        return await self._upstream.offload(
            self._vendor.list_caller_grants, session.credentials, prefix, caller.application_arn
        )
