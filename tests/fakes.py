"""Fakes of the broker's ports for domain, broker and API tests; they count calls like AWS would."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from service.adapters.s3_presigner import SigV4Presigner
from service.broker import Broker, BrokerPolicy
from service.domain.access import DataAccess, DataAccessRequest, Grant, Grantee, Permission, scope_covers
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import (
    AccessDeniedError,
    InvalidTokenError,
    TokenReusedError,
)
from service.domain.identity import Caller, IdentityCenterToken, RenewedToken
from service.domain.ports import CredentialStore

ISSUER = "https://issuer.test/pool"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def make_token(
    subject: str, jti: str, *, expires_at: datetime | None = None, issued_at: datetime | None = None
) -> str:
    """Return an opaque token string FakeTokenVerifier understands (``fake.<sub>.<jti>.<exp>.<iat>``)."""
    exp = expires_at or T0 + timedelta(hours=1)
    iat = issued_at or exp - timedelta(hours=1)
    return f"fake.{subject}.{jti}.{int(exp.timestamp())}.{int(iat.timestamp())}"


class FakeTokenVerifier:
    """Accepts tokens made by ``make_token`` until their expiry on the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.keys_loaded = True
        self.keys_stale = False

    async def verify(self, token: str) -> Caller:
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "fake":
            raise InvalidTokenError("token is not a fake token")
        _, subject, jti, exp, iat = parts
        if int(exp) <= self.clock.now().timestamp():
            raise InvalidTokenError("token expired")
        return Caller(
            issuer=ISSUER,
            subject=subject,
            username=subject,
            token_id=jti,
            expires_at=int(exp),
            token=token,
            issued_at=int(iat),
        )


def _credentials(prefix: str, counter: itertools.count[int], expiration: datetime) -> TemporaryCredentials:
    n = next(counter)
    return TemporaryCredentials(
        f"{prefix}{n:016d}", f"secret-{prefix}-{n}", f"token-{prefix}-{n}", expiration
    )


@dataclass
class FakeIdentityExchanger:
    """Identity Center: each jti may be exchanged once; refresh tokens work while ``refresh_enabled``."""

    refresh_enabled: bool = False
    fail_with: Exception | None = None
    # Raised once, after Identity Center consumed the token: an answer lost to a timeout or a 5xx.
    lose_next_answer: Exception | None = None
    exchanged: list[str] = field(default_factory=list)
    attempts: int = 0
    refreshed: int = 0
    # The directory user each subject maps to (default ``idc-<subject>``), as the IdP attribute says.
    users: dict[str, str] = field(default_factory=dict)
    # What CreateTokenWithIAM answers in ``scope``; empty: no scope member in the answer.
    scopes: frozenset[str] = frozenset()
    applications: list[str | None] = field(default_factory=list)
    refresh_names_user: bool = True
    refresh_has_context: bool = True
    refresh_user_id: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def exchange_jwt(self, assertion: str, application_arn: str | None = None) -> IdentityCenterToken:
        with self._lock:
            self.attempts += 1
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            if assertion in self.exchanged:
                raise InvalidTokenError("Identity Center rejected the token: it was already exchanged")
            self.exchanged.append(assertion)
            self.applications.append(application_arn)
            lost, self.lose_next_answer = self.lose_next_answer, None
        if lost is not None:
            raise lost
        subject = assertion.split(".")[1]
        return IdentityCenterToken(
            idc_user_id=self.users.get(subject, f"idc-{subject}"),
            identity_store_arn="arn:aws:identitystore::111122223333:identitystore/d-1234567890",
            identity_context=f"ctx-{subject}",
            refresh_token=f"refresh-{subject}" if self.refresh_enabled else None,
            expires_in=3600,
            scopes=self.scopes,
        )

    def refresh(self, refresh_token: str, application_arn: str | None = None) -> RenewedToken:
        if not self.refresh_enabled:
            raise TokenReusedError("refresh token expired")
        self.refreshed += 1
        subject = refresh_token.removeprefix("refresh-")
        # AWS's refresh answer may name no user (no idToken) and carry no identity context.
        user = self.refresh_user_id if self.refresh_user_id is not None else f"idc-{subject}"
        return RenewedToken(
            user if self.refresh_names_user else None,
            None,
            f"ctx-{subject}" if self.refresh_has_context else None,
            refresh_token,
            3600,
        )


@dataclass
class FakeRoleAssumer:
    """STS: mints identity-enhanced credentials for ``duration_seconds`` on the fake clock."""

    clock: FakeClock
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)
    fail_next: Exception | None = None
    delay_seconds: float = 0.0
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def assume(self, identity_context: str, session_name: str, duration_seconds: int) -> TemporaryCredentials:
        time.sleep(self.delay_seconds)  # runs on the broker's AWS thread pool, like boto3
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        self.calls.append((identity_context, session_name, duration_seconds))
        credentials = _credentials(
            "ASIASESSION", self._counter, self.clock.now() + timedelta(seconds=duration_seconds)
        )
        self.sessions[credentials.access_key_id] = identity_context
        return credentials


@dataclass
class FakeGrant:
    """A grant the fake vendor knows: scope, permission and the user (by identity context) it belongs to."""

    scope: str
    permission: Permission
    context: str


@dataclass
class FakeDataAccessVendor:
    """S3 Access Grants: matches the most specific grant of the session's user, vends scoped credentials."""

    clock: FakeClock
    assumer: FakeRoleAssumer
    grants: list[FakeGrant] = field(default_factory=list)
    fail_with: Exception | None = None
    delay_seconds: float = 0.0
    calls: list[DataAccessRequest] = field(default_factory=list)
    list_calls: int = 0
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get_data_access(self, session: TemporaryCredentials, request: DataAccessRequest) -> DataAccess:
        with self._lock:
            self.calls.append(request)
        time.sleep(self.delay_seconds)  # runs on the broker's AWS thread pool, like boto3
        if self.fail_with is not None:
            raise self.fail_with
        context = self._session_contexts().get(session.access_key_id, "")
        matches = [
            g
            for g in self.grants
            if g.context == context
            and g.permission.permits(request.permission)
            and scope_covers(g.scope, request.target)
        ]
        if not matches:
            raise AccessDeniedError(
                f"no S3 Access Grant gives you {request.permission} on {request.target.uri}"
            )
        grant = max(matches, key=lambda g: len(g.scope))
        scope = request.target.uri if request.privilege.value == "Minimal" else grant.scope
        expiration = self.clock.now() + timedelta(seconds=request.duration_seconds)
        return DataAccess(
            credentials=_credentials("ASIAVENDED", self._counter, expiration),
            matched_grant_target=scope,
            grantee=Grantee("DIRECTORY_USER", context.removeprefix("ctx-")),
            permission=request.permission,
        )

    def list_caller_grants(
        self, session: TemporaryCredentials, prefix: str | None, application_arn: str | None = None
    ) -> list[Grant]:
        self.list_calls += 1
        context = self._session_contexts().get(session.access_key_id, "")
        return [
            Grant(g.scope, g.permission, None)
            for g in self.grants
            if g.context == context and (prefix is None or prefix in g.scope)
        ]

    def _session_contexts(self) -> dict[str, str]:
        return self.assumer.sessions


# When the tests' jti ledgers began: before any token they see (docs/architecture.md#the-jti-ledger).
LEDGER_BEGAN = datetime(2020, 1, 1, tzinfo=UTC)


def fake_broker(
    store: CredentialStore,
    clock: FakeClock,
    exchanger: FakeIdentityExchanger,
    assumer: FakeRoleAssumer,
    *,
    grants: tuple[FakeGrant, ...] | list[FakeGrant] = (),
    vendor: FakeDataAccessVendor | None = None,
    policy: BrokerPolicy | None = None,
) -> Broker:
    """Return a broker over ``store`` with fake AWS: one replica in the broker-level tests."""
    return Broker(
        verifier=FakeTokenVerifier(clock),
        exchanger=exchanger,
        assumer=assumer,
        vendor=vendor or FakeDataAccessVendor(clock, assumer, grants=list(grants)),
        store=store,
        signer=SigV4Presigner("us-east-1"),
        clock=clock,
        policy=policy or BrokerPolicy(3600, 3600, 900, 60),
        executor=ThreadPoolExecutor(max_workers=2),
    )
