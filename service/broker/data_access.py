"""The data-access step: answer a request from the caller's access book, or ask S3 Access Grants once.

Cache first (hits and remembered denials), then one GetDataAccess per (user, token, request) across
requests of this process and, through the shared cache, across replicas.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from service import audit as audit_record
from service.broker.policy import Issued
from service.broker.revocation_check import refuse_revoked
from service.broker.sessions import SessionLifecycle
from service.broker.upstream import Upstream, peer_deadline, poll
from service.domain.access import DataAccessRequest
from service.domain.access_book import AccessBook
from service.domain.errors import AccessDeniedError, ScopeNotGrantedError, UpstreamMisconfiguredError
from service.domain.identity import Caller, IdentitySession
from service.domain.ports import BucketLocator, CredentialStore, DataAccessVendor
from service.domain.revocation import Revocations, Stamp
from service.single_flight import SingleFlight


class DataAccessDesk:
    """Vends S3 Access Grants credentials for a caller's request, from the cache when it can."""

    def __init__(
        self,
        *,
        vendor: DataAccessVendor,
        store: CredentialStore,
        sessions: SessionLifecycle,
        upstream: Upstream,
        buckets: BucketLocator | None,
    ) -> None:
        self._vendor = vendor
        self._store = store
        self._sessions = sessions
        self._upstream = upstream
        self._buckets = buckets
        waits = upstream.metrics.single_flight_waits
        self._flights: SingleFlight[tuple[Issued, AccessBook]] = SingleFlight(
            waits.labels(kind="access", layer="process").inc
        )
        # Waits for another request (often another replica) doing the same work, seen through the cache.
        self._peer_waits = waits.labels(kind="access", layer="cache")

    async def cancel_all(self) -> None:
        """Cancel the fetches in flight (the shutdown drain cut their requests)."""
        await self._flights.cancel_all()

    async def issue_credentials(self, caller: Caller, request: DataAccessRequest) -> Issued:
        """Return credentials for the caller's request, from the cache when a usable entry exists."""
        issued = await self.issue(caller, request)
        audit_record.credentials_issued(
            caller,
            request,
            issued.access,
            idc_user_id=issued.idc_user_id,
            layer=issued.layer,
            delivery="credentials",
            expires_at=issued.access.credentials.expiration,
        )
        return issued

    async def issue(self, caller: Caller, request: DataAccessRequest) -> Issued:
        """Return the data access for one request, with its bucket's region; the caller audits it."""
        book, marks = await self.load_access(caller)
        issued, _ = await self.access(caller, request, book, marks.stamp)
        return replace(issued, region=await self.region_of(request.target.bucket))

    async def region_of(self, bucket: str) -> str | None:
        """Return the bucket's region (HeadBucket off the event loop on a miss), or None if unknown."""
        if self._buckets is None:
            return None
        return self._buckets.known(bucket) or await self._upstream.offload(self._buckets.region_of, bucket)

    async def load_access(self, caller: Caller) -> tuple[AccessBook | None, Revocations]:
        """Return the caller's access book and the revocation marks read with it; refuse a revoked caller."""
        book, marks = await self._store.load_access_checked(caller)
        refuse_revoked(caller, marks)
        return book, marks

    async def access(
        self, caller: Caller, request: DataAccessRequest, book: AccessBook | None, stamp: Stamp
    ) -> tuple[Issued, AccessBook]:
        """Answer one request from ``book`` or from AWS; return the answer and the book as it now is."""
        if book is not None:
            now = self._upstream.now()
            hit = book.find(
                request.target,
                request.permission,
                request.privilege,
                now,
                self._upstream.policy.threshold(request.duration_seconds),
            )
            if hit is not None:
                return Issued(hit, book.idc_user_id, "cache"), book
            if book.is_denied(request.target, request.permission, now):
                audit_record.credentials_denied(caller, request, book.idc_user_id, "denied_cache")
                raise denied(request)
        # Keyed by token too: a request with a fresh token must not inherit a spent token's failure.
        key = (caller.issuer, caller.subject, caller.token_id, request)
        return await self._flights.run(key, lambda: self._fetch(caller, request, stamp))

    async def _fetch(
        self, caller: Caller, request: DataAccessRequest, stamp: Stamp
    ) -> tuple[Issued, AccessBook]:
        session = await self._sessions.ensure(caller)
        if not session.allows(request.permission):
            # S3 Access Grants would refuse it too; asking would only cost a call and a cached denial.
            raise ScopeNotGrantedError(
                f"the broker's Identity Center application is not granted the access scope for "
                f"{request.permission.value} (s3:access_grants:read_write)"
            )
        deadline = peer_deadline()
        while True:
            async with self._store.exclusive(caller.issuer, caller.subject, work_key(request)) as holder:
                if holder:
                    # Looked up again, not trusted from before the session: the previous holder may have
                    # stored its answer and released the lock while this request waited for its session.
                    peer = await self._peer_access(caller, request)
                    return peer or await self._vend(caller, session, request, stamp)
            # Another replica is asking AWS for the same thing: wait for its answer, and take the lock
            # over if it lets go without one (it failed).
            self._peer_waits.inc()
            retake = min(deadline, asyncio.get_running_loop().time() + _RETAKE_SECONDS)
            peer = await poll(lambda: self._peer_access(caller, request), retake)
            if peer is not None:
                return peer
            if asyncio.get_running_loop().time() >= deadline:
                return await self._vend(caller, session, request, stamp)

    async def _vend(
        self, caller: Caller, session: IdentitySession, request: DataAccessRequest, stamp: Stamp
    ) -> tuple[Issued, AccessBook]:
        policy = self._upstream.policy
        await self._upstream.spend_upstream(caller)
        try:
            access = await self._upstream.offload(self._vendor.get_data_access, session.credentials, request)
        except AccessDeniedError:
            now = self._upstream.now()
            await self._store.update_access(
                caller.issuer,
                caller.subject,
                lambda book: _own(book, session).with_denial(
                    request.target, request.permission, now, policy.denied_cache_seconds
                ),
                now,
            )
            audit_record.credentials_denied(caller, request, session.idc_user_id, "upstream")
            raise
        now = self._upstream.now()
        if not access.credentials.usable(now, policy.threshold(request.duration_seconds)):
            raise UpstreamMisconfiguredError(
                "S3 Access Grants vended credentials that expire sooner than the broker's minimum"
            )
        # Added to the record as it is now: other requests of this user may store entries meanwhile.
        book = await self._store.update_access(
            caller.issuer,
            caller.subject,
            lambda current: _own(current, session).with_entry(access, request.privilege, now, stamp),
            now,
        )
        return Issued(access, session.idc_user_id, "upstream"), book

    async def _peer_access(
        self, caller: Caller, request: DataAccessRequest
    ) -> tuple[Issued, AccessBook] | None:
        # Checked like the first read: an entry from before a sign-out must not be served as a peer's.
        book, _ = await self.load_access(caller)
        if book is None:
            return None
        now = self._upstream.now()
        if book.is_denied(request.target, request.permission, now):
            audit_record.credentials_denied(caller, request, book.idc_user_id, "peer")
            raise denied(request)
        hit = book.find(
            request.target,
            request.permission,
            request.privilege,
            now,
            self._upstream.policy.threshold(request.duration_seconds),
        )
        return (Issued(hit, book.idc_user_id, "cache"), book) if hit is not None else None


# How long a waiting request polls for the lock holder's answer before trying to take the lock itself.
_RETAKE_SECONDS = 0.5


def _own(book: AccessBook | None, session: IdentitySession) -> AccessBook:
    """Return the user's stored record, or a new one for the session's directory user."""
    return book if book is not None else AccessBook(idc_user_id=session.idc_user_id)


def work_key(request: DataAccessRequest) -> str:
    """Return the lock name under which one replica at a time asks AWS for this request."""
    return "|".join(
        (request.target.uri, request.permission.value, request.privilege.value, str(request.duration_seconds))
    )


def denied(request: DataAccessRequest) -> AccessDeniedError:
    """Return the error for a request no grant covers."""
    return AccessDeniedError(
        f"no S3 Access Grant gives you {request.permission.value} on {request.target.uri}"
    )
