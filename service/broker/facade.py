"""The broker's request-facing facade: one object the routes call, wiring the steps that do the work.

The steps, in the order a request meets them: ``sessions`` (identity session: refresh, or the jti
ledger in ``token_exchange`` and AssumeRole in ``opening``), ``data_access`` (GetDataAccess and the
access book), ``presigning``, ``grants`` and ``revocation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from service.broker.data_access import DataAccessDesk
from service.broker.grants import GrantLister
from service.broker.opening import SessionOpener
from service.broker.policy import BrokerPolicy, Issued
from service.broker.presigning import (
    ListItem,
    PostItem,
    PostResult,
    Presigner,
    PresignOrder,
    PresignResult,
)
from service.broker.revocation import Revoker
from service.broker.sessions import SessionLifecycle
from service.broker.token_exchange import TokenExchange
from service.broker.upstream import Upstream
from service.domain.access import DataAccessRequest, Grant
from service.domain.errors import BrokerError
from service.domain.identity import Caller, IdentitySession
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
from service.metrics import Metrics


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
        self._vendor = vendor
        self._store = store
        metrics = metrics or Metrics()
        self._upstream = Upstream(store=store, clock=clock, policy=policy, executor=executor, metrics=metrics)
        opener = SessionOpener(assumer=assumer, store=store, upstream=self._upstream)
        exchange = TokenExchange(
            exchanger=exchanger,
            store=store,
            opener=opener,
            upstream=self._upstream,
            peer_waits=metrics.single_flight_waits.labels(kind="session", layer="cache"),
        )
        self._sessions = SessionLifecycle(
            exchanger=exchanger, store=store, opener=opener, exchange=exchange, upstream=self._upstream
        )
        self._desk = DataAccessDesk(
            vendor=vendor, store=store, sessions=self._sessions, upstream=self._upstream, buckets=buckets
        )
        self._presigner = Presigner(desk=self._desk, signer=signer, upstream=self._upstream)
        self._grants = GrantLister(vendor=vendor, sessions=self._sessions, upstream=self._upstream)
        self._revoker = Revoker(store=store)

    @property
    def policy(self) -> BrokerPolicy:
        """Return the lifetimes and thresholds every step applies."""
        return self._upstream.policy

    @policy.setter
    def policy(self, policy: BrokerPolicy) -> None:
        # One policy object for every step: the composition root may cap the session length at start.
        self._upstream.policy = policy

    async def authenticate(self, token: str) -> Caller:
        """Return the caller a bearer token proves, within the user's request rate."""
        caller = await self._verifier.verify(token)
        await self._upstream.spend_request(caller)
        return caller

    async def open_ledger(self) -> None:
        """At start-up: tokens issued before the jti ledger's records begin will not be exchanged."""
        await self._store.open_ledger(self._upstream.now())

    async def abandon_pending_work(self) -> None:
        """Cancel the upstream work requests left behind when the shutdown drain cut them.

        Run before the cache closes, so a cancelled exchange still records what it leaves (see
        ``TokenExchange``) and a retry on another replica finds it.
        """
        await self._sessions.cancel_all()
        await self._desk.cancel_all()

    async def issue_credentials(self, caller: Caller, request: DataAccessRequest) -> Issued:
        """Return credentials for the caller's request, from the cache when a usable entry exists."""
        return await self._desk.issue_credentials(caller, request)

    async def presign(
        self, caller: Caller, items: Sequence[PresignOrder]
    ) -> list[PresignResult | BrokerError]:
        """Presign each item in order; one item's error does not fail the others."""
        return await self._presigner.presign(caller, items)

    async def presign_post(self, caller: Caller, item: PostItem) -> PostResult:
        """Presign a browser form upload for one key or a key prefix."""
        return await self._presigner.presign_post(caller, item)

    async def presign_list(self, caller: Caller, item: ListItem) -> PresignResult:
        """Presign a listing of the keys under a prefix."""
        return await self._presigner.presign_list(caller, item)

    async def list_grants(self, caller: Caller, prefix: str | None) -> list[Grant]:
        """Return the grants the caller may use (ListCallerAccessGrants)."""
        return await self._grants.list_grants(caller, prefix)

    async def whoami(self, caller: Caller) -> IdentitySession:
        """Return the caller's identity session, opening one if needed."""
        return await self._sessions.ensure(caller)

    async def ensure_session(self, caller: Caller) -> IdentitySession:
        """Return a usable identity-enhanced session for the caller, renewing it when needed."""
        return await self._sessions.ensure(caller)

    async def end_session(self, caller: Caller) -> None:
        """Sign the caller's user out everywhere: every cached entry and every older token dies."""
        await self._revoker.end_session(caller)

    async def revoke_subject(self, issuer: str, subject: str, *, unpin: bool = False) -> None:
        """Operator revocation of one user (issuer, subject); ``unpin`` also forgets its directory user."""
        await self._revoker.revoke_subject(issuer, subject, unpin=unpin)

    async def revoke_directory_user(self, idc_user_id: str) -> tuple[str, str] | None:
        """Operator revocation of the user pinned to an Identity Center user; None when none is known."""
        return await self._revoker.revoke_directory_user(idc_user_id)

    async def revoke_token(self, issuer: str, token_id: str) -> None:
        """Operator revocation of one token by its jti."""
        await self._revoker.revoke_token(issuer, token_id)

    async def revoke_everyone(self) -> None:
        """Break glass: every cached session and access dies, every token issued until now is refused."""
        await self._revoker.revoke_everyone()
