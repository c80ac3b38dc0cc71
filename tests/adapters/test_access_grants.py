"""S3ControlDataAccessVendor: exact s3control calls (Stubber) and per-call session signing (AwsClients)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError
from botocore.stub import Stubber

from service.adapters.access_grants import S3ControlDataAccessVendor
from service.adapters.aws_clients import AwsClients
from service.domain.access import (
    UNKNOWN_GRANTEE,
    DataAccessRequest,
    Grant,
    Grantee,
    Permission,
    Privilege,
    S3Target,
)
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import (
    AccessDeniedError,
    InvalidRequestError,
    UpstreamMisconfiguredError,
    UpstreamUnavailableError,
)
from tests.adapters.conftest import Capture

ACCOUNT_ID = "111122223333"
APP_ARN = "arn:aws:sso::111122223333:application/ssoins-1111222233334444/apl-5555666677778888"
SESSION = TemporaryCredentials(
    access_key_id="ASIASESSIONKEY000001",
    secret_access_key="session-secret-access-key",
    session_token="session-token-value",
    expiration=datetime(2030, 1, 1, tzinfo=UTC),
)
EXPIRATION = datetime(2030, 1, 1, 1, 0, tzinfo=UTC)
PREFIX_REQUEST = DataAccessRequest(
    target=S3Target("s3://bucket/team/*"), permission=Permission.READ, duration_seconds=900
)
OBJECT_REQUEST = DataAccessRequest(
    target=S3Target("s3://bucket/team/report.csv"),
    permission=Permission.WRITE,
    duration_seconds=3600,
    privilege=Privilege.MINIMAL,
)
PREFIX_PARAMS = {
    "AccountId": ACCOUNT_ID,
    "Target": "s3://bucket/team/*",
    "Permission": "READ",
    "DurationSeconds": 900,
    "Privilege": "Default",
}


def data_access_response(matched: str = "s3://bucket/team/*") -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAVENDED0000000001",
            "SecretAccessKey": "vended-secret",
            "SessionToken": "vended-token",
            "Expiration": EXPIRATION,
        },
        "MatchedGrantTarget": matched,
        "Grantee": {"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": "83d43802-user"},
    }


class RecordingSigner:
    """Stands in for AwsClients.signed_as: records which credentials each call was made under."""

    def __init__(self) -> None:
        self.active: TemporaryCredentials | None = None
        self.seen_at_call: list[TemporaryCredentials | None] = []

    @contextmanager
    def __call__(self, credentials: TemporaryCredentials) -> Iterator[None]:
        self.active = credentials
        try:
            yield
        finally:
            self.active = None

    def record(self, **_: Any) -> None:
        self.seen_at_call.append(self.active)


@pytest.fixture
def client(boto_session: boto3.session.Session) -> Any:
    return boto_session.client("s3control")


@pytest.fixture
def signer(client: Any) -> RecordingSigner:
    recording = RecordingSigner()
    client.meta.events.register("before-parameter-build.s3-control", recording.record)
    return recording


@pytest.fixture
def vendor(client: Any, signer: RecordingSigner) -> S3ControlDataAccessVendor:
    return S3ControlDataAccessVendor(client, signer, ACCOUNT_ID, application_arn=APP_ARN)


def assert_no_session_secrets(detail: str) -> None:
    for secret in (SESSION.secret_access_key, SESSION.session_token, "vended-secret", "vended-token"):
        assert secret not in detail


def test_get_data_access_sends_exact_parameters_for_a_prefix(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    stubber.add_response("get_data_access", data_access_response(), expected_params=PREFIX_PARAMS)

    access = vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert access.credentials == TemporaryCredentials(
        "ASIAVENDED0000000001", "vended-secret", "vended-token", EXPIRATION
    )
    assert access.matched_grant_target == "s3://bucket/team/*"
    assert access.grantee == Grantee("DIRECTORY_USER", "83d43802-user")
    assert access.permission is Permission.READ


def test_get_data_access_calls_aws_signed_as_the_session(
    vendor: S3ControlDataAccessVendor, stubber: Stubber, signer: RecordingSigner
) -> None:
    stubber.add_response("get_data_access", data_access_response(), expected_params=PREFIX_PARAMS)

    vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert signer.seen_at_call == [SESSION]


def test_get_data_access_sends_target_type_object_for_a_minimal_object_request(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    stubber.add_response(
        "get_data_access",
        data_access_response("s3://bucket/team/report.csv"),
        expected_params={
            "AccountId": ACCOUNT_ID,
            "Target": "s3://bucket/team/report.csv",
            "Permission": "WRITE",
            "DurationSeconds": 3600,
            "Privilege": "Minimal",
            "TargetType": "Object",
        },
    )

    access = vendor.get_data_access(SESSION, OBJECT_REQUEST)

    assert access.matched_grant_target == "s3://bucket/team/report.csv"
    assert access.permission is Permission.WRITE


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("Forbidden", 403)])
def test_get_data_access_raises_access_denied_when_no_grant_matches(
    vendor: S3ControlDataAccessVendor, stubber: Stubber, code: str, status: int
) -> None:
    stubber.add_client_error(
        "get_data_access",
        service_error_code=code,
        http_status_code=status,
        service_message="Access Denied",
        expected_params=PREFIX_PARAMS,
    )

    with pytest.raises(AccessDeniedError) as caught:
        vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert caught.value.detail == "no S3 Access Grant gives you READ on s3://bucket/team/*"


IAM_DENIAL = (
    "User: arn:aws:sts::111122223333:assumed-role/tip-identity-bearer/tip-user is not authorized to "
    "perform: s3:GetDataAccess on resource: arn:aws:s3:us-east-1:111122223333:access-grants/default "
    "because no identity-based policy allows the s3:GetDataAccess action"
)


def test_get_data_access_raises_upstream_misconfigured_when_iam_denies_the_bearer_role(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    stubber.add_client_error(
        "get_data_access",
        service_error_code="AccessDenied",
        http_status_code=403,
        service_message=IAM_DENIAL,
        expected_params=PREFIX_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError) as caught:
        vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert caught.value.status == 502
    assert caught.value.reason == "iam_denied"
    assert "s3:GetDataAccess" in caught.value.detail
    assert "tip-identity-bearer" not in caught.value.detail  # the role is the operator's business


@pytest.mark.parametrize(
    "missing", ["Grantee", "MatchedGrantTarget", "GranteeType", "GranteeIdentifier", "all-optional"]
)
def test_get_data_access_accepts_an_answer_without_its_optional_members(
    vendor: S3ControlDataAccessVendor, stubber: Stubber, missing: str
) -> None:
    response = data_access_response()
    if missing in response:
        del response[missing]
    elif missing == "all-optional":
        response = {"Credentials": response["Credentials"]}
    else:
        del response["Grantee"][missing]
    stubber.add_response("get_data_access", response, expected_params=PREFIX_PARAMS)

    access = vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert access.credentials.access_key_id == "ASIAVENDED0000000001"
    expected_target = "s3://bucket/team/*"  # the grant's, or else the target the credentials cover
    assert access.matched_grant_target == expected_target
    if missing in ("Grantee", "all-optional"):
        assert access.grantee == UNKNOWN_GRANTEE


def test_get_data_access_raises_upstream_misconfigured_when_no_credentials_come_back(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    response = data_access_response()
    del response["Credentials"]
    stubber.add_response("get_data_access", response, expected_params=PREFIX_PARAMS)

    with pytest.raises(UpstreamMisconfiguredError) as caught:
        vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert caught.value.reason == "unexpected_answer"


@pytest.mark.parametrize("code", ["InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"])
def test_get_data_access_raises_upstream_misconfigured_when_the_session_signature_is_refused(
    vendor: S3ControlDataAccessVendor, stubber: Stubber, code: str
) -> None:
    stubber.add_client_error(
        "get_data_access",
        service_error_code=code,
        http_status_code=403,
        service_message=f"bad key {SESSION.session_token}",
        expected_params=PREFIX_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError) as caught:
        vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert code in caught.value.detail
    assert_no_session_secrets(caught.value.detail)


@pytest.mark.parametrize("code", ["InvalidRequest", "ValidationError"])
def test_get_data_access_raises_invalid_request_with_the_aws_message(
    vendor: S3ControlDataAccessVendor, stubber: Stubber, code: str
) -> None:
    stubber.add_client_error(
        "get_data_access",
        service_error_code=code,
        http_status_code=400,
        service_message="durationSeconds must be between 900 and 43200",
        expected_params=PREFIX_PARAMS,
    )

    with pytest.raises(InvalidRequestError) as caught:
        vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert "durationSeconds must be between 900 and 43200" in caught.value.detail


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500)])
def test_get_data_access_raises_upstream_unavailable_when_aws_throttles_or_fails(
    vendor: S3ControlDataAccessVendor, stubber: Stubber, code: str, status: int
) -> None:
    stubber.add_client_error(
        "get_data_access",
        service_error_code=code,
        http_status_code=status,
        service_message="later",
        expected_params=PREFIX_PARAMS,
    )

    with pytest.raises(UpstreamUnavailableError):
        vendor.get_data_access(SESSION, PREFIX_REQUEST)


def test_get_data_access_raises_upstream_misconfigured_for_unmapped_codes(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    stubber.add_client_error(
        "get_data_access",
        service_error_code="AccessGrantsInstanceNotExistsError",
        http_status_code=404,
        service_message=f"no instance for {SESSION.access_key_id} {SESSION.session_token}",
        expected_params=PREFIX_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError) as caught:
        vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert "AccessGrantsInstanceNotExistsError" in caught.value.detail
    assert_no_session_secrets(caught.value.detail)


class UnreachableClient:
    def get_data_access(self, **_: Any) -> dict[str, Any]:
        raise ConnectTimeoutError(endpoint_url="http://x")

    def list_caller_access_grants(self, **_: Any) -> dict[str, Any]:
        raise ConnectTimeoutError(endpoint_url="http://x")


def test_get_data_access_raises_upstream_unavailable_when_aws_is_unreachable() -> None:
    vendor = S3ControlDataAccessVendor(UnreachableClient(), RecordingSigner(), ACCOUNT_ID)

    with pytest.raises(UpstreamUnavailableError):
        vendor.get_data_access(SESSION, PREFIX_REQUEST)


def grant_item(scope: str, permission: str, application_arn: str | None) -> dict[str, Any]:
    item = {
        "GrantScope": scope,
        "Permission": permission,
        "AccessGrantsInstanceArn": f"arn:aws:s3:us-east-1:{ACCOUNT_ID}:access-grants/default",
    }
    if application_arn is not None:
        item["ApplicationArn"] = application_arn
    return item


LIST_PARAMS = {"AccountId": ACCOUNT_ID, "AllowedByApplication": False, "MaxResults": 1000}
OTHER_APP_ARN = "arn:aws:sso::111122223333:application/ssoins-1111222233334444/apl-9999999999999999"


def test_list_caller_grants_paginates_with_exact_parameters(
    vendor: S3ControlDataAccessVendor, stubber: Stubber, signer: RecordingSigner
) -> None:
    first = {**LIST_PARAMS, "GrantScope": "s3://bucket"}
    stubber.add_response(
        "list_caller_access_grants",
        {"NextToken": "page-2", "CallerAccessGrantsList": [grant_item("s3://bucket/team/*", "READ", None)]},
        expected_params=first,
    )
    stubber.add_response(
        "list_caller_access_grants",
        {"CallerAccessGrantsList": [grant_item("s3://bucket*", "READWRITE", APP_ARN)]},
        expected_params={**first, "NextToken": "page-2"},
    )

    grants = vendor.list_caller_grants(SESSION, "s3://bucket")

    assert grants == [
        Grant("s3://bucket/team/*", Permission.READ, None),
        Grant("s3://bucket*", Permission.READWRITE, APP_ARN),
    ]
    assert signer.seen_at_call == [SESSION, SESSION]


def test_list_caller_grants_omits_the_grant_scope_when_no_prefix_is_given(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    stubber.add_response(
        "list_caller_access_grants",
        {"CallerAccessGrantsList": [grant_item("s3://b/x/*", "WRITE", APP_ARN)]},
        expected_params=LIST_PARAMS,
    )

    assert vendor.list_caller_grants(SESSION, None) == [Grant("s3://b/x/*", Permission.WRITE, APP_ARN)]


def test_list_caller_grants_stops_when_aws_repeats_a_token(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    params = LIST_PARAMS
    stubber.add_response(
        "list_caller_access_grants",
        {"NextToken": "same", "CallerAccessGrantsList": []},
        expected_params=params,
    )
    stubber.add_response(
        "list_caller_access_grants",
        {"NextToken": "same", "CallerAccessGrantsList": []},
        expected_params={**params, "NextToken": "same"},
    )

    assert vendor.list_caller_grants(SESSION, None) == []


def test_list_caller_grants_raises_upstream_misconfigured_when_the_role_may_not_list(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    stubber.add_client_error(
        "list_caller_access_grants",
        service_error_code="AccessDenied",
        http_status_code=403,
        service_message="Access Denied",
        expected_params=LIST_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError, match="s3:ListCallerAccessGrants") as caught:
        vendor.list_caller_grants(SESSION, None)

    assert caught.value.reason == "iam_denied"


def test_list_caller_grants_raises_invalid_request_when_aws_refuses_the_prefix(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    stubber.add_client_error(
        "list_caller_access_grants",
        service_error_code="InvalidRequest",
        http_status_code=400,
        service_message="GrantScope must start with s3://",
        expected_params={**LIST_PARAMS, "GrantScope": "bucket"},
    )

    with pytest.raises(InvalidRequestError, match="GrantScope must start with s3://"):
        vendor.list_caller_grants(SESSION, "bucket")


def test_list_caller_grants_raises_upstream_misconfigured_when_a_permission_is_unknown(
    vendor: S3ControlDataAccessVendor, stubber: Stubber
) -> None:
    stubber.add_response(
        "list_caller_access_grants",
        {"CallerAccessGrantsList": [grant_item("s3://b/x/*", "ADMIN", None)]},
        expected_params=LIST_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError):
        vendor.list_caller_grants(SESSION, None)


def test_list_caller_grants_raises_upstream_unavailable_when_aws_is_unreachable() -> None:
    vendor = S3ControlDataAccessVendor(UnreachableClient(), RecordingSigner(), ACCOUNT_ID)

    with pytest.raises(UpstreamUnavailableError):
        vendor.list_caller_grants(SESSION, None)


# --- AwsClients: the real s3control client, signed per call, captured at before-send --------------------


GET_DATA_ACCESS_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<GetDataAccessResult><Credentials><AccessKeyId>ASIAVENDED0000000001</AccessKeyId>
<SecretAccessKey>vended-secret</SecretAccessKey><SessionToken>vended-token</SessionToken>
<Expiration>2030-01-01T01:00:00Z</Expiration></Credentials>
<MatchedGrantTarget>s3://bucket/team/*</MatchedGrantTarget>
<Grantee><GranteeType>DIRECTORY_USER</GranteeType><GranteeIdentifier>83d43802-user</GranteeIdentifier></Grantee>
</GetDataAccessResult>"""


RAW_PARAMS = {"AccountId": ACCOUNT_ID, "Target": "s3://bucket/team/*", "Permission": "READ"}

LIST_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListCallerAccessGrantsResult><CallerAccessGrantsList>
<AccessGrant><Permission>READ</Permission><GrantScope>s3://bucket/team/*</GrantScope>
<ApplicationArn>NA</ApplicationArn></AccessGrant>
<AccessGrant><Permission>READWRITE</Permission><GrantScope>s3://bucket/shared*</GrantScope>
<ApplicationArn>ALL</ApplicationArn></AccessGrant>
<AccessGrant><Permission>WRITE</Permission><GrantScope>s3://bucket/drop/*</GrantScope></AccessGrant>
</CallerAccessGrantsList></ListCallerAccessGrantsResult>"""


def clients_with_capture(endpoint_url: str | None) -> tuple[AwsClients, Capture]:
    clients = AwsClients.build("us-east-1", endpoint_url)
    capture = Capture(GET_DATA_ACCESS_XML)
    clients.s3control.meta.events.register("before-send.s3-control", capture)
    return clients, capture


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_strips_the_account_prefix_when_an_endpoint_is_set() -> None:
    clients, capture = clients_with_capture("http://127.0.0.1:9999")
    vendor = S3ControlDataAccessVendor(clients.s3control, clients.signed_as, ACCOUNT_ID)

    access = vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert str(capture.requests[0].url).startswith(
        "http://127.0.0.1:9999/v20180820/accessgrantsinstance/dataaccess?"
    )
    assert access.matched_grant_target == "s3://bucket/team/*"
    assert access.credentials.expiration == EXPIRATION


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_signs_the_stripped_host(caplog: pytest.LogCaptureFixture) -> None:
    clients, _ = clients_with_capture("http://127.0.0.1:9999")
    vendor = S3ControlDataAccessVendor(clients.s3control, clients.signed_as, ACCOUNT_ID)

    with caplog.at_level(logging.DEBUG, logger="botocore.auth"):
        vendor.get_data_access(SESSION, PREFIX_REQUEST)

    canonical = [r.getMessage() for r in caplog.records if "CanonicalRequest" in r.getMessage()]
    assert canonical
    assert "host:127.0.0.1:9999\n" in canonical[-1]
    assert f"{ACCOUNT_ID}.127.0.0.1" not in canonical[-1]


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_signs_s3control_with_the_session_credentials() -> None:
    clients, capture = clients_with_capture("http://127.0.0.1:9999")
    vendor = S3ControlDataAccessVendor(clients.s3control, clients.signed_as, ACCOUNT_ID)

    vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert f"Credential={SESSION.access_key_id}/" in capture.header("Authorization")
    assert "/us-east-1/s3/aws4_request" in capture.header("Authorization")
    assert capture.header("X-Amz-Security-Token") == SESSION.session_token
    assert capture.header("x-amz-account-id") == ACCOUNT_ID


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_keeps_the_account_prefix_when_talking_to_real_aws() -> None:
    clients, capture = clients_with_capture(None)
    vendor = S3ControlDataAccessVendor(clients.s3control, clients.signed_as, ACCOUNT_ID)

    vendor.get_data_access(SESSION, PREFIX_REQUEST)

    assert str(capture.requests[0].url).startswith(
        f"https://{ACCOUNT_ID}.s3-control.us-east-1.amazonaws.com/"
    )
    assert f"Credential={SESSION.access_key_id}/" in capture.header("Authorization")


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_refuses_to_sign_s3control_outside_signed_as() -> None:
    clients, capture = clients_with_capture("http://127.0.0.1:9999")

    with pytest.raises(RuntimeError, match="signed_as"):
        clients.s3control.get_data_access(**RAW_PARAMS)

    assert capture.requests == []


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_signed_as_applies_only_to_the_calling_thread() -> None:
    clients, capture = clients_with_capture("http://127.0.0.1:9999")
    failures: list[BaseException] = []

    def call_without_credentials() -> None:
        try:
            clients.s3control.get_data_access(**RAW_PARAMS)
        except RuntimeError as error:
            failures.append(error)

    with clients.signed_as(SESSION):
        other = threading.Thread(target=call_without_credentials)
        other.start()
        other.join()

    assert len(failures) == 1
    assert capture.requests == []


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_signed_as_restores_the_outer_credentials_when_nested() -> None:
    clients, capture = clients_with_capture("http://127.0.0.1:9999")
    inner = TemporaryCredentials("ASIAINNERSESSION0001", "inner-secret", "inner-token", SESSION.expiration)
    vendor = S3ControlDataAccessVendor(clients.s3control, clients.signed_as, ACCOUNT_ID)

    with clients.signed_as(SESSION):
        vendor.get_data_access(inner, PREFIX_REQUEST)
        clients.s3control.get_data_access(**RAW_PARAMS)

    assert f"Credential={SESSION.access_key_id}/" in capture.header("Authorization")


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_list_caller_grants_maps_na_to_no_application_over_the_wire() -> None:
    clients, capture = clients_with_capture("http://127.0.0.1:9999")
    capture.body = LIST_XML
    vendor = S3ControlDataAccessVendor(clients.s3control, clients.signed_as, ACCOUNT_ID)

    grants = vendor.list_caller_grants(SESSION, "s3://bucket")

    assert grants == [
        Grant("s3://bucket/team/*", Permission.READ, None),
        Grant("s3://bucket/shared*", Permission.READWRITE, "ALL"),
        Grant("s3://bucket/drop/*", Permission.WRITE, None),
    ]
    assert str(capture.requests[0].url).startswith(
        "http://127.0.0.1:9999/v20180820/accessgrantsinstance/caller/grants?"
    )
    assert "grantscope=s3%3A%2F%2Fbucket" in str(capture.requests[0].url)
    assert f"Credential={SESSION.access_key_id}/" in capture.header("Authorization")


def _grant_xml(scope: str, application_arn: str | None) -> str:
    arn = f"<ApplicationArn>{application_arn}</ApplicationArn>" if application_arn else ""
    return f"<AccessGrant><Permission>READ</Permission><GrantScope>{scope}</GrantScope>{arn}</AccessGrant>"


@pytest.mark.usefixtures("broker_env")
def test_list_caller_grants_asks_for_every_grant_and_keeps_those_usable_through_the_application() -> None:
    clients, capture = clients_with_capture("http://127.0.0.1:9999")
    grants = [
        ("s3://bucket/na/*", "NA"),
        ("s3://bucket/absent/*", None),
        ("s3://bucket/all/*", "ALL"),
        ("s3://bucket/this/*", APP_ARN),
        ("s3://bucket/other/*", OTHER_APP_ARN),
    ]
    capture.body = (
        "<ListCallerAccessGrantsResult><CallerAccessGrantsList>"
        + "".join(_grant_xml(scope, arn) for scope, arn in grants)
        + "</CallerAccessGrantsList></ListCallerAccessGrantsResult>"
    ).encode()
    vendor = S3ControlDataAccessVendor(
        clients.s3control, clients.signed_as, ACCOUNT_ID, application_arn=APP_ARN
    )

    kept = {g.grant_scope for g in vendor.list_caller_grants(SESSION, None)}
    through_other = {g.grant_scope for g in vendor.list_caller_grants(SESSION, None, OTHER_APP_ARN)}

    common = {"s3://bucket/na/*", "s3://bucket/absent/*", "s3://bucket/all/*"}
    assert kept == {*common, "s3://bucket/this/*"}
    assert through_other == {*common, "s3://bucket/other/*"}
    assert "allowedByApplication=false" in str(capture.requests[0].url)
