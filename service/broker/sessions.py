"""The session lifecycle: reuse the caller's identity session, refresh it, or exchange the ID token anew.

The only way in to an identity session: the rest of the broker asks ``SessionLifecycle.ensure``.
"""

from __future__ import annotations

import logging

from service import audit as audit_record
from service.broker.opening import SessionOpener, identity_conflict
from service.broker.revocation_check import refuse_revoked
from service.broker.token_exchange import TokenExchange
from service.broker.upstream import Upstream
from service.domain.errors import TokenReusedError
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession
from service.domain.ports import CredentialStore, IdentityExchanger
from service.domain.revocation import Stamp
from service.single_flight import SingleFlight

logger = logging.getLogger("service.broker")


class SessionLifecycle:
    """Hands out a usable identity-enhanced session per caller, renewing it at most once per token."""

    def __init__(
        self,
        *,
        exchanger: IdentityExchanger,
        store: CredentialStore,
        opener: SessionOpener,
        exchange: TokenExchange,
        upstream: Upstream,
    ) -> None:
        self._exchanger = exchanger
        self._store = store
        self._opener = opener
        self._exchange = exchange
        self._upstream = upstream
        waits = upstream.metrics.single_flight_waits
        self._flights: SingleFlight[IdentitySession] = SingleFlight(
            waits.labels(kind="session", layer="process").inc
        )

    async def ensure(self, caller: Caller) -> IdentitySession:
        """Return a usable identity-enhanced session for the caller, renewing it when needed."""
        session, marks = await self._store.load_session_checked(caller)
        refuse_revoked(caller, marks)
        if session is not None and session.credentials.usable(
            self._upstream.now(), self._upstream.policy.min_remaining_seconds
        ):
            return session
        # Keyed by token too: a request with a fresh token must not inherit the outcome of a spent one.
        return await self._flights.run(
            (caller.issuer, caller.subject, caller.token_id),
            lambda: self._renew(caller, session, marks.stamp),
        )

    async def cancel_all(self) -> None:
        """Cancel the renewals in flight (the shutdown drain cut their requests)."""
        await self._flights.cancel_all()

    async def _renew(self, caller: Caller, stale: IdentitySession | None, stamp: Stamp) -> IdentitySession:
        if stale is not None:
            renewed = await self._refresh(caller, stale, stamp)
            if renewed is not None:
                return renewed
        return await self._exchange.session_for_token(caller, stamp)

    async def _refresh(self, caller: Caller, stale: IdentitySession, stamp: Stamp) -> IdentitySession | None:
        """Renew with the Identity Center refresh token; None when it no longer works or cannot.

        A refresh answer may name no user (AWS's refresh_token answer carries no idToken): the session
        keeps the user of the one it renews. Without an identity context no session can be opened from
        it, so the caller's ID token is exchanged instead, if it is still unused.
        """
        if stale.refresh_token is None:
            return None
        await self._upstream.spend_upstream(caller)
        try:
            renewed = await self._upstream.offload(
                self._exchanger.refresh, stale.refresh_token, caller.application_arn
            )
        except TokenReusedError:
            logger.info("session.refresh_expired", extra={"subject": caller.subject})
            return None
        if renewed.idc_user_id is not None and renewed.idc_user_id != stale.idc_user_id:
            audit_record.identity_conflict(caller, stale.idc_user_id, renewed.idc_user_id, "refresh_remapped")
            raise identity_conflict()
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
        return await self._opener.open(caller, token, "refresh_token", stamp)
