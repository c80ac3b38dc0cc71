"""RoleAssumer adapter: STS ``AssumeRole`` with the Identity Center context as a provided context.

The result is an identity-enhanced role session: AWS services that support it act as the IdC user.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.aws_errors import error_code, translate
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import BrokerError, UpstreamMisconfiguredError

OPERATION: Final = "AssumeRole"
# AssumeRole from a role session (an ECS task role, IRSA, an instance role) is role chaining, and AWS caps
# a chained session at one hour whatever the role's MaxSessionDuration.
ROLE_CHAINING_MAX_SECONDS: Final = 3600
_ROLE_SESSION_MARK: Final = ":assumed-role/"
IDENTITY_CENTER_CONTEXT_PROVIDER: Final = "arn:aws:iam::aws:contextProvider/IdentityCenter"


class StsRoleAssumer:
    """Assumes the identity-bearer role with an Identity Center context assertion."""

    def __init__(self, client: Any, role_arn: str) -> None:
        self._client = client
        self._role_arn = role_arn

    def assume(self, identity_context: str, session_name: str, duration_seconds: int) -> TemporaryCredentials:
        """Return identity-enhanced credentials for the user ``identity_context`` describes.

        Raises:
            UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        try:
            response = self._client.assume_role(
                RoleArn=self._role_arn,
                RoleSessionName=session_name,
                DurationSeconds=duration_seconds,
                ProvidedContexts=[
                    {"ProviderArn": IDENTITY_CENTER_CONTEXT_PROVIDER, "ContextAssertion": identity_context}
                ],
            )
        except (ClientError, BotoCoreError) as error:
            raise _assume_error(error) from None
        return credentials_from(response["Credentials"])


def caller_arn(client: Any) -> str:
    """Return the ARN of the broker's own identity (STS GetCallerIdentity)."""
    return str(client.get_caller_identity()["Arn"])


def session_duration_limit(own_arn: str, duration_seconds: int) -> int:
    """Return the longest session the broker can open: capped at one hour when it runs on a role session."""
    if _ROLE_SESSION_MARK in own_arn:
        return min(duration_seconds, ROLE_CHAINING_MAX_SECONDS)
    return duration_seconds


def credentials_from(credentials: dict[str, Any]) -> TemporaryCredentials:
    """Return domain credentials from an AWS ``Credentials`` structure (STS or GetDataAccess)."""
    return TemporaryCredentials(
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
        expiration=as_utc(credentials["Expiration"]),
    )


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (botocore parses timestamps as aware; be sure)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _assume_error(error: Exception) -> BrokerError:
    if not isinstance(error, ClientError):
        return translate(error, operation=OPERATION)
    code = error_code(error)
    if code == "InvalidContextAssertion":
        # The assertion came from Identity Center a moment ago, so this is not the caller's fault: the
        # context provider or the IdC instance and the STS region do not line up.
        return UpstreamMisconfiguredError(
            "STS rejected the Identity Center context assertion (InvalidContextAssertion); "
            "check that Identity Center and STS are in the configured region",
            reason="region_mismatch",
        )
    if code == "AccessDenied":
        return UpstreamMisconfiguredError(
            "STS denied AssumeRole (AccessDenied); the identity-bearer role's trust policy must allow "
            "the broker sts:AssumeRole and sts:SetContext",
            reason="role_trust",
        )
    if code == "ValidationError":
        return UpstreamMisconfiguredError(
            "STS refused the AssumeRole parameters (ValidationError); the session duration may exceed "
            "the role's MaxSessionDuration (role chaining caps it at 3600 seconds)"
        )
    return translate(error, operation=OPERATION)
