"""Admin surface of the emulator: config, login, call counters and log, fault injection."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"


@pytest.fixture(autouse=True)
def clean_faults(admin_api: Any, emulator: Any) -> Iterator[None]:
    admin_api.call("DELETE", "/_emulator/faults")
    admin_api.call("POST", "/_emulator/reset")
    yield
    admin_api.call("DELETE", "/_emulator/faults")


def test_config_points_broker_at_emulator(emulator: Any, config: dict[str, Any]) -> None:
    env = config["broker_env"]

    assert env["AWS_ENDPOINT_URL"] == emulator.url
    assert env["BROKER_OIDC_JWKS_URL"].startswith(emulator.url + "/")
    assert env["BROKER_ACCESS_GRANTS_ACCOUNT_ID"] == ACCOUNT
    assert {u["username"] for u in config["users"]} == {"alice", "bob", "carol"}


def test_jwks_url_serves_cognito_keys(config: dict[str, Any]) -> None:
    with urllib.request.urlopen(config["broker_env"]["BROKER_OIDC_JWKS_URL"]) as resp:  # noqa: S310 - loopback
        keys = json.loads(resp.read())["keys"]

    assert keys[0]["kty"] == "RSA"


def test_login_rejects_wrong_password(admin_api: Any, emulator: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        admin_api.call("POST", "/_emulator/login", {"username": "alice", "password": "wrong"})

    assert err.value.code == 400
    err.value.close()


def test_calls_counts_each_operation(admin_api: Any, emulator: Any, broker: Any, client_for: Any) -> None:
    sts = client_for(broker, "sts")
    sts.get_caller_identity()
    sts.get_caller_identity()

    counts = admin_api.get("/_emulator/calls/counts")

    assert counts == {"GetCallerIdentity": 2}


def test_calls_log_records_on_behalf_of_user(
    admin_api: Any, emulator: Any, user_session: Any, client_for: Any, config: dict[str, Any]
) -> None:
    s3c = client_for(user_session("alice"), "s3control")
    s3c.get_data_access(AccountId=ACCOUNT, Target="s3://demo-data/users/alice/*", Permission="READ")
    with pytest.raises(ClientError):
        s3c.get_data_access(AccountId=ACCOUNT, Target="s3://demo-data/finance/*", Permission="READ")

    calls = [c for c in admin_api.get("/_emulator/calls") if c["operation"] == "GetDataAccess"]

    alice = next(u["idc_user_id"] for u in config["users"] if u["username"] == "alice")
    assert [(c["decision"], c["errorCode"], c["onBehalfOf"]) for c in calls] == [
        ("Allow", None, alice),
        ("Deny", "AccessDenied", alice),
    ]
    assert calls[0]["caller"] == "arn:aws:sts::111122223333:assumed-role/tip-identity-bearer/tip-alice"


def test_reset_clears_counters(admin_api: Any, emulator: Any, broker: Any, client_for: Any) -> None:
    client_for(broker, "sts").get_caller_identity()

    admin_api.call("POST", "/_emulator/reset")

    assert admin_api.get("/_emulator/calls/counts") == {}


def test_fault_throttling_makes_boto3_retry_then_raise(
    admin_api: Any, emulator: Any, user_session: Any, client_for: Any
) -> None:
    s3c = client_for(
        user_session("alice"),
        "s3control",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    admin_api.call("POST", "/_emulator/reset")
    admin_api.call(
        "POST",
        "/_emulator/faults",
        {"operation": "GetDataAccess", "error_rate": 1.0, "error": "ThrottlingException"},
    )

    with pytest.raises(ClientError) as err:
        s3c.get_data_access(AccountId=ACCOUNT, Target="s3://demo-data/users/alice/*", Permission="READ")

    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert admin_api.get("/_emulator/calls/counts")["GetDataAccess"] == 3


def test_fault_internal_error_uses_oidc_error_shape(
    admin_api: Any, emulator: Any, broker: Any, client_for: Any, config: dict[str, Any], login: Any
) -> None:
    oidc = client_for(broker, "sso-oidc")
    admin_api.call("POST", "/_emulator/faults", {"operation": "CreateTokenWithIAM", "error": "InternalError"})

    with pytest.raises(oidc.exceptions.InternalServerException):
        oidc.create_token_with_iam(
            clientId=config["broker_env"]["BROKER_IDC_APPLICATION_ARN"],
            grantType="urn:ietf:params:oauth:grant-type:jwt-bearer",
            assertion=login("alice"),
        )


def test_fault_count_limits_injected_errors(
    admin_api: Any, emulator: Any, broker: Any, client_for: Any
) -> None:
    sts = client_for(broker, "sts")
    admin_api.call(
        "POST", "/_emulator/faults", {"operation": "GetCallerIdentity", "error": "Throttling", "count": 1}
    )

    with pytest.raises(ClientError) as err:
        sts.get_caller_identity()
    who = sts.get_caller_identity()

    assert err.value.response["Error"]["Code"] == "Throttling"
    assert who["Account"] == ACCOUNT


def test_fault_slowdown_on_s3_returns_503(admin_api: Any, emulator: Any, admin: Any, client_for: Any) -> None:
    s3 = client_for(admin, "s3")
    admin_api.call("POST", "/_emulator/faults", {"operation": "GetObject", "error": "SlowDown"})

    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="demo-data", Key="reports/q3.csv")

    assert err.value.response["Error"]["Code"] == "SlowDown"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_delete_faults_restores_service(admin_api: Any, emulator: Any, broker: Any, client_for: Any) -> None:
    admin_api.call("POST", "/_emulator/faults", {"operation": "GetCallerIdentity", "error": 500})

    admin_api.call("DELETE", "/_emulator/faults")

    assert client_for(broker, "sts").get_caller_identity()["Account"] == ACCOUNT
