"""Translate botocore exceptions into domain errors: the shared fallback of every AWS adapter.

Adapters map the error codes that mean something for their own operation first and hand the rest here.
"""

from __future__ import annotations

import re
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
            f"{operation} failed: the broker has no AWS credentials", may_have_landed=False
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
        return UpstreamMisconfiguredError(f"{operation} failed in the AWS SDK ({type(error).__name__})")
    return UpstreamMisconfiguredError(f"{operation} failed unexpectedly ({type(error).__name__})")


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
    return UpstreamMisconfiguredError(f"{operation} was rejected by AWS ({code})")


def _retry_after(error: ClientError, default: int) -> int:
    headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    raw = headers.get("retry-after")
    try:
        value = int(str(raw))
    except ValueError:
        return default
    return value if 1 <= value <= MAX_RETRY_AFTER else default
