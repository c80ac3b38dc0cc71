"""The doctor's AWS clients (signed by the broker's own identity) and its read wrapper.

A read AWS refuses with AccessDenied becomes ``CannotVerifyError`` naming the IAM permission the doctor
needs (a WARN: the doctor may run with fewer rights than an administrator); a read AWS cannot answer
becomes ``CannotVerifyError`` too. ``NotFoundError`` is kept apart: a missing resource is a finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.aws_clients import strip_account_prefix
from service.adapters.aws_errors import error_code, http_status
from service.doctor.model import CannotVerifyError
from service.settings import Settings

T = TypeVar("T")

_DENIED_CODES: Final = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
)
_THROTTLED_CODES: Final = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "SlowDown"}
)
_NOT_FOUND_CODES: Final = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NoSuchAccessGrantsInstance",
        "NoSuchAccessGrantsInstanceError",
        "NoSuchAccessGrantsLocation",
        "NoSuchAccessGrant",
        "NotFound",
    }
)


class NotFoundError(Exception):
    """The resource a read asked for does not exist (its AWS error code is kept)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def read(permission: str, call: Callable[..., T], /, **kwargs: Any) -> T:
    """Return ``call(**kwargs)``; AccessDenied, throttling, a 5xx or no answer → CannotVerifyError, a
    missing resource → NotFoundError.

    Raises:
        CannotVerifyError, NotFoundError, ClientError (any other refusal: the caller decides).
    """
    try:
        return call(**kwargs)
    except ClientError as error:
        code = error_code(error)
        if code in _DENIED_CODES or http_status(error) == 403:
            raise CannotVerifyError(f"{permission} was refused ({code or 'HTTP 403'})", denied=True) from None
        if code in _NOT_FOUND_CODES or http_status(error) == 404:
            raise NotFoundError(code or "HTTP 404") from None
        if http_status(error) >= 500 or code in _THROTTLED_CODES:
            raise CannotVerifyError(
                f"AWS could not answer {permission} ({code or http_status(error)})"
            ) from None
        raise
    except BotoCoreError as error:
        raise CannotVerifyError(f"AWS did not answer {permission} ({type(error).__name__})") from None


def pages(permission: str, call: Callable[..., dict[str, Any]], key: str, /, **kwargs: Any) -> list[Any]:
    """Return every item under ``key`` of a NextToken-paginated read (at most 50 pages)."""
    items: list[Any] = []
    token: str | None = None
    for _ in range(50):
        answer = read(permission, call, **kwargs, **({"NextToken": token} if token else {}))
        items.extend(answer.get(key) or [])
        token = answer.get("NextToken")
        if not token:
            break
    return items


@dataclass(frozen=True)
class DoctorClients:
    """boto3 clients for the doctor's reads, signed by the broker's identity (the standard chain)."""

    sts: Any
    sso_admin: Any
    identitystore: Any
    iam: Any
    s3control_factory: Callable[[str], Any]

    def s3control(self, region: str) -> Any:
        """Return an s3control client of ``region`` signed by the broker's own identity."""
        return self.s3control_factory(region)

    @classmethod
    def build(cls, settings: Settings) -> DoctorClients:
        """Create the clients (no network I/O): Identity Center's region for sso-admin and identitystore."""
        core = botocore.session.get_session()
        core.set_config_variable("sts_regional_endpoints", "regional")
        session = boto3.session.Session(botocore_session=core, region_name=settings.aws_region)
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5
        )
        endpoint = settings.aws_endpoint_url
        idc_region = settings.identity_center_region

        def client(service: str, region: str) -> Any:
            return session.client(service, region_name=region, config=config, endpoint_url=endpoint)

        def s3control(region: str) -> Any:
            built = client("s3control", region)
            if endpoint is not None:
                built.meta.events.register("before-sign.s3-control", strip_account_prefix)
            return built

        return cls(
            sts=client("sts", settings.aws_region),
            sso_admin=client("sso-admin", idc_region),
            identitystore=client("identitystore", idc_region),
            iam=client("iam", settings.aws_region),
            s3control_factory=s3control,
        )
