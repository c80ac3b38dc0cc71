"""Ports: the Protocols the broker's use cases need from the outside world; adapters implement them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from service.domain.access import DataAccess, DataAccessRequest, Grant
from service.domain.credentials import TemporaryCredentials
from service.domain.identity import Caller, IdentityCenterToken, RenewedToken
from service.domain.presign import PresignedPost, PresignedUrl
from service.domain.storage_ports import Cache, CredentialStore

__all__ = [
    "BucketLocator",
    "Cache",
    "Clock",
    "CredentialStore",
    "DataAccessVendor",
    "IdentityExchanger",
    "RoleAssumer",
    "TokenVerifier",
    "UrlSigner",
]


class TokenVerifier(Protocol):
    """Verifies a caller's OIDC ID token."""

    async def verify(self, token: str) -> Caller:
        """Return the verified caller.

        Raises:
            InvalidTokenError: the token is missing, malformed, badly signed, expired or not for us.
            UpstreamUnavailableError: no key set could ever be loaded from the issuer.
        """
        ...

    @property
    def keys_loaded(self) -> bool:
        """Return whether a key set is available (readiness)."""
        ...

    @property
    def keys_stale(self) -> bool:
        """Return whether the last key refresh failed while an older key set still serves (readiness)."""
        ...


class IdentityExchanger(Protocol):
    """Trades an IdP token (or an Identity Center refresh token) for an Identity Center token."""

    def exchange_jwt(self, assertion: str, application_arn: str | None = None) -> IdentityCenterToken:
        """Exchange an IdP ID token with CreateTokenWithIAM (jwt-bearer) through an application.

        ``application_arn`` None means the broker's default Identity Center application.

        Raises:
            InvalidTokenError, IdentityNotMappedError, UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        ...

    def refresh(self, refresh_token: str, application_arn: str | None = None) -> RenewedToken:
        """Renew with CreateTokenWithIAM (refresh_token grant) through the application that issued it.

        Raises:
            TokenReusedError: the refresh token expired or was rejected.
            UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        ...


class RoleAssumer(Protocol):
    """Assumes the identity-bearer role with an Identity Center context attached."""

    def assume(self, identity_context: str, session_name: str, duration_seconds: int) -> TemporaryCredentials:
        """Return identity-enhanced role credentials.

        Raises:
            InvalidTokenError, UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        ...


class DataAccessVendor(Protocol):
    """Asks S3 Access Grants for scoped credentials, signed by an identity-enhanced session."""

    def get_data_access(self, session: TemporaryCredentials, request: DataAccessRequest) -> DataAccess:
        """Return credentials for the request's target.

        Raises:
            AccessDeniedError, UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        ...

    def list_caller_grants(
        self, session: TemporaryCredentials, prefix: str | None, application_arn: str | None = None
    ) -> list[Grant]:
        """Return the grants the session's user can use through an application, optionally under a prefix.

        ``application_arn`` None means the broker's default Identity Center application.

        Raises:
            UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        ...


class BucketLocator(Protocol):
    """Knows which region each bucket lives in (presigned URLs must be signed for it)."""

    def known(self, bucket: str) -> str | None:
        """Return the bucket's region if it is already known (no I/O), else None."""
        ...

    def region_of(self, bucket: str) -> str:
        """Return the bucket's region, asking AWS on a miss (blocking); the default region on failure."""
        ...


class Clock(Protocol):
    """The current time, injectable for tests."""

    def now(self) -> datetime:
        """Return the current aware UTC datetime."""
        ...


class UrlSigner(Protocol):
    """Presigns S3 requests with vended credentials (SigV4 only)."""

    def presign_url(
        self,
        credentials: TemporaryCredentials,
        *,
        method: str,
        bucket: str,
        key: str,
        expires_in: int,
        now: datetime,
        content_type: str | None = None,
        content_disposition: str | None = None,
        region: str | None = None,
    ) -> PresignedUrl:
        """Return a presigned URL for one object operation, signed for ``region`` (None: the default)."""
        ...

    def presign_list(
        self,
        credentials: TemporaryCredentials,
        *,
        bucket: str,
        prefix: str,
        expires_in: int,
        now: datetime,
        delimiter: str | None = None,
        max_keys: int | None = None,
        continuation_token: str | None = None,
        region: str | None = None,
    ) -> PresignedUrl:
        """Return a presigned ListObjectsV2 URL for the keys under ``prefix`` (None region: the default)."""
        ...

    def presign_post(
        self,
        credentials: TemporaryCredentials,
        *,
        bucket: str,
        key: str | None = None,
        key_prefix: str | None = None,
        content_type: str | None = None,
        max_bytes: int | None = None,
        expires_in: int,
        now: datetime,
        region: str | None = None,
    ) -> PresignedPost:
        """Return a presigned POST form for a browser upload, signed for ``region`` (None: the default)."""
        ...
