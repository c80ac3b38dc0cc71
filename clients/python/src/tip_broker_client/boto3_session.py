"""boto3_session(): a boto3.Session whose credentials come from the broker and refresh themselves.

botocore's ``RefreshableCredentials`` asks the broker again when less than its refresh window (15
minutes, 10 of them mandatory) is left, before any AWS call signs with them. Needs the ``boto3`` extra.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tip_broker_client.client import BrokerClient
from tip_broker_client.models import Credentials, Permission, Privilege

CREDENTIAL_METHOD = "tip-broker"
MISSING_BOTO3 = "boto3_session needs boto3: pip install 'tip-broker-client[boto3]'"


class _BrokerCredentialProvider:
    """The one credential provider of the session (so no other source on the machine is ever used)."""

    METHOD = CREDENTIAL_METHOD
    CANONICAL_NAME = CREDENTIAL_METHOD

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _metadata(credentials: Credentials) -> dict[str, str]:
    return {
        "access_key": credentials.access_key_id,
        "secret_key": credentials.secret_access_key,
        "token": credentials.session_token,
        "expiry_time": credentials.expiration.isoformat(),
    }


def boto3_session(
    client: BrokerClient,
    target: str,
    permission: Permission = "READ",
    *,
    duration_seconds: int | None = None,
    privilege: Privilege | None = None,
    region_name: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Any:
    """Return a ``boto3.Session`` acting with the broker's credentials for ``target``.

    The first credentials are fetched now, so a refusal (``AccessDeniedError``, an expired token…) is
    raised here; later ones whenever botocore refreshes. ``region_name`` defaults to the bucket's
    region as the broker reports it. ``clock`` (timezone-aware) decides when the credentials count as
    expiring; it defaults to the local clock.
    """
    try:
        import boto3  # noqa: PLC0415 - an optional dependency
        import botocore.credentials  # noqa: PLC0415
        import botocore.session  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(MISSING_BOTO3) from exc

    def fetch() -> dict[str, str]:
        return _metadata(
            client.credentials(target, permission, duration_seconds=duration_seconds, privilege=privilege)
        )

    first = client.credentials(target, permission, duration_seconds=duration_seconds, privilege=privilege)
    optional: dict[str, Any] = {"time_fetcher": clock} if clock is not None else {}
    refreshable = botocore.credentials.RefreshableCredentials(
        access_key=first.access_key_id,
        secret_key=first.secret_access_key,
        token=first.session_token,
        expiry_time=first.expiration,
        refresh_using=fetch,
        method=CREDENTIAL_METHOD,
        **optional,
    )
    core = botocore.session.Session()
    core.register_component(
        "credential_provider",
        botocore.credentials.CredentialResolver(providers=[_BrokerCredentialProvider(refreshable)]),
    )
    return boto3.Session(botocore_session=core, region_name=region_name or first.region)
