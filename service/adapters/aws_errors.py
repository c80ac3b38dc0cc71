"""Translate botocore exceptions into domain errors: the shared fallback of every AWS adapter.

Adapters map the error codes that mean something for their own operation first and hand the rest here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from service.domain.errors import BrokerError, UpstreamMisconfiguredError, UpstreamUnavailableError

THROTTLING_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "SlowDownException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
    }
)
SERVER_ERROR_CODES: Final = frozenset(
    {"InternalServerException", "InternalError", "InternalFailure", "ServiceUnavailable", "ServiceFailure"}
)

# Seconds a client should wait before retrying: botocore has already retried (standard mode), so the
# next attempt is the client's; throttling needs a longer pause than a transient 5xx.
RETRY_AFTER_THROTTLED: Final = 2
RETRY_AFTER_SERVER_ERROR: Final = 1
RETRY_AFTER_UNREACHABLE: Final = 5
# An upstream Retry-After header is honoured only inside this range, so one odd value cannot park
# clients for hours.
MAX_RETRY_AFTER: Final = 30

# AWS messages are echoed to clients in a few places; keep them short and never let anything JWT-shaped
# (an IdP or Identity Center token quoted back by the service) through.
MAX_MESSAGE_LENGTH: Final = 300
_JWT_SHAPED: Final = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class MessageRule:
    """One row of the message table: an AWS message shape that carries a meaning its code does not."""

    codes: frozenset[str]
    pattern: re.Pattern[str]
    meaning: str
    aws_examples: tuple[str, ...]  # messages AWS sends that the row matches (each one is tested)


# The only place the broker reads meaning from AWS message text. Everything else is classified by error
# code and HTTP status. AWS answers AccessDenied both when IAM refuses the caller's principal an action
# and when S3 Access Grants finds no grant; only the message tells them apart, and IAM's is documented.
MESSAGE_TABLE: Final = (
    MessageRule(
        codes=frozenset({"AccessDenied", "AccessDeniedException"}),
        pattern=re.compile(r"\bis not authorized to perform: (?P<action>[\w-]+:[\w*-]+)"),
        meaning="iam_denied",
        aws_examples=(
            "User: arn:aws:sts::123456789012:assumed-role/ROLE/SESSION is not authorized to perform: "
            "s3:GetDataAccess on resource: arn:aws:s3:us-east-1:123456789012:access-grants/default "
            "because no identity-based policy allows the s3:GetDataAccess action",
            "User: arn:aws:sts::123456789012:assumed-role/ROLE/SESSION is not authorized to perform: "
            "s3:ListCallerAccessGrants on resource: arn:aws:s3:us-east-1:123456789012:access-grants/default "
            "with an explicit deny in an identity-based policy",
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class MessageMatch:
    """What the message table found in an error: its meaning and the IAM action named, if any."""

    meaning: str
    action: str | None


def match_message(error: ClientError) -> MessageMatch | None:
    """Return the first ``MESSAGE_TABLE`` row matching ``error``'s code and message, or None."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", "") or "")
    for rule in MESSAGE_TABLE:
        found = rule.pattern.search(message) if code in rule.codes else None
        if found is not None:
            return MessageMatch(rule.meaning, found.groupdict().get("action"))
    return None


def error_code(error: ClientError) -> str:
    """Return the AWS error code of ``error`` (empty when the response carried none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    """Return the HTTP status of ``error`` (0 when unknown)."""
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def aws_message(error: ClientError, *, secrets: tuple[str, ...] = ()) -> str:
    """Return AWS's error message made safe to show a client (see ``redact``)."""
    return redact(str(error.response.get("Error", {}).get("Message", "") or ""), secrets=secrets)


def redact(message: str, *, secrets: tuple[str, ...] = ()) -> str:
    """Return ``message`` without ``secrets`` or JWT-shaped text, cut to a readable length."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
    message = _JWT_SHAPED.sub("[redacted]", message)
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return message


def is_throttling(error: ClientError) -> bool:
    """Return whether AWS asked us to slow down."""
    return error_code(error) in THROTTLING_CODES or http_status(error) == 429


def is_server_error(error: ClientError) -> bool:
    """Return whether AWS failed on its side (5xx or a server-error code)."""
    return error_code(error) in SERVER_ERROR_CODES or http_status(error) >= 500


def translate(error: Exception, *, operation: str) -> BrokerError:
    """Return the domain error for a botocore failure of ``operation`` that no adapter mapped itself.

    Details name the operation and the AWS error code only: never request parameters, never messages.
    """
    if isinstance(error, BrokerError):
        return error
    if isinstance(error, ClientError):
        return _translate_client_error(error, operation=operation)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return UpstreamMisconfiguredError(
            f"{operation} failed: the broker has no AWS credentials",
            reason="no_credentials",
            may_have_landed=False,
        )
    # Endpoint unreachable, connect/read timeouts, connections closed mid-response, TLS failures:
    # all transient from the client's point of view once botocore's own retries are spent.
    if isinstance(error, (BotocoreConnectionError, HTTPClientError)):
        return UpstreamUnavailableError(
            f"{operation} failed: AWS could not be reached ({type(error).__name__})",
            retry_after_seconds=RETRY_AFTER_UNREACHABLE,
            # No connection means no request; a read timeout or a dropped connection may follow one.
            may_have_landed=not isinstance(error, (EndpointConnectionError, ConnectTimeoutError)),
        )
    if isinstance(error, BotoCoreError):
        return UpstreamMisconfiguredError(
            f"{operation} failed in the AWS SDK ({type(error).__name__})", reason="unexpected_answer"
        )
    return UpstreamMisconfiguredError(
        f"{operation} failed unexpectedly ({type(error).__name__})", reason="unexpected_answer"
    )


def _translate_client_error(error: ClientError, *, operation: str) -> BrokerError:
    code = error_code(error) or str(http_status(error))
    if is_throttling(error):
        return UpstreamUnavailableError(
            f"{operation} was throttled by AWS ({code})",
            retry_after_seconds=_retry_after(error, RETRY_AFTER_THROTTLED),
            may_have_landed=False,
        )
    if is_server_error(error):
        return UpstreamUnavailableError(
            f"{operation} failed on the AWS side ({code})",
            retry_after_seconds=_retry_after(error, RETRY_AFTER_SERVER_ERROR),
        )
    iam = match_message(error)
    if iam is not None and iam.meaning == "iam_denied":
        return iam_denied(operation, code, iam.action)
    return UpstreamMisconfiguredError(f"{operation} was rejected by AWS ({code})")


def iam_denied(operation: str, code: str, action: str | None) -> UpstreamMisconfiguredError:
    """Return the error of an IAM policy refusing the broker's principal or role an action."""
    needs = f"; the calling principal needs {action}" if action else ""
    return UpstreamMisconfiguredError(
        f"{operation} was denied by IAM ({code}){needs}", reason="iam_denied", may_have_landed=False
    )


def _retry_after(error: ClientError, default: int) -> int:
    headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    raw = headers.get("retry-after")
    try:
        value = int(str(raw))
    except ValueError:
        return default
    return value if 1 <= value <= MAX_RETRY_AFTER else default
