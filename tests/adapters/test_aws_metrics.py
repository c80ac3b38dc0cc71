"""AwsCallTimer on the clients AwsClients builds: each call observed once by operation and outcome."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError, EndpointConnectionError

from service.adapters.aws_clients import AwsClients
from service.adapters.aws_metrics import AwsCallTimer, outcome_label
from service.metrics import Metrics
from tests.adapters.conftest import Capture
from tests.scrape import Scrape

CALLER_XML = b"""<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/tip-broker</Arn><UserId>AIDA</UserId>
<Account>111122223333</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"""
DENIED_XML = b"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
<Code>AccessDenied</Code><Message>not authorized to perform: sts:GetCallerIdentity</Message></Error>
<RequestId>r</RequestId></ErrorResponse>"""
DURATIONS = "tipb_upstream_request_duration_seconds"


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _timed_clients() -> tuple[AwsClients, Metrics]:
    metrics = Metrics()
    return AwsClients.build("us-east-1", None, timer=AwsCallTimer(metrics)), metrics


def _refuse(request: AWSRequest, **_: Any) -> AWSResponse:
    return AWSResponse(str(request.url), 403, HTTPHeaders(), _Body(DENIED_XML))


def _unreachable(request: AWSRequest, **_: Any) -> AWSResponse:
    raise EndpointConnectionError(endpoint_url=str(request.url))


@pytest.mark.usefixtures("broker_env")
def test_aws_call_timer_observes_an_answered_call_as_ok_by_service_and_operation() -> None:
    clients, metrics = _timed_clients()
    clients.sts.meta.events.register("before-send.sts", Capture(CALLER_XML))

    clients.sts.get_caller_identity()

    seen = Scrape(metrics.render().decode())
    assert seen.series(f"{DURATIONS}_count") == [
        {"service": "sts", "operation": "GetCallerIdentity", "outcome": "ok"}
    ]
    assert seen.value(f"{DURATIONS}_count") == 1
    assert seen.value(f"{DURATIONS}_sum") > 0


@pytest.mark.usefixtures("broker_env")
def test_aws_call_timer_labels_an_error_answer_with_its_aws_code() -> None:
    clients, metrics = _timed_clients()
    clients.sts.meta.events.register("before-send.sts", _refuse)

    with pytest.raises(ClientError):
        clients.sts.get_caller_identity()

    seen = Scrape(metrics.render().decode())
    assert seen.value(f"{DURATIONS}_count", operation="GetCallerIdentity", outcome="AccessDenied") == 1


@pytest.mark.usefixtures("broker_env")
def test_aws_call_timer_labels_a_call_without_answer_with_its_exception() -> None:
    clients, metrics = _timed_clients()
    clients.sso_oidc.meta.events.register("before-send.sso-oidc", _unreachable)

    with pytest.raises(EndpointConnectionError):
        clients.sso_oidc.create_token_with_iam(
            clientId="arn:aws:sso::111122223333:application/ssoins-1/apl-1",
            grantType="urn:ietf:params:oauth:grant-type:jwt-bearer",
            assertion="not-a-real-token",
        )

    seen = Scrape(metrics.render().decode())
    assert seen.series(f"{DURATIONS}_count") == [
        {"service": "sso-oidc", "operation": "CreateTokenWithIAM", "outcome": "EndpointConnectionError"}
    ]


@pytest.mark.usefixtures("broker_env")
def test_aws_call_timer_times_clients_built_later_for_other_regions() -> None:
    clients, metrics = _timed_clients()
    s3 = clients.client("s3", "eu-west-1")
    s3.meta.events.register("before-send.s3", _refuse)

    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="demo-data")

    seen = Scrape(metrics.render().decode())
    assert seen.value(f"{DURATIONS}_count", service="s3", operation="HeadBucket") == 1


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("AccessDenied", "AccessDenied"),
        ("Throttling.User", "Throttling.User"),
        ("<html>", "other"),
        ("x" * 65, "other"),
        (None, "other"),
    ],
)
def test_outcome_label_keeps_aws_codes_and_folds_anything_else(code: str | None, label: str) -> None:
    assert outcome_label(code) == label
