"""In-memory state of the emulator: known credentials, Identity Center, Access Grants, call log, faults."""

from __future__ import annotations

import secrets
import string
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from emulator.clock import Clock

CredentialKind = Literal["iam_user", "role_session", "vended"]

_ALNUM = string.ascii_uppercase + string.digits


def new_access_key(prefix: str) -> str:
    """Return a fresh access key id such as `ASIA…` (20 characters)."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(20 - len(prefix)))


def new_secret() -> str:
    """Return a fresh 40-character secret access key."""
    return secrets.token_urlsafe(30)[:40]


@dataclass(frozen=True)
class IdentityContext:
    """What an Identity Center context assertion stands for (docs/aws.md#context-assertion-conditions)."""

    assertion: str
    user_id: str
    identity_store_id: str
    identity_store_arn: str
    instance_arn: str
    application_arn: str
    credential_id: str
    expires_at: float
    scopes: tuple[str, ...] = ()


@dataclass
class Credential:
    """A set of AWS credentials the emulator issued or was seeded with, and what they are bound to."""

    access_key: str
    secret_key: str
    kind: CredentialKind
    arn: str
    user_id: str
    account_id: str
    session_token: str | None = None
    expires_at: float | None = None
    role_arn: str | None = None
    session_name: str | None = None
    identity: IdentityContext | None = None
    scope: str | None = None
    permission: str | None = None
    grantee: dict[str, str] | None = None

    def expired(self, now: float) -> bool:
        """Return True once the credentials are past their expiry at emulator time `now`."""
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class TrustedTokenIssuer:
    """An OIDC JWT trusted token issuer and its claim → Identity Store attribute mapping."""

    arn: str
    name: str
    issuer_url: str
    claim_attribute_path: str
    identity_store_attribute_path: str
    discovery_url: str | None = None
    jwks_url: str | None = None
    jwks_retrieval_option: str = "OPEN_ID_DISCOVERY"


@dataclass(frozen=True)
class AuthorizedIssuer:
    """One entry of an application's JwtBearer grant."""

    trusted_token_issuer_arn: str
    authorized_audiences: tuple[str, ...]


CUSTOM_APPLICATION_PROVIDER = "arn:aws:sso::aws:applicationProvider/custom"


@dataclass
class Application:
    """A customer-managed Identity Center application: what sso-admin configures, CreateTokenWithIAM reads."""

    arn: str
    name: str
    client_id: str
    instance_arn: str = ""
    provider_arn: str = CUSTOM_APPLICATION_PROVIDER
    status: str = "ENABLED"
    description: str | None = None
    portal_options: dict[str, Any] | None = None
    created_at: float = 0.0
    # The JwtBearer grant's authorized issuers; empty when the application has no jwt-bearer grant.
    jwt_bearer: list[AuthorizedIssuer] = field(default_factory=list)
    refresh_token_grant: bool = False
    # authorization_code / token-exchange grants: stored and answered, never used by CreateTokenWithIAM.
    other_grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The IAM authentication method's ActorPolicy; None when the application has none.
    actor_policy: dict[str, Any] | None = None
    scopes: list[str] = field(default_factory=list)
    scope_targets: dict[str, list[str]] = field(default_factory=dict)
    # AWS's default for a new application (docs/aws.md#application-assignments).
    assignment_required: bool = True
    # (principal type USER | GROUP, principal id) pairs.
    assignments: set[tuple[str, str]] = field(default_factory=set)
    # Whether a refresh_token grant answer carries awsAdditionalDetails.identityContext: AWS's own
    # example of that answer has neither it nor an idToken.
    refresh_identity_context: bool = True


@dataclass(frozen=True)
class Role:
    """An IAM role as STS sees it (read from moto's IAM): trust policy and maximum session duration."""

    arn: str
    name: str
    role_id: str
    trust_policy: dict[str, Any]
    max_session_duration: int = 3600


@dataclass
class GrantsInstance:
    """The (single, `default`) Access Grants instance of an account."""

    account_id: str
    arn: str
    identity_center_arn: str | None
    application_arn: str | None
    created_at: float

    @property
    def region(self) -> str:
        """Return the region the instance lives in (field 4 of its ARN)."""
        return self.arn.split(":")[3]


@dataclass
class GrantsLocation:
    """A registered Access Grants location and the IAM role it vends credentials from."""

    location_id: str
    arn: str
    scope: str
    iam_role_arn: str
    created_at: float


@dataclass
class AccessGrant:
    """One access grant: grantee, permission and scope (= location scope + sub-prefix)."""

    grant_id: str
    arn: str
    location_id: str
    sub_prefix: str | None
    grantee_type: str
    grantee_identifier: str
    permission: str
    application_arn: str | None
    s3_prefix_type: str | None
    scope: str
    created_at: float


@dataclass(frozen=True)
class CallRecord:
    """One CloudTrail-like entry."""

    time: float
    service: str
    operation: str
    caller: str | None
    on_behalf_of: str | None
    decision: str
    error_code: str | None

    def to_json(self) -> dict[str, Any]:
        """Render as the admin API's JSON object."""
        return {
            "time": self.time,
            "service": self.service,
            "operation": self.operation,
            "caller": self.caller,
            "onBehalfOf": self.on_behalf_of,
            "decision": self.decision,
            "errorCode": self.error_code,
        }


@dataclass
class Fault:
    """An injected fault for one operation."""

    operation: str
    latency_ms: int = 0
    error_rate: float = 0.0
    error: str | int | None = None
    remaining: int | None = None


@dataclass
class IdentityCenter:
    """The Identity Center instance, its identity store, applications and trusted token issuers."""

    instance_arn: str
    identity_store_id: str
    identity_store_arn: str
    issuer_url: str
    created_at: float = 0.0
    applications: dict[str, Application] = field(default_factory=dict)
    issuers: dict[str, TrustedTokenIssuer] = field(default_factory=dict)


@dataclass
class EmulatorState:
    """Everything the emulator's own handlers read and write, guarded by one lock."""

    account_id: str
    region: str
    identity_center: IdentityCenter
    endpoint_url: str = ""
    # The optional HTTPS port's base URL (`https://localhost:<port>`), None when it is not served.
    tls_endpoint_url: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    credentials: dict[str, Credential] = field(default_factory=dict)
    contexts: dict[str, IdentityContext] = field(default_factory=dict)
    refresh_tokens: dict[str, IdentityContext] = field(default_factory=dict)
    seen_jti: dict[str, float] = field(default_factory=dict)
    seen_jti_expiries: list[tuple[float, str]] = field(default_factory=list)  # min-heap of (expiry, key)
    grants_instances: dict[str, GrantsInstance] = field(default_factory=dict)
    # Bucket name → owning account (buckets not listed belong to account_id); storage is shared.
    bucket_owners: dict[str, str] = field(default_factory=dict)
    locations: dict[str, dict[str, GrantsLocation]] = field(default_factory=dict)
    grants: dict[str, dict[str, AccessGrant]] = field(default_factory=dict)
    # Resource ARN → tags, for every resource the emulator itself serves (sso-admin, Access Grants).
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    faults: dict[str, Fault] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)

    def now(self) -> float:
        """Return the emulator's current time (epoch seconds, settable through `/_emulator/clock`)."""
        return self.clock.now()

    def register(self, credential: Credential) -> Credential:
        """Remember issued or seeded credentials by access key."""
        with self.lock:
            self.credentials[credential.access_key] = credential
        return credential

    def lookup(self, access_key: str) -> Credential | None:
        """Return the credentials for an access key, if known."""
        with self.lock:
            return self.credentials.get(access_key)

    def record(
        self,
        service: str,
        operation: str,
        *,
        caller: str | None,
        decision: str,
        error_code: str | None = None,
        on_behalf_of: str | None = None,
    ) -> None:
        """Count and log one call."""
        with self.lock:
            self.counts[operation] += 1
            self.calls.append(
                CallRecord(self.clock.now(), service, operation, caller, on_behalf_of, decision, error_code)
            )

    def reset_calls(self) -> None:
        """Clear counters and the call log."""
        with self.lock:
            self.counts.clear()
            self.calls.clear()


def new_id() -> str:
    """Return a random UUID string."""
    return str(uuid.uuid4())
