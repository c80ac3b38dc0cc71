"""StsRoleAssumer against botocore's Stubber, role_session_name, and the broker-signed sts client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from service.adapters.aws_clients import AwsClients
from service.adapters.sts import IDENTITY_CENTER_CONTEXT_PROVIDER, StsRoleAssumer
from service.domain.errors import UpstreamMisconfiguredError, UpstreamUnavailableError
from service.domain.identity import role_session_name
from tests.adapters.conftest import Capture

ROLE_ARN = "arn:aws:iam::111122223333:role/IdentityBearer"
CONTEXT = "AQoJb3JpZ2luX2VjEIdentityContextAssertionSecretish"
SESSION_NAME = "tip-83d43802-00b1-7054-db02-f1d683aacba5"
EXPECTED_PARAMS = {
    "RoleArn": ROLE_ARN,
    "RoleSessionName": SESSION_NAME,
    "DurationSeconds": 3600,
    "ProvidedContexts": [{"ProviderArn": IDENTITY_CENTER_CONTEXT_PROVIDER, "ContextAssertion": CONTEXT}],
}


def assume_role_response(expiration: datetime) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAIDENTITYENHANCED",
            "SecretAccessKey": "session-secret-access-key",
            "SessionToken": "session-token-value",
            "Expiration": expiration,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"AROAEXAMPLEID:{SESSION_NAME}",
            "Arn": f"arn:aws:sts::111122223333:assumed-role/IdentityBearer/{SESSION_NAME}",
        },
    }


@pytest.fixture
def client(boto_session: boto3.session.Session) -> Any:
    return boto_session.client("sts")


@pytest.fixture
def assumer(client: Any) -> StsRoleAssumer:
    return StsRoleAssumer(client, ROLE_ARN)


def test_assume_sends_provided_contexts_with_exact_parameters(
    assumer: StsRoleAssumer, stubber: Stubber
) -> None:
    expiration = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    stubber.add_response("assume_role", assume_role_response(expiration), expected_params=EXPECTED_PARAMS)

    credentials = assumer.assume(CONTEXT, SESSION_NAME, 3600)

    assert credentials.access_key_id == "ASIAIDENTITYENHANCED"
    assert credentials.secret_access_key == "session-secret-access-key"
    assert credentials.session_token == "session-token-value"
    assert credentials.expiration == expiration


def test_assume_returns_expiration_in_utc_when_aws_answers_another_offset(
    assumer: StsRoleAssumer, stubber: Stubber
) -> None:
    offset = datetime(2030, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    stubber.add_response("assume_role", assume_role_response(offset), expected_params=EXPECTED_PARAMS)

    expiration = assumer.assume(CONTEXT, SESSION_NAME, 3600).expiration

    assert expiration.tzinfo is UTC
    assert expiration == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_assume_treats_a_naive_expiration_as_utc(assumer: StsRoleAssumer, stubber: Stubber) -> None:
    stubber.add_response(
        "assume_role", assume_role_response(datetime(2030, 1, 1, 12, 0)), expected_params=EXPECTED_PARAMS
    )

    assert assumer.assume(CONTEXT, SESSION_NAME, 3600).expiration == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "status", "hint"),
    [
        ("InvalidContextAssertion", 400, "context assertion"),
        ("AccessDenied", 403, "sts:SetContext"),
        ("ValidationError", 400, "MaxSessionDuration"),
        ("RegionDisabledException", 403, "RegionDisabledException"),
        ("ExpiredToken", 403, "ExpiredToken"),
    ],
)
def test_assume_raises_upstream_misconfigured_when_sts_rejects_the_broker(
    assumer: StsRoleAssumer, stubber: Stubber, code: str, status: int, hint: str
) -> None:
    stubber.add_client_error(
        "assume_role",
        service_error_code=code,
        http_status_code=status,
        service_message=f"rejected {CONTEXT}",
        expected_params=EXPECTED_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError) as caught:
        assumer.assume(CONTEXT, SESSION_NAME, 3600)

    assert hint in caught.value.detail
    assert CONTEXT not in caught.value.detail


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("InternalFailure", 500)])
def test_assume_raises_upstream_unavailable_when_sts_throttles_or_fails(
    assumer: StsRoleAssumer, stubber: Stubber, code: str, status: int
) -> None:
    stubber.add_client_error(
        "assume_role",
        service_error_code=code,
        http_status_code=status,
        service_message="later",
        expected_params=EXPECTED_PARAMS,
    )

    with pytest.raises(UpstreamUnavailableError):
        assumer.assume(CONTEXT, SESSION_NAME, 3600)


class TimingOutClient:
    def assume_role(self, **_: Any) -> dict[str, Any]:
        raise ReadTimeoutError(endpoint_url="http://x")


def test_assume_raises_upstream_unavailable_when_sts_times_out() -> None:
    with pytest.raises(UpstreamUnavailableError):
        StsRoleAssumer(TimingOutClient(), ROLE_ARN).assume(CONTEXT, SESSION_NAME, 3600)


def test_role_session_name_prefixes_the_user_id() -> None:
    assert role_session_name("83d43802-00b1-7054-db02-f1d683aacba5") == SESSION_NAME


def test_role_session_name_truncates_to_64_characters_when_the_id_is_long() -> None:
    name = role_session_name("a" * 200)

    assert len(name) == 64
    assert name.startswith("tip-aaaa")


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        ("alice smith/x:y", "tip-alice-smith-x-y"),
        ("j\u00f6rg", "tip-j-rg"),
        ("a+b=c,d.e@f_g-h", "tip-a+b=c,d.e@f_g-h"),
    ],
)
def test_role_session_name_replaces_characters_sts_refuses(user_id: str, expected: str) -> None:
    assert role_session_name(user_id) == expected


def test_role_session_name_is_at_least_two_characters_when_the_id_is_empty() -> None:
    assert len(role_session_name("")) >= 2


# --- the sts client AwsClients builds: broker credential chain, regional endpoint ---------------------


ASSUME_ROLE_XML = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROAEXAMPLEID:s</AssumedRoleId>
<Arn>arn:aws:sts::111122223333:assumed-role/IdentityBearer/s</Arn></AssumedRoleUser>
<Credentials><AccessKeyId>ASIAIDENTITYENHANCED</AccessKeyId><SecretAccessKey>s</SecretAccessKey>
<SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>
</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>"""


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_sts_signs_with_the_broker_credential_chain_at_the_regional_endpoint() -> None:
    clients = AwsClients.build("eu-west-1", None)
    capture = Capture(ASSUME_ROLE_XML)
    clients.sts.meta.events.register("before-send.sts", capture)

    credentials = StsRoleAssumer(clients.sts, ROLE_ARN).assume(CONTEXT, SESSION_NAME, 3600)

    assert credentials.access_key_id == "ASIAIDENTITYENHANCED"
    assert str(capture.requests[0].url) == "https://sts.eu-west-1.amazonaws.com/"
    authorization = capture.requests[0].headers["Authorization"]
    text = authorization.decode() if isinstance(authorization, bytes) else authorization
    assert "Credential=AKIDBROKERCHAIN00000/" in text


@pytest.mark.usefixtures("broker_env")
def test_aws_clients_never_retry_create_token_with_iam_but_retry_the_others() -> None:
    clients = AwsClients.build("us-east-1", None)

    assert clients.sso_oidc.meta.config.retries["total_max_attempts"] == 1
    assert clients.sts.meta.config.retries["total_max_attempts"] == 3
