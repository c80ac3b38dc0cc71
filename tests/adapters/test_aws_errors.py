"""aws_errors.translate: botocore failures become domain errors with safe details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from service.adapters.aws_errors import (
    MAX_MESSAGE_LENGTH,
    MESSAGE_TABLE,
    MessageMatch,
    MessageRule,
    aws_message,
    match_message,
    redact,
    translate,
)
from service.domain.errors import (
    MISCONFIGURATION_REASONS,
    AccessDeniedError,
    UpstreamMisconfiguredError,
    UpstreamUnavailableError,
)

SECRET_MESSAGE = "Request for user alice failed with key wJalrXUtnFEMI"


def client_error(code: str, status: int, headers: dict[str, Any] | None = None) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": SECRET_MESSAGE},
            "ResponseMetadata": {
                "RequestId": "req",
                "HostId": "",
                "HTTPStatusCode": status,
                "HTTPHeaders": headers or {},
                "RetryAttempts": 2,
            },
        },
        "SomeOperation",
    )


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "SlowDown",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
    ],
)
def test_translate_maps_throttling_codes_to_upstream_unavailable(code: str) -> None:
    error = translate(client_error(code, 400), operation="GetDataAccess")

    assert isinstance(error, UpstreamUnavailableError)
    assert 1 <= error.retry_after_seconds <= 5
    assert code in error.detail
    assert "GetDataAccess" in error.detail


def test_translate_maps_429_without_known_code_to_upstream_unavailable() -> None:
    error = translate(client_error("Whatever", 429), operation="AssumeRole")

    assert isinstance(error, UpstreamUnavailableError)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalServerException", 500),
        ("InternalError", 500),
        ("ServiceUnavailable", 503),
        ("SomethingNew", 502),
        ("InternalServerException", 400),
    ],
)
def test_translate_maps_server_errors_to_upstream_unavailable(code: str, status: int) -> None:
    error = translate(client_error(code, status), operation="AssumeRole")

    assert isinstance(error, UpstreamUnavailableError)
    assert 1 <= error.retry_after_seconds <= 5


def test_translate_uses_retry_after_header_when_in_range() -> None:
    error = translate(client_error("SlowDown", 503, {"retry-after": "7"}), operation="GetDataAccess")

    assert isinstance(error, UpstreamUnavailableError)
    assert error.retry_after_seconds == 7


@pytest.mark.parametrize("header", ["0", "3600", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_translate_ignores_retry_after_header_when_out_of_range_or_not_seconds(header: str) -> None:
    error = translate(client_error("SlowDown", 503, {"retry-after": header}), operation="GetDataAccess")

    assert isinstance(error, UpstreamUnavailableError)
    assert 1 <= error.retry_after_seconds <= 5


def test_translate_maps_unknown_client_error_to_upstream_misconfigured() -> None:
    error = translate(client_error("MalformedPolicyDocument", 400), operation="AssumeRole")

    assert isinstance(error, UpstreamMisconfiguredError)
    assert error.status == 502
    assert "AssumeRole" in error.detail
    assert "MalformedPolicyDocument" in error.detail


def test_translate_never_includes_the_aws_message() -> None:
    error = translate(client_error("MalformedPolicyDocument", 400), operation="AssumeRole")

    assert "wJalrXUtnFEMI" not in error.detail
    assert "alice" not in error.detail


def test_translate_names_the_http_status_when_aws_sent_no_code() -> None:
    error = translate(client_error("", 404), operation="GetDataAccess")

    assert isinstance(error, UpstreamMisconfiguredError)
    assert "404" in error.detail


@pytest.mark.parametrize(
    "failure",
    [
        EndpointConnectionError(endpoint_url="http://x"),
        ConnectTimeoutError(endpoint_url="http://x"),
        ReadTimeoutError(endpoint_url="http://x"),
        ConnectionClosedError(endpoint_url="http://x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_translate_maps_connection_failures_to_upstream_unavailable(failure: Exception) -> None:
    error = translate(failure, operation="CreateTokenWithIAM")

    assert isinstance(error, UpstreamUnavailableError)
    assert error.status == 503
    assert 1 <= error.retry_after_seconds <= 5
    assert "CreateTokenWithIAM" in error.detail


def test_translate_maps_missing_credentials_to_upstream_misconfigured() -> None:
    error = translate(NoCredentialsError(), operation="AssumeRole")

    assert isinstance(error, UpstreamMisconfiguredError)
    assert "the broker has no AWS credentials" in error.detail


def test_translate_omits_parameter_values_when_the_sdk_rejects_parameters() -> None:
    failure = ParamValidationError(report="Invalid length for parameter assertion, value: eyJsecret")

    error = translate(failure, operation="CreateTokenWithIAM")

    assert isinstance(error, UpstreamMisconfiguredError)
    assert "eyJsecret" not in error.detail
    assert "ParamValidationError" in error.detail


def test_translate_passes_domain_errors_through() -> None:
    original = AccessDeniedError("no")

    assert translate(original, operation="GetDataAccess") is original


def test_translate_maps_any_other_exception_to_upstream_misconfigured() -> None:
    error = translate(ValueError("secret-value"), operation="GetDataAccess")

    assert isinstance(error, UpstreamMisconfiguredError)
    assert "secret-value" not in error.detail


def test_redact_removes_given_secrets_and_jwt_shaped_text() -> None:
    message = "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln was rejected for s3cr3t"

    safe = redact(message, secrets=("s3cr3t",))

    assert "eyJhbGciOiJSUzI1NiJ9" not in safe
    assert "s3cr3t" not in safe
    assert "was rejected" in safe


def test_redact_truncates_long_messages() -> None:
    assert len(redact("x" * 5000)) == MAX_MESSAGE_LENGTH


def test_aws_message_returns_the_redacted_message() -> None:
    assert aws_message(client_error("X", 400), secrets=("wJalrXUtnFEMI",)) == (
        "Request for user alice failed with key [redacted]"
    )


@pytest.mark.parametrize(
    ("failure", "may_have_landed"),
    [
        (EndpointConnectionError(endpoint_url="http://x"), False),
        (ConnectTimeoutError(endpoint_url="http://x"), False),
        (client_error("ThrottlingException", 400), False),
        (NoCredentialsError(), False),
        (ReadTimeoutError(endpoint_url="http://x"), True),
        (ConnectionClosedError(endpoint_url="http://x"), True),
        (client_error("InternalServerException", 500), True),
        (client_error("SomethingNew", 400), True),
    ],
    ids=[
        "connect",
        "connect-timeout",
        "throttled",
        "no-credentials",
        "read-timeout",
        "closed",
        "5xx",
        "unknown",
    ],
)
def test_translate_says_whether_aws_may_have_acted_on_the_request(
    failure: Exception, may_have_landed: bool
) -> None:
    error = translate(failure, operation="CreateTokenWithIAM")

    assert isinstance(error, UpstreamUnavailableError | UpstreamMisconfiguredError)
    assert error.may_have_landed is may_have_landed


def _denied(code: str, message: str, status: int = 403) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetDataAccess",
    )


@pytest.mark.parametrize(
    ("rule", "example"),
    [(rule, example) for rule in MESSAGE_TABLE for example in rule.aws_examples],
    ids=[f"{rule.meaning}-{n}" for rule in MESSAGE_TABLE for n, _ in enumerate(rule.aws_examples)],
)
def test_every_message_table_row_matches_the_aws_messages_it_lists(rule: MessageRule, example: str) -> None:
    for code in rule.codes:
        found = match_message(_denied(code, example))
        assert found is not None
        assert found.meaning == rule.meaning


def test_message_table_iam_row_names_the_denied_action() -> None:
    example = MESSAGE_TABLE[0].aws_examples[0]
    assert match_message(_denied("AccessDenied", example)) == MessageMatch("iam_denied", "s3:GetDataAccess")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccessDenied", "Access Denied"),
        ("AccessDenied", "You do not have READ/WRITE access to the target through any grant"),
        ("InvalidRequest", MESSAGE_TABLE[0].aws_examples[0]),  # right words, wrong code
    ],
)
def test_message_table_matches_nothing_else(code: str, message: str) -> None:
    assert match_message(_denied(code, message)) is None


def test_translate_reports_an_iam_denial_as_upstream_misconfigured_with_its_reason() -> None:
    error = translate(_denied("AccessDenied", MESSAGE_TABLE[0].aws_examples[1]), operation="Op")

    assert isinstance(error, UpstreamMisconfiguredError)
    assert error.reason == "iam_denied"
    assert "s3:ListCallerAccessGrants" in error.detail


def test_every_misconfiguration_reason_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert all(f"`{reason}`" in readme for reason in MISCONFIGURATION_REASONS)
