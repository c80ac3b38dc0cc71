"""Use cases of the broker: who is calling, which identity session they have, what S3 access they get."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from service import audit as audit_record
from service.domain.access import DataAccess, DataAccessRequest, Grant, Permission, S3Target
from service.domain.access_book import AccessBook
from service.domain.cache_errors import CacheUnavailableError
from service.domain.credentials import presigned_url_expiry
from service.domain.errors import (
    AccessDeniedError,
    BrokerError,
    IdentityConflictError,
    InvalidRequestError,
    InvalidTokenError,
    RateLimitedError,
    ScopeNotGrantedError,
    SessionRevokedError,
    TokenReusedError,
    UpstreamMisconfiguredError,
    UpstreamUnavailableError,
)
from service.domain.identity import (
    Caller,
    IdentityCenterToken,
    IdentitySession,
    TokenState,
    role_session_name,
)
from service.domain.ports import (
    BucketLocator,
    Clock,
    CredentialStore,
    DataAccessVendor,
    IdentityExchanger,
    RoleAssumer,
    TokenVerifier,
    UrlSigner,
)
from service.domain.presign import PresignedPost, PresignedUrl
from service.domain.rate_limit import RetryTally, open_retry_tally, retry_after_seconds, take_retry_tally
from service.domain.revocation import Revocations, Stamp
from service.metrics import Metrics
from service.single_flight import SingleFlight

audit = logging.getLogger("service.audit")
logger = logging.getLogger("service.broker")

T = TypeVar("T")
U = TypeVar("U")

# How long a request waits for another replica doing the same upstream work (an exchange, a
# GetDataAccess) to publish its result before doing it itself or giving up.
_PEER_WAIT_SECONDS = 1.5
_PEER_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class BrokerPolicy:
    """The lifetimes and thresholds the use cases apply (from Settings)."""

    session_duration_seconds: int
    data_access_duration_seconds: int
    min_remaining_seconds: int
    denied_cache_seconds: int
    upstream_calls_per_minute: int = 0
    requests_per_minute: int = 0

    def threshold(self, duration_seconds: int) -> int:
        """Return the minimum remaining life for credentials of a requested duration.

        Short requested durations scale the floor down (half the duration) so that a 900-second request
        can be served at all when BROKER_MIN_REMAINING_SECONDS is 900.
        """
        return min(self.min_remaining_seconds, duration_seconds // 2)


@dataclass(frozen=True, slots=True)
class Issued:
    """Data access handed to a caller and which layer answered (``cache`` or ``upstream``)."""

    access: DataAccess
    idc_user_id: str | None
    layer: str
    region: str | None = None  # the target bucket's region, when the broker knows it


@dataclass(frozen=True, slots=True)
class PresignItem:
    """One object operation to presign."""

    bucket: str
    key: str
    method: str
    expires_in: int
    content_type: str | None = None
    content_disposition: str | None = None


@dataclass(frozen=True, slots=True)
class PresignResult:
    """A presigned URL and when it stops working."""

    presigned: PresignedUrl
    method: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PostItem:
    """A browser form upload to presign: one key, or any key under a prefix."""

    bucket: str
    key: str | None
    key_prefix: str | None
    content_type: str | None
    max_bytes: int | None
    expires_in: int


@dataclass(frozen=True, slots=True)
class ListItem:
    """A listing (ListObjectsV2) of the keys under a prefix to presign."""

    bucket: str
    prefix: str
    delimiter: str | None
    max_keys: int | None
    continuation_token: str | None
    expires_in: int


@dataclass(frozen=True, slots=True)
class PostResult:
    """A presigned POST form and when it stops working."""

    presigned: PresignedPost
    expires_at: datetime


class Broker:
    """Turns a verified caller into identity-enhanced sessions and S3 Access Grants credentials."""

    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        exchanger: IdentityExchanger,
        assumer: RoleAssumer,
        vendor: DataAccessVendor,
        store: CredentialStore,
        signer: UrlSigner,
        clock: Clock,
        policy: BrokerPolicy,
        executor: Executor,
        buckets: BucketLocator | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._verifier = verifier
        self._exchanger = exchanger
        self._assumer = assumer
        self._vendor = vendor
        self._store = store
        self._signer = signer
        self._clock = clock
        self.policy = policy
        self._executor = executor
        self._buckets = buckets
        self._metrics = metrics = metrics or Metrics()
        waits = metrics.single_flight_waits
        self._sessions: SingleFlight[IdentitySession] = SingleFlight(
            waits.labels(kind="session", layer="process").inc
        )
        self._accesses: SingleFlight[tuple[Issued, AccessBook]] = SingleFlight(
            waits.labels(kind="access", layer="process").inc
        )
        # Waits for another request (often another replica) doing the same work, seen through the cache.
        self._peer_session_waits = waits.labels(kind="session", layer="cache")
        self._peer_access_waits = waits.labels(kind="access", layer="cache")

    async def authenticate(self, token: str) -> Caller:
        """Return the caller a bearer token proves, within the user's request rate."""
        caller = await self._verifier.verify(token)
        if self.policy.requests_per_minute:
            await self._spend(caller, "requests", self.policy.requests_per_minute)
        return caller

    async def abandon_pending_work(self) -> None:
        """Cancel the upstream work requests left behind when the shutdown drain cut them.

        Run before the cache closes, so a cancelled exchange still records what it leaves (see
        ``_exchange``) and a retry on another replica finds it.
        """
        await self._sessions.cancel_all()
        await self._accesses.cancel_all()

    async def issue_credentials(self, caller: Caller, request: DataAccessRequest) -> Issued:
        """Return credentials for the caller's request, from the cache when a usable entry exists."""
        issued = await self._issue(caller, request)
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

    async def _issue(self, caller: Caller, request: DataAccessRequest) -> Issued:
        book, marks = await self._load_access(caller)
        issued, _ = await self._access(caller, request, book, marks.stamp)
        return replace(issued, region=await self._region_of(request.target.bucket))

    async def presign(self, caller: Caller, items: list[PresignItem]) -> list[PresignResult | BrokerError]:
        """Presign each item in order; one item's error does not fail the others.

        The caller's access book is read once for the whole batch: items under one grant are signed
        from one cached data-access entry.
        """
        book, marks = await self._load_access(caller)
        results: list[PresignResult | BrokerError] = []
        tally = audit_record.UrlTally()
        for item in items:
            # Only what concerns the item itself becomes that item's error; a session, budget or AWS
            # failure fails the whole call with its own status, so the client can act on it.
            try:
                target = S3Target.for_object(item.bucket, item.key)
            except InvalidRequestError as exc:
                results.append(exc)
                continue
            request = DataAccessRequest(
                target, Permission.for_method(item.method), self.policy.data_access_duration_seconds
            )
            try:
                issued, book = await self._access(caller, request, book, marks.stamp)
            except (InvalidRequestError, ScopeNotGrantedError) as exc:
                results.append(exc)  # AWS refused this target (e.g. a ValidationError)
                continue
            except AccessDeniedError as exc:
                # Remembered locally too, so repeats in this batch do not ask AWS again.
                book = (book or AccessBook()).with_denial(
                    target, request.permission, self._now(), self.policy.denied_cache_seconds
                )
                results.append(exc)
                continue
            region = await self._region_of(item.bucket)
            now = self._now()
            credentials = issued.access.credentials
            try:
                presigned = self._signer.presign_url(
                    credentials,
                    method=item.method,
                    bucket=item.bucket,
                    key=item.key,
                    expires_in=item.expires_in,
                    now=now,
                    content_type=item.content_type,
                    content_disposition=item.content_disposition,
                    region=region,
                )
            except ValueError as exc:
                results.append(InvalidRequestError(f"cannot presign this item: {exc}"))
                continue
            expires_at = presigned_url_expiry(now, item.expires_in, credentials)
            results.append(PresignResult(presigned, item.method, expires_at))
            tally.count(issued.access, issued.idc_user_id, issued.layer, expires_at)
        signed = len(items) - sum(isinstance(r, BrokerError) for r in results)
        audit_record.urls_presigned(caller, tally, items=len(items), signed=signed)
        return results

    async def presign_post(self, caller: Caller, item: PostItem) -> PostResult:
        """Presign a browser form upload for one key or a key prefix."""
        if (item.key is None) == (item.key_prefix is None):
            raise InvalidRequestError("give exactly one of key or key_prefix")
        if item.key is not None:
            target = S3Target.for_object(item.bucket, item.key)
        else:
            target = S3Target.parse(f"s3://{item.bucket}/{item.key_prefix}*")
        request = DataAccessRequest(target, Permission.WRITE, self.policy.data_access_duration_seconds)
        issued = await self._issue(caller, request)
        now = self._now()
        credentials = issued.access.credentials
        try:
            presigned = self._signer.presign_post(
                credentials,
                bucket=item.bucket,
                key=item.key,
                key_prefix=item.key_prefix,
                content_type=item.content_type,
                max_bytes=item.max_bytes,
                expires_in=item.expires_in,
                now=now,
                region=issued.region,
            )
        except ValueError as exc:
            raise InvalidRequestError(f"cannot presign this form: {exc}") from None
        expires_at = presigned_url_expiry(now, item.expires_in, credentials)
        audit_record.credentials_issued(
            caller,
            request,
            issued.access,
            idc_user_id=issued.idc_user_id,
            layer=issued.layer,
            delivery="presigned_post",
            expires_at=expires_at,
        )
        return PostResult(presigned, expires_at)

    async def presign_list(self, caller: Caller, item: ListItem) -> PresignResult:
        """Presign a listing of the keys under a prefix: it needs READ on ``s3://bucket/prefix*``."""
        target = S3Target.parse(f"s3://{item.bucket}/{item.prefix}*")
        request = DataAccessRequest(target, Permission.READ, self.policy.data_access_duration_seconds)
        issued = await self.issue_credentials(caller, request)
        now = self._now()
        credentials = issued.access.credentials
        try:
            presigned = self._signer.presign_list(
                credentials,
                bucket=item.bucket,
                prefix=item.prefix,
                delimiter=item.delimiter,
                max_keys=item.max_keys,
                continuation_token=item.continuation_token,
                expires_in=item.expires_in,
                now=now,
                region=issued.region,
            )
        except ValueError as exc:
            raise InvalidRequestError(f"cannot presign this listing: {exc}") from None
        return PresignResult(presigned, "GET", presigned_url_expiry(now, item.expires_in, credentials))

    async def list_grants(self, caller: Caller, prefix: str | None) -> list[Grant]:
        """Return the grants the caller may use (ListCallerAccessGrants)."""
        session = await self.ensure_session(caller)
        await self._spend_upstream(caller)
        return await self._offload(
            self._vendor.list_caller_grants, session.credentials, prefix, caller.application_arn
        )

    async def whoami(self, caller: Caller) -> IdentitySession:
        """Return the caller's identity session, opening one if needed."""
        return await self.ensure_session(caller)

    async def end_session(self, caller: Caller) -> None:
        """Sign the caller's user out everywhere: every cached entry and every older token dies."""
        async with _recording("sign-out"):
            await self._store.revoke_user(caller.issuer, caller.subject)
        audit.info("session.ended", extra={"issuer": caller.issuer, "subject": caller.subject})

    async def revoke_subject(self, issuer: str, subject: str, *, unpin: bool = False) -> None:
        """Operator revocation of one user (issuer, subject); ``unpin`` also forgets its directory user."""
        async with _recording("revocation"):
            await self._store.revoke_user(issuer, subject)
            if unpin:
                await self._store.unpin(issuer, subject)
        audit.warning("revoked.subject", extra={"issuer": issuer, "subject": subject, "unpinned": unpin})

    async def revoke_directory_user(self, idc_user_id: str) -> tuple[str, str] | None:
        """Operator revocation of the user pinned to an Identity Center user; None when none is known."""
        owner = await self._store.pinned_subject(idc_user_id)
        if owner is not None:
            async with _recording("revocation"):
                await self._store.revoke_user(*owner)
        audit.warning(
            "revoked.directory_user", extra={"idc_user_id": idc_user_id, "found": owner is not None}
        )
        return owner

    async def revoke_token(self, issuer: str, token_id: str) -> None:
        """Operator revocation of one token by its jti."""
        async with _recording("revocation"):
            await self._store.revoke_token(issuer, token_id)
        audit.warning("revoked.token", extra={"issuer": issuer, "token_id": token_id})

    async def revoke_everyone(self) -> None:
        """Break glass: every cached session and access dies, every token issued until now is refused."""
        async with _recording("revocation"):
            await self._store.revoke_everyone()
        audit.warning("revoked.everyone")

    async def ensure_session(self, caller: Caller) -> IdentitySession:
        """Return a usable identity-enhanced session for the caller, renewing it when needed."""
        session, marks = await self._store.load_session_checked(caller)
        _refuse_revoked(caller, marks)
        if session is not None and session.credentials.usable(self._now(), self.policy.min_remaining_seconds):
            return session
        # Keyed by token too: a request with a fresh token must not inherit the outcome of a spent one.
        return await self._sessions.run(
            (caller.issuer, caller.subject, caller.token_id),
            lambda: self._renew_session(caller, session, marks.stamp),
        )

    async def _region_of(self, bucket: str) -> str | None:
        """Return the bucket's region (HeadBucket off the event loop on a miss), or None if unknown."""
        if self._buckets is None:
            return None
        return self._buckets.known(bucket) or await self._offload(self._buckets.region_of, bucket)

    async def _load_access(self, caller: Caller) -> tuple[AccessBook | None, Revocations]:
        book, marks = await self._store.load_access_checked(caller)
        _refuse_revoked(caller, marks)
        return book, marks

    async def _access(
        self, caller: Caller, request: DataAccessRequest, book: AccessBook | None, stamp: Stamp
    ) -> tuple[Issued, AccessBook]:
        if book is not None:
            now = self._now()
            hit = book.find(
                request.target,
                request.permission,
                request.privilege,
                now,
                self.policy.threshold(request.duration_seconds),
            )
            if hit is not None:
                return Issued(hit, book.idc_user_id, "cache"), book
            if book.is_denied(request.target, request.permission, now):
                self._audit_denied(caller, request, book.idc_user_id, "denied_cache")
                raise _denied(request)
        # Keyed by token too: a request with a fresh token must not inherit a spent token's failure.
        key = (caller.issuer, caller.subject, caller.token_id, request)
        return await self._accesses.run(key, lambda: self._fetch_access(caller, request, stamp))

    async def _fetch_access(
        self, caller: Caller, request: DataAccessRequest, stamp: Stamp
    ) -> tuple[Issued, AccessBook]:
        session = await self.ensure_session(caller)
        if not session.allows(request.permission):
            # S3 Access Grants would refuse it too; asking would only cost a call and a cached denial.
            raise ScopeNotGrantedError(
                f"the broker's Identity Center application is not granted the access scope for "
                f"{request.permission.value} (s3:access_grants:read_write)"
            )
        async with self._store.exclusive(caller.issuer, caller.subject, _work_key(request)) as holder:
            # Looked up again, not trusted from before the session: as the holder, because the previous
            # holder may have stored its answer and released the lock while this request waited for its
            # session; otherwise, because another replica is asking AWS for the same thing now.
            if holder:
                peer = await self._peer_access(caller, request)
            else:
                self._peer_access_waits.inc()
                peer = await self._poll(lambda: self._peer_access(caller, request), self._deadline())
            return peer or await self._vend(caller, session, request, stamp)

    async def _vend(
        self, caller: Caller, session: IdentitySession, request: DataAccessRequest, stamp: Stamp
    ) -> tuple[Issued, AccessBook]:
        await self._spend_upstream(caller)
        try:
            access = await self._offload(self._vendor.get_data_access, session.credentials, request)
        except AccessDeniedError:
            now = self._now()
            book = await self._load_book(caller, session)
            denied = book.with_denial(
                request.target, request.permission, now, self.policy.denied_cache_seconds
            )
            await self._store.save_access(caller.issuer, caller.subject, denied, now)
            self._audit_denied(caller, request, session.idc_user_id, "upstream")
            raise
        now = self._now()
        if not access.credentials.usable(now, self.policy.threshold(request.duration_seconds)):
            raise UpstreamMisconfiguredError(
                "S3 Access Grants vended credentials that expire sooner than the broker's minimum"
            )
        # Read again: another request of this user may have stored entries while we waited on AWS.
        book = (await self._load_book(caller, session)).with_entry(access, request.privilege, now, stamp)
        await self._store.save_access(caller.issuer, caller.subject, book, now)
        return Issued(access, session.idc_user_id, "upstream"), book

    async def _peer_access(
        self, caller: Caller, request: DataAccessRequest
    ) -> tuple[Issued, AccessBook] | None:
        # Checked like the first read: an entry from before a sign-out must not be served as a peer's.
        book, _ = await self._load_access(caller)
        if book is None:
            return None
        now = self._now()
        if book.is_denied(request.target, request.permission, now):
            self._audit_denied(caller, request, book.idc_user_id, "peer")
            raise _denied(request)
        hit = book.find(
            request.target,
            request.permission,
            request.privilege,
            now,
            self.policy.threshold(request.duration_seconds),
        )
        return (Issued(hit, book.idc_user_id, "cache"), book) if hit is not None else None

    async def _load_book(self, caller: Caller, session: IdentitySession) -> AccessBook:
        book = await self._store.load_access(caller.issuer, caller.subject)
        return book if book is not None else AccessBook(idc_user_id=session.idc_user_id)

    async def _renew_session(
        self, caller: Caller, stale: IdentitySession | None, stamp: Stamp
    ) -> IdentitySession:
        if stale is not None:
            renewed = await self._refresh(caller, stale, stamp)
            if renewed is not None:
                return renewed
        deadline = self._deadline()
        outcome: IdentitySession | IdentityCenterToken | TokenState | None = None
        # Two rounds: a peer whose exchange never reached Identity Center releases the token.
        for _ in range(2):
            if await self._store.claim_token(
                caller.issuer, caller.token_id, caller.expires_at, self._now(), caller.subject
            ):
                return await self._exchange(caller, stamp)
            self._peer_session_waits.inc()
            outcome = await self._poll(lambda: self._peer_outcome(caller), deadline)
            if isinstance(outcome, IdentitySession):
                return outcome
            if isinstance(outcome, IdentityCenterToken):
                return await self._resume(caller, outcome, deadline, stamp)
            if outcome is not TokenState.UNCLAIMED:
                break
        # A request that spent the token may have saved its session since we last looked.
        session = await self._usable_session(caller)
        if session is not None:
            return session
        if outcome is TokenState.SPENT:
            raise TokenReusedError(
                "this ID token was already exchanged with IAM Identity Center and its identity session "
                "has ended; sign in again to get a new ID token"
            )
        raise UpstreamUnavailableError("another request is exchanging this ID token; retry shortly")

    async def _refresh(self, caller: Caller, stale: IdentitySession, stamp: Stamp) -> IdentitySession | None:
        """Renew with the Identity Center refresh token; None when it no longer works or cannot.

        A refresh answer may name no user (AWS's refresh_token answer carries no idToken): the session
        keeps the user of the one it renews. Without an identity context no session can be opened from
        it, so the caller's ID token is exchanged instead, if it is still unused.
        """
        if stale.refresh_token is None:
            return None
        await self._spend_upstream(caller)
        try:
            renewed = await self._offload(
                self._exchanger.refresh, stale.refresh_token, caller.application_arn
            )
        except TokenReusedError:
            logger.info("session.refresh_expired", extra={"subject": caller.subject})
            return None
        if renewed.idc_user_id is not None and renewed.idc_user_id != stale.idc_user_id:
            self._audit_conflict(caller, stale.idc_user_id, renewed.idc_user_id, "refresh_remapped")
            raise _conflict()
        if renewed.identity_context is None:
            logger.info("session.refresh_without_context", extra={"subject": caller.subject})
            return None
        token = IdentityCenterToken(
            idc_user_id=stale.idc_user_id,
            identity_store_arn=renewed.identity_store_arn or stale.identity_store_arn,
            identity_context=renewed.identity_context,
            refresh_token=renewed.refresh_token or stale.refresh_token,
            expires_in=renewed.expires_in,
            scopes=renewed.scopes or stale.scopes,  # AWS's refresh answer lists no scope
        )
        return await self._open_session(caller, token, "refresh_token", stamp)

    async def _exchange(self, caller: Caller, stamp: Stamp) -> IdentitySession:
        """Exchange the caller's token, which this request has claimed, and open its session."""
        try:
            await self._spend_upstream(caller)
            token = await self._offload(self._exchanger.exchange_jwt, caller.token, caller.application_arn)
        except (RateLimitedError, UpstreamUnavailableError, UpstreamMisconfiguredError) as exc:
            await self._settle_failed_exchange(caller, exc)
            raise
        except InvalidTokenError:
            await self._spend_token(caller)
            if await self._store.token_doubted(caller.issuer, caller.token_id):
                # docs/architecture.md#the-jti-ledger: after an unknown outcome, a refusal is the replay
                # of an exchange that landed; its identity session never reached the broker.
                raise TokenReusedError(
                    "an earlier attempt exchanged this ID token with IAM Identity Center but its answer "
                    "was lost; sign in again to get a new ID token"
                ) from None
            raise
        except asyncio.CancelledError:
            # The replica is shutting down and answered 503 shutting_down: like a lost answer, the retry
            # that 503 invites may send the token again (docs/architecture.md#the-jti-ledger).
            await self._store.doubt_token(caller.issuer, caller.token_id, caller.expires_at, self._now())
            raise
        except BaseException:
            # Refused for good (invalid, replayed, unmapped), or an outcome nobody knows (a bug): never
            # send it again, and let later tries fail at once instead of waiting.
            await self._spend_token(caller)
            raise
        conflict = await self._store.pin_identity(caller.issuer, caller.subject, token.idc_user_id)
        if conflict is not None:
            await self._spend_token(caller)
            self._audit_conflict(caller, None, token.idc_user_id, conflict)
            raise _conflict()
        # Held while AssumeRole runs, so a peer that sees the recorded answer waits for this session
        # instead of opening a second one.
        async with self._store.exclusive(caller.issuer, caller.subject, _resume_key(caller)):
            await self._store.record_exchange(caller, token, self._now())
            return await self._open_exchanged(caller, token, "jwt_bearer", stamp)

    async def _settle_failed_exchange(
        self, caller: Caller, exc: RateLimitedError | UpstreamUnavailableError | UpstreamMisconfiguredError
    ) -> None:
        """Settle a claimed token whose exchange failed (docs/architecture.md#the-jti-ledger)."""
        if isinstance(exc, RateLimitedError) or not exc.may_have_landed:
            # Identity Center never acted on it: a retry may exchange it.
            await self._store.release_token(caller.issuer, caller.token_id)
        elif isinstance(exc, UpstreamUnavailableError):
            # A 5xx or a lost answer: the retry the 503 invites may send it again, and Identity Center
            # refuses that resend as a replay if this attempt landed.
            await self._store.doubt_token(caller.issuer, caller.token_id, caller.expires_at, self._now())
        else:
            await self._spend_token(caller)  # Identity Center answered, with nothing the broker can use

    async def _resume(
        self, caller: Caller, token: IdentityCenterToken, deadline: float, stamp: Stamp
    ) -> IdentitySession:
        """Open the session of a token Identity Center consumed but whose AssumeRole failed."""
        async with self._store.exclusive(caller.issuer, caller.subject, _resume_key(caller)) as holder:
            if holder:
                # The holder before us may have opened it (the in-process lock waits for it).
                session = await self._usable_session(caller)
                return session or await self._open_exchanged(caller, token, "resumed", stamp)
        session = await self._poll(lambda: self._usable_session(caller), deadline)
        if session is None:
            raise UpstreamUnavailableError(
                "another request is opening this ID token's session; retry shortly"
            )
        return session

    async def _open_exchanged(
        self, caller: Caller, token: IdentityCenterToken, how: str, stamp: Stamp
    ) -> IdentitySession:
        session = await self._open_session(caller, token, how, stamp)
        await self._spend_token(caller)
        return session

    async def _spend_token(self, caller: Caller) -> None:
        await self._store.spend_token(caller.issuer, caller.token_id, caller.expires_at, self._now())

    async def _peer_outcome(
        self, caller: Caller
    ) -> IdentitySession | IdentityCenterToken | TokenState | None:
        """Return a peer's session or the token's settled state; None while a peer is still exchanging."""
        session = await self._usable_session(caller)
        if session is not None:
            return session
        state = await self._store.token_state(caller, self._now())
        return None if state is TokenState.IN_FLIGHT else state

    async def _usable_session(self, caller: Caller) -> IdentitySession | None:
        session, _ = await self._store.load_session_checked(caller)
        usable = session is not None and session.credentials.usable(
            self._now(), self.policy.min_remaining_seconds
        )
        return session if usable else None

    async def _open_session(
        self, caller: Caller, token: IdentityCenterToken, how: str, stamp: Stamp
    ) -> IdentitySession:
        credentials = await self._offload(
            self._assumer.assume,
            token.identity_context,
            role_session_name(token.idc_user_id),
            self.policy.session_duration_seconds,
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
        await self._store.save_session(session, self._now())
        self._metrics.sessions_opened.labels(via=how).inc()
        audit.info(
            "session.opened",
            extra={
                "issuer": caller.issuer,
                "subject": caller.subject,
                "idc_user_id": token.idc_user_id,
                "via": how,
                "session_expiration": credentials.expiration.isoformat(),
            },
        )
        return session

    async def _poll(self, probe: Callable[[], Awaitable[U | None]], deadline: float) -> U | None:
        """Return ``probe()``'s first answer, asking every poll interval until ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        while True:
            found = await probe()
            if found is not None or loop.time() >= deadline:
                return found
            await asyncio.sleep(_PEER_POLL_SECONDS)

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + _PEER_WAIT_SECONDS

    def _now(self) -> datetime:
        return self._clock.now()

    async def _spend_upstream(self, caller: Caller) -> None:
        if self.policy.upstream_calls_per_minute:
            await self._spend(caller, "upstream", self.policy.upstream_calls_per_minute)
            open_retry_tally(caller.issuer, caller.subject)  # the SDK's retries of the call are charged too

    async def _charge_retries(self, tally: RetryTally | None) -> None:
        """Take the SDK's retries of a call from the user's budget, as far as it goes (never refused)."""
        if tally is None:
            return
        for _ in range(tally.retries):
            try:
                await self._store.spend_budget(
                    "upstream", tally.issuer, tally.subject, self.policy.upstream_calls_per_minute, 1
                )
            except CacheUnavailableError:
                return

    async def _spend(self, caller: Caller, budget: str, per_minute: int) -> None:
        """Take one unit of the user's ``budget``, shared by every replica, or raise 429."""
        wait = await self._store.spend_budget(budget, caller.issuer, caller.subject, per_minute, 1)
        if wait > 0:
            self._metrics.rate_limited.labels(budget=budget).inc()
            what = "calls to AWS" if budget == "upstream" else "requests"
            raise RateLimitedError(
                f"too many {what} for this user (limit {per_minute} per minute); retry later",
                retry_after_seconds=retry_after_seconds(wait),
            )

    async def _offload(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking boto3 call on the bounded AWS thread pool, off the event loop."""
        loop = asyncio.get_running_loop()
        # In the request's context, as asyncio.to_thread does: its log fields and trace span follow the call.
        context = contextvars.copy_context()
        tally = take_retry_tally()  # the copy keeps it: the SDK's retry hook counts into it
        try:
            result = await loop.run_in_executor(self._executor, functools.partial(context.run, fn, *args))
        except Exception:
            await self._charge_retries(tally)
            raise
        await self._charge_retries(tally)
        return result

    def _audit_denied(
        self, caller: Caller, request: DataAccessRequest, idc_user_id: str | None, layer: str
    ) -> None:
        audit.info(
            "credentials.denied",
            extra={
                "issuer": caller.issuer,
                "subject": caller.subject,
                "idc_user_id": idc_user_id,
                "target": request.target.uri,
                "permission": request.permission.value,
                "privilege": request.privilege.value,
                "outcome": "denied",
                "cache_layer": layer,
            },
        )

    def _audit_conflict(self, caller: Caller, pinned: str | None, answered: str, reason: str) -> None:
        audit.warning(
            "identity.conflict",
            extra={
                "issuer": caller.issuer,
                "subject": caller.subject,
                "pinned_idc_user_id": pinned,
                "idc_user_id": answered,
                "reason": reason,
            },
        )


@asynccontextmanager
async def _recording(what: str) -> AsyncIterator[None]:
    """Turn a cache that cannot record a sign-out or revocation into 503: never a silent success."""
    try:
        yield
    except CacheUnavailableError:
        raise UpstreamUnavailableError(
            f"the shared cache is unavailable, so the {what} could not be recorded; retry shortly",
            may_have_landed=False,
        ) from None


def _refuse_revoked(caller: Caller, marks: Revocations) -> None:
    if marks.any and marks.refuses(caller):
        raise SessionRevokedError(
            "this token was issued before a sign-out or revocation; sign in again to get a new token"
        )


def _conflict() -> IdentityConflictError:
    return IdentityConflictError(
        "this sign-in maps to a different directory user than before; an administrator must confirm the "
        "change before access is granted"
    )


def _resume_key(caller: Caller) -> str:
    return f"open-session:{caller.token_id}"


def _work_key(request: DataAccessRequest) -> str:
    return "|".join(
        (request.target.uri, request.permission.value, request.privilege.value, str(request.duration_seconds))
    )


def _denied(request: DataAccessRequest) -> AccessDeniedError:
    return AccessDeniedError(
        f"no S3 Access Grant gives you {request.permission.value} on {request.target.uri}"
    )
