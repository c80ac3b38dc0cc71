"""UpstreamBreakers on the clients AwsClients builds: every attempt (retries included) feeds and passes the
operation's breaker, an open breaker sends nothing, and its state and refusals reach the metrics."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError, EndpointConnectionError

from service.adapters.aws_clients import AwsClients
from service.adapters.upstream_breakers import UpstreamBreakers
from service.domain.circuit_breaker import BreakerPolicy, BreakerState, CircuitOpenError
from service.domain.rate_limit import RetryTally, open_retry_tally, take_retry_tally
from service.metrics import Metrics
from tests.scrape import Scrape

CALLER_XML = b"""<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/tip-broker</Arn><UserId>AIDA</UserId>
<Account>111122223333</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"""
THROTTLED_XML = b"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"""
DENIED_XML = b"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
<Code>AccessDenied</Code><Message>not authorized to perform: sts:GetCallerIdentity</Message></Error>
<RequestId>r</RequestId></ErrorResponse>"""
OPERATION = "GetCallerIdentity"


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeAws:
    """Answers every attempt that reaches the wire with one canned answer, and counts them."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body, self.attempts = status, body, 0

    def __call__(self, request: AWSRequest, **_: Any) -> AWSResponse:
        self.attempts += 1
        return AWSResponse(str(request.url), self.status, HTTPHeaders(), _Body(self.body))


def _guarded(clock: Clock, failures: int = 2) -> tuple[AwsClients, Metrics]:
    metrics = Metrics()
    breakers = UpstreamBreakers(BreakerPolicy(failures, 10.0, 30.0), metrics, clock)
    return AwsClients.build("us-east-1", None, breakers=breakers), metrics


def _answer(clients: AwsClients, aws: Any) -> None:
    # Registered after the breaker's gate on the same event, so a refused attempt never reaches it.
    clients.sts.meta.events.register("before-send", aws)


@pytest.mark.usefixtures("broker_env")
def test_breaker_refuses_the_retry_botocore_was_about_to_make_once_it_opens() -> None:
    clients, _ = _guarded(Clock())
    aws = FakeAws(400, THROTTLED_XML)
    _answer(clients, aws)

    with pytest.raises(CircuitOpenError) as refused:
        clients.sts.get_caller_identity()

    assert aws.attempts == 2  # of botocore's 3: the second throttle opened the breaker
    assert refused.value.retry_after_seconds == 30


@pytest.mark.usefixtures("broker_env")
def test_open_breaker_sends_nothing_and_counts_the_refusal() -> None:
    clients, metrics = _guarded(Clock())
    aws = FakeAws(400, THROTTLED_XML)
    _answer(clients, aws)
    with pytest.raises(CircuitOpenError):
        clients.sts.get_caller_identity()

    for _ in range(5):
        with pytest.raises(CircuitOpenError):
            clients.sts.get_caller_identity()

    assert aws.attempts == 2
    seen = Scrape(metrics.render().decode())
    assert seen.value("tipb_upstream_breaker_state", operation=OPERATION) == int(BreakerState.OPEN)
    assert seen.value("tipb_upstream_breaker_opens_total", operation=OPERATION) == 1
    assert seen.value("tipb_upstream_breaker_refusals_total", operation=OPERATION) == 6


@pytest.mark.usefixtures("broker_env")
def test_breaker_probe_after_the_open_time_closes_it_when_aws_answers() -> None:
    clock = Clock()
    clients, metrics = _guarded(clock)
    aws = FakeAws(400, THROTTLED_XML)
    _answer(clients, aws)
    with pytest.raises(CircuitOpenError):
        clients.sts.get_caller_identity()

    clock.now += 30.0
    aws.status, aws.body = 200, CALLER_XML

    assert clients.sts.get_caller_identity()["Account"] == "111122223333"
    seen = Scrape(metrics.render().decode())
    assert seen.value("tipb_upstream_breaker_state", operation=OPERATION) == int(BreakerState.CLOSED)


@pytest.mark.usefixtures("broker_env")
def test_breaker_counts_a_refusal_by_aws_as_a_healthy_answer() -> None:
    clients, _ = _guarded(Clock(), failures=1)
    aws = FakeAws(403, DENIED_XML)
    _answer(clients, aws)

    for _ in range(3):
        with pytest.raises(ClientError):
            clients.sts.get_caller_identity()

    assert aws.attempts == 3  # AccessDenied is not retried and never opens the breaker


@pytest.mark.usefixtures("broker_env")
def test_breaker_counts_an_attempt_without_answer_as_a_failure() -> None:
    clients, _ = _guarded(Clock(), failures=2)
    attempts = 0

    def unreachable(request: AWSRequest, **_: Any) -> AWSResponse:
        nonlocal attempts
        attempts += 1
        raise EndpointConnectionError(endpoint_url=str(request.url))

    _answer(clients, unreachable)
    with pytest.raises(CircuitOpenError):
        clients.sts.get_caller_identity()
    assert attempts == 2


@pytest.mark.usefixtures("broker_env")
def test_retries_are_counted_for_the_caller_whose_call_made_them() -> None:
    clients, _ = _guarded(Clock(), failures=0)
    _answer(clients, FakeAws(400, THROTTLED_XML))

    def throttled_call() -> RetryTally | None:
        open_retry_tally("https://issuer", "alice")
        worker_context = contextvars.copy_context()  # as Broker._offload: copied, then taken
        tally = take_retry_tally()
        with pytest.raises(ClientError):
            worker_context.run(clients.sts.get_caller_identity)
        return tally

    tally = contextvars.copy_context().run(throttled_call)

    assert tally is not None
    assert tally.retries == 2  # botocore's 3 attempts: the first was spent before the call
