"""DataAccessVendor adapter: S3 Access Grants ``GetDataAccess`` and ``ListCallerAccessGrants``.

Every call is signed by the caller's identity-enhanced session (``AwsClients.signed_as``), never by the
broker's own identity: that is how S3 Access Grants knows which directory user is asking. With an
``InstanceLocator``, GetDataAccess goes to the account and region of the instance serving the target.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.aws_errors import (
    aws_message,
    error_code,
    http_status,
    iam_denied,
    match_message,
    translate,
)
from service.adapters.grants_instances import InstanceLocator
from service.adapters.sts import credentials_from
from service.domain.access import (
    UNKNOWN_GRANTEE,
    DataAccess,
    DataAccessRequest,
    Grant,
    Grantee,
    Permission,
    S3Target,
)
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import (
    AccessDeniedError,
    BrokerError,
    InvalidRequestError,
    UpstreamMisconfiguredError,
)

GET_DATA_ACCESS: Final = "GetDataAccess"
LIST_CALLER_ACCESS_GRANTS: Final = "ListCallerAccessGrants"
# ListCallerAccessGrants MaxResults is 0-1000: the fewest round trips.
MAX_RESULTS: Final = 1000
# ApplicationArn values for a grant not restricted to an application, and for one usable by every
# application (ListCallerAccessGrants answers carry these instead of an ARN).
NO_APPLICATION: Final = "NA"
ALL_APPLICATIONS: Final = "ALL"

_INVALID_REQUEST_CODES: Final = frozenset({"InvalidRequest", "ValidationError"})
# 403s that mean the session's signature or token was refused, not that no grant matched: the broker's
# fault (a stale or broken session), and must not be remembered as a denial.
_SIGNATURE_REJECTED_CODES: Final = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
)

Signer = Callable[[TemporaryCredentials], AbstractContextManager[Any]]


class S3ControlDataAccessVendor:
    """Asks S3 Access Grants of one account for credentials, signed as the caller's session."""

    def __init__(
        self,
        client: Any,
        signer: Signer,
        account_id: str,
        *,
        locator: InstanceLocator | None = None,
        application_arn: str | None = None,
    ) -> None:
        self._client = client
        self._signed_as = signer
        self._account_id = account_id
        self._locator = locator
        self._application_arn = application_arn

    def get_data_access(self, session: TemporaryCredentials, request: DataAccessRequest) -> DataAccess:
        """Return credentials for the request's target.

        Raises:
            AccessDeniedError, InvalidRequestError, UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        target_type = request.target_type
        client, account_id = self._client, self._account_id
        if self._locator is not None:
            instance = self._locator.locate(session, request.target)
            client, account_id = self._locator.client_for(instance), instance.account_id
        try:
            with self._signed_as(session):
                response = client.get_data_access(
                    AccountId=account_id,
                    Target=request.target.uri,
                    Permission=request.permission.value,
                    DurationSeconds=request.duration_seconds,
                    Privilege=request.privilege.value,
                    **({"TargetType": target_type} if target_type else {}),
                )
        except (ClientError, BotoCoreError) as error:
            raise _get_data_access_error(error, request) from None
        return data_access_from(response, request)

    def list_caller_grants(
        self, session: TemporaryCredentials, prefix: str | None, application_arn: str | None = None
    ) -> list[Grant]:
        """Return the grants the session's user may use through the application (default: the broker's).

        AllowedByApplication=true would return only grants tied to this application or to ALL, and drop
        the commonest kind, a grant with no application ("NA"), which GetDataAccess honours through any
        application. So every grant is asked for and the list is filtered here the way GetDataAccess
        matches them: no application, ALL, or this application's ARN.

        Raises:
            InvalidRequestError, UpstreamMisconfiguredError, UpstreamUnavailableError.
        """
        usable_through = application_arn or self._application_arn
        return [
            grant
            for grant in self._all_caller_grants(session, prefix)
            if grant.application_arn in (None, ALL_APPLICATIONS, usable_through)
        ]

    def _instance_for_listing(self, session: TemporaryCredentials, prefix: str | None) -> tuple[Any, str]:
        """Return the client and account to list in: the instance owning the bucket the prefix names.

        A prefix without a '/' after the bucket may be a fragment of several bucket names
        (docs/aws.md#list-caller-access-grants), so it is listed in the configured instance.
        """
        bucket, slash, _ = (prefix or "").removeprefix("s3://").partition("/")
        if self._locator is None or not slash or not bucket:
            return self._client, self._account_id
        instance = self._locator.locate(session, S3Target(f"s3://{bucket}/"))
        return self._locator.client_for(instance), instance.account_id

    def _all_caller_grants(self, session: TemporaryCredentials, prefix: str | None) -> list[Grant]:
        grants: list[Grant] = []
        seen_tokens: set[str] = set()
        next_token: str | None = None
        client, account_id = self._instance_for_listing(session, prefix)
        try:
            with self._signed_as(session):
                while True:
                    response = client.list_caller_access_grants(
                        AccountId=account_id,
                        AllowedByApplication=False,
                        MaxResults=MAX_RESULTS,
                        **({"GrantScope": prefix} if prefix else {}),
                        **({"NextToken": next_token} if next_token else {}),
                    )
                    grants.extend(_grant(item) for item in response.get("CallerAccessGrantsList", []))
                    next_token = response.get("NextToken")
                    # A repeated token would loop forever; AWS never sends one, an emulator might.
                    if not next_token or next_token in seen_tokens:
                        return grants
                    seen_tokens.add(next_token)
        except (ClientError, BotoCoreError) as error:
            raise _list_error(error) from None


def data_access_from(response: dict[str, Any], request: DataAccessRequest) -> DataAccess:
    """Return the domain answer of GetDataAccess; every member of its output shape is optional.

    Without ``MatchedGrantTarget`` the credentials are known to cover the requested target only, so that
    is what the broker records (and reuses them for).

    Raises:
        UpstreamMisconfiguredError: the answer carries no usable credentials.
    """
    try:
        credentials = credentials_from(response["Credentials"])
    except (KeyError, TypeError, AttributeError):
        raise UpstreamMisconfiguredError(
            f"{GET_DATA_ACCESS} returned no usable credentials", reason="unexpected_answer"
        ) from None
    return DataAccess(
        credentials=credentials,
        matched_grant_target=response.get("MatchedGrantTarget") or request.target.uri,
        grantee=_grantee(response.get("Grantee")),
        permission=request.permission,
        instance_arn=response.get("MatchedInstanceArn") or None,
    )


def _grantee(value: Any) -> Grantee:
    if not isinstance(value, dict):
        return UNKNOWN_GRANTEE
    return Grantee(
        type=str(value.get("GranteeType") or UNKNOWN_GRANTEE.type),
        identifier=str(value.get("GranteeIdentifier") or UNKNOWN_GRANTEE.identifier),
    )


def _grant(item: dict[str, Any]) -> Grant:
    try:
        permission = Permission(item["Permission"])
    except (KeyError, ValueError):
        raise UpstreamMisconfiguredError(
            f"{LIST_CALLER_ACCESS_GRANTS} returned a grant without a known permission",
            reason="unexpected_answer",
        ) from None
    scope = item.get("GrantScope")
    if not isinstance(scope, str) or not scope:
        raise UpstreamMisconfiguredError(
            f"{LIST_CALLER_ACCESS_GRANTS} returned a grant without a scope", reason="unexpected_answer"
        )
    application_arn = item.get("ApplicationArn")
    return Grant(
        grant_scope=scope,
        permission=permission,
        application_arn=None if not application_arn or application_arn == NO_APPLICATION else application_arn,
    )


def _get_data_access_error(error: Exception, request: DataAccessRequest) -> BrokerError:
    if not isinstance(error, ClientError):
        return translate(error, operation=GET_DATA_ACCESS)
    code = error_code(error)
    if code in _SIGNATURE_REJECTED_CODES:
        return UpstreamMisconfiguredError(
            f"{GET_DATA_ACCESS} refused the identity-enhanced session ({code})", reason="session_refused"
        )
    if code == "AccessDenied" or http_status(error) == 403:
        found = match_message(error)
        if found is not None and found.meaning == "iam_denied":
            # IAM refused the identity-bearer role, not the user: every user would get the same answer.
            return iam_denied(GET_DATA_ACCESS, code, found.action or "s3:GetDataAccess")
        # The target is what the caller asked for, so echoing it tells them nothing new.
        return AccessDeniedError(
            f"no S3 Access Grant gives you {request.permission.value} on {request.target.uri}"
        )
    if code in _INVALID_REQUEST_CODES:
        return InvalidRequestError(f"S3 Access Grants refused the request: {aws_message(error)}")
    return translate(error, operation=GET_DATA_ACCESS)


def _list_error(error: Exception) -> BrokerError:
    if not isinstance(error, ClientError):
        return translate(error, operation=LIST_CALLER_ACCESS_GRANTS)
    code = error_code(error)
    if code == "AccessDenied" or http_status(error) == 403:
        # Listing needs no grant: any denial is IAM refusing the identity-bearer role.
        found = match_message(error)
        action = found.action if found is not None and found.action else "s3:ListCallerAccessGrants"
        return iam_denied(LIST_CALLER_ACCESS_GRANTS, code, action)
    if code in _INVALID_REQUEST_CODES:
        return InvalidRequestError(f"S3 Access Grants refused the prefix: {aws_message(error)}")
    return translate(error, operation=LIST_CALLER_ACCESS_GRANTS)
