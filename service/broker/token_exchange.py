"""The jti ledger's owner: claim the caller's ID token, exchange it once with Identity Center, settle it.

The ledger's states and why each failure settles the way it does: docs/architecture.md#the-jti-ledger.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Counter

from service import audit as audit_record
from service.broker.opening import SessionOpener, identity_conflict
from service.broker.upstream import Upstream, peer_deadline, poll
from service.domain.errors import (
    InvalidTokenError,
    RateLimitedError,
    TokenReusedError,
    UpstreamMisconfiguredError,
    UpstreamUnavailableError,
)
from service.domain.identity import Caller, IdentityCenterToken, IdentitySession, TokenState
from service.domain.ports import CredentialStore, IdentityExchanger
from service.domain.revocation import Stamp


class TokenExchange:
    """Turns a caller's unused ID token into an identity session, exactly once across replicas."""

    def __init__(
        self,
        *,
        exchanger: IdentityExchanger,
        store: CredentialStore,
        opener: SessionOpener,
        upstream: Upstream,
        peer_waits: Counter,
    ) -> None:
        self._exchanger = exchanger
        self._store = store
        self._opener = opener
        self._upstream = upstream
        self._peer_waits = peer_waits

    async def session_for_token(self, caller: Caller, stamp: Stamp) -> IdentitySession:
        """Claim and exchange the caller's token, or take the session a peer opened with it."""
        deadline = peer_deadline()
        outcome: IdentitySession | IdentityCenterToken | TokenState | None = None
        # Two rounds: a peer whose exchange never reached Identity Center releases the token.
        for _ in range(2):
            if await self._store.claim_token(caller, self._upstream.now()):
                return await self._exchange(caller, stamp)
            self._peer_waits.inc()
            outcome = await poll(lambda: self._peer_outcome(caller), deadline)
            if isinstance(outcome, IdentitySession):
                return outcome
            if isinstance(outcome, IdentityCenterToken):
                return await self._resume(caller, outcome, deadline, stamp)
            if outcome is not TokenState.UNCLAIMED:
                break
        # A request that spent the token may have saved its session since we last looked.
        session = await self._opener.usable(caller)
        if session is not None:
            return session
        if outcome is TokenState.SPENT:
            raise TokenReusedError(
                "this ID token was already exchanged with IAM Identity Center and its identity session "
                "has ended; sign in again to get a new ID token"
            )
        raise UpstreamUnavailableError("another request is exchanging this ID token; retry shortly")

    async def _exchange(self, caller: Caller, stamp: Stamp) -> IdentitySession:
        """Exchange the caller's token, which this request has claimed, and open its session."""
        try:
            await self._upstream.spend_upstream(caller)
            token = await self._upstream.offload(
                self._exchanger.exchange_jwt, caller.token, caller.application_arn
            )
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
            await self._store.doubt_token(
                caller.issuer, caller.token_id, caller.expires_at, self._upstream.now()
            )
            raise
        except BaseException:
            # Refused for good (invalid, replayed, unmapped), or an outcome nobody knows (a bug): never
            # send it again, and let later tries fail at once instead of waiting.
            await self._spend_token(caller)
            raise
        conflict = await self._store.pin_identity(caller.issuer, caller.subject, token.idc_user_id)
        if conflict is not None:
            await self._spend_token(caller)
            audit_record.identity_conflict(caller, None, token.idc_user_id, conflict)
            raise identity_conflict()
        # Held while AssumeRole runs, so a peer that sees the recorded answer waits for this session
        # instead of opening a second one.
        async with self._store.exclusive(caller.issuer, caller.subject, _resume_key(caller)):
            await self._store.record_exchange(caller, token, self._upstream.now())
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
            await self._store.doubt_token(
                caller.issuer, caller.token_id, caller.expires_at, self._upstream.now()
            )
        else:
            await self._spend_token(caller)  # Identity Center answered, with nothing the broker can use

    async def _resume(
        self, caller: Caller, token: IdentityCenterToken, deadline: float, stamp: Stamp
    ) -> IdentitySession:
        """Open the session of a token Identity Center consumed but whose AssumeRole failed."""
        async with self._store.exclusive(caller.issuer, caller.subject, _resume_key(caller)) as holder:
            if holder:
                # The holder before us may have opened it (the in-process lock waits for it).
                session = await self._opener.usable(caller)
                return session or await self._open_exchanged(caller, token, "resumed", stamp)
        session = await poll(lambda: self._opener.usable(caller), deadline)
        if session is None:
            raise UpstreamUnavailableError(
                "another request is opening this ID token's session; retry shortly"
            )
        return session

    async def _open_exchanged(
        self, caller: Caller, token: IdentityCenterToken, how: str, stamp: Stamp
    ) -> IdentitySession:
        session = await self._opener.open(caller, token, how, stamp)
        await self._spend_token(caller)
        return session

    async def _spend_token(self, caller: Caller) -> None:
        await self._store.spend_token(caller.issuer, caller.token_id, caller.expires_at, self._upstream.now())

    async def _peer_outcome(
        self, caller: Caller
    ) -> IdentitySession | IdentityCenterToken | TokenState | None:
        """Return a peer's session or the token's settled state; None while a peer is still exchanging."""
        session = await self._opener.usable(caller)
        if session is not None:
            return session
        state = await self._store.token_state(caller, self._upstream.now())
        return None if state is TokenState.IN_FLIGHT else state


def _resume_key(caller: Caller) -> str:
    return f"open-session:{caller.token_id}"
