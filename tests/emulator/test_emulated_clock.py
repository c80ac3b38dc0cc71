"""The emulator's settable clock: every expiry and the SigV4 request-time skew follow `/_emulator/clock`."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"


@pytest.fixture(autouse=True)
def real_time(admin_api: Any) -> Iterator[None]:
    """Every test starts and ends on wall-clock time."""
    admin_api.call("POST", "/_emulator/clock", {"offset_seconds": 0})
    yield
    admin_api.call("POST", "/_emulator/clock", {"offset_seconds": 0})


@pytest.fixture
def vended(user_session: Any, client_for: Any) -> dict[str, Any]:
    """GetDataAccess credentials for bob's READ grant (900 seconds)."""
    s3control = client_for(user_session("bob"), "s3control")
    creds = s3control.get_data_access(
        AccountId=ACCOUNT, Target="s3://demo-data/users/bob/*", Permission="READ", DurationSeconds=900
    )["Credentials"]
    return dict(creds)


def test_clock_endpoint_shows_and_moves_the_emulators_time(admin_api: Any) -> None:
    before = admin_api.get("/_emulator/clock")
    assert before["offset_seconds"] == 0

    advanced = admin_api.call("POST", "/_emulator/clock", {"advance_seconds": 120})
    assert advanced["offset_seconds"] == 120
    assert advanced["now"] >= before["now"] + 120
    again = admin_api.call("POST", "/_emulator/clock", {"advance_seconds": 30})
    assert again["offset_seconds"] == 150
    assert admin_api.call("POST", "/_emulator/clock", {"offset_seconds": -60})["offset_seconds"] == -60


def test_clock_endpoint_refuses_a_body_without_exactly_one_number(emulator: Any) -> None:
    for body in ({}, {"offset_seconds": "soon"}, {"offset_seconds": 1, "advance_seconds": 1}):
        response = httpx.post(f"{emulator.url}/_emulator/clock", json=body)
        assert response.status_code == 400, body


def test_vended_credentials_expire_on_the_emulators_clock(
    vended: dict[str, Any],
    make_session: Any,
    client_for: Any,
    admin_api: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = client_for(make_session(vended), "s3")
    assert s3.get_object(Bucket="demo-data", Key="users/bob/todo.txt")["Body"].read() == b"bob's todo\n"

    admin_api.call("POST", "/_emulator/clock", {"advance_seconds": 901})
    _sign_at_offset(monkeypatch, 901)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="demo-data", Key="users/bob/todo.txt")
    assert err.value.response["Error"]["Code"] == "ExpiredToken"


def test_presigned_url_expires_on_the_emulators_clock(
    vended: dict[str, Any], make_session: Any, client_for: Any, admin_api: Any
) -> None:
    s3 = client_for(make_session(vended), "s3")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "users/bob/todo.txt"}, ExpiresIn=60
    )
    assert httpx.get(url).status_code == 200

    admin_api.call("POST", "/_emulator/clock", {"advance_seconds": 61})
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "Request has expired" in expired.text


def test_role_session_expires_on_the_emulators_clock(
    user_session: Any, client_for: Any, admin_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3control = client_for(user_session("bob"), "s3control")  # DurationSeconds=900
    admin_api.call("POST", "/_emulator/clock", {"advance_seconds": 901})
    _sign_at_offset(monkeypatch, 901)
    with pytest.raises(ClientError) as err:
        s3control.get_data_access(AccountId=ACCOUNT, Target="s3://demo-data/users/bob/*", Permission="READ")
    assert err.value.response["Error"]["Code"] == "ExpiredToken"


def test_identity_context_expires_on_the_emulators_clock(
    exchange: Any,
    broker: Any,
    client_for: Any,
    config: dict[str, Any],
    admin_api: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assertion = exchange("bob")["awsAdditionalDetails"]["identityContext"]
    admin_api.call("POST", "/_emulator/clock", {"advance_seconds": 3601})
    _sign_at_offset(monkeypatch, 3601)  # the broker's host is in sync with the emulator's moved time
    sts = client_for(broker, "sts")
    with pytest.raises(ClientError) as err:
        sts.assume_role(
            RoleArn=config["broker_env"]["BROKER_IDENTITY_BEARER_ROLE_ARN"],
            RoleSessionName="tip-bob",
            ProvidedContexts=[
                {
                    "ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter",
                    "ContextAssertion": assertion,
                }
            ],
        )
    assert err.value.response["Error"]["Code"] == "InvalidContextAssertion"
    assert "expired" in err.value.response["Error"]["Message"]


def test_header_signed_s3_request_skewed_by_20_minutes_is_refused(
    admin: Any, client_for: Any, admin_api: Any
) -> None:
    s3 = client_for(admin, "s3")
    assert s3.head_bucket(Bucket="demo-data")["ResponseMetadata"]["HTTPStatusCode"] == 200

    admin_api.call("POST", "/_emulator/clock", {"offset_seconds": 20 * 60})
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="demo-data", Prefix="users/")
    error = err.value.response["Error"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Code"] == "RequestTimeTooSkewed"
    assert error["MaxAllowedSkewMilliseconds"] == "900000"

    admin_api.call("POST", "/_emulator/clock", {"offset_seconds": -20 * 60})
    with pytest.raises(ClientError) as behind:
        s3.list_objects_v2(Bucket="demo-data", Prefix="users/")
    assert behind.value.response["Error"]["Code"] == "RequestTimeTooSkewed"


def test_skew_within_15_minutes_is_accepted(admin: Any, client_for: Any, admin_api: Any) -> None:
    admin_api.call("POST", "/_emulator/clock", {"offset_seconds": 14 * 60})
    s3 = client_for(admin, "s3")
    assert s3.list_objects_v2(Bucket="demo-data", Prefix="users/")["KeyCount"] > 0


def test_header_signed_sts_request_skewed_is_signature_expired(
    broker: Any, client_for: Any, config: dict[str, Any], admin_api: Any
) -> None:
    admin_api.call("POST", "/_emulator/clock", {"offset_seconds": 20 * 60})
    sts = client_for(broker, "sts")
    with pytest.raises(ClientError) as err:
        sts.assume_role(
            RoleArn=config["broker_env"]["BROKER_IDENTITY_BEARER_ROLE_ARN"], RoleSessionName="tip-skew"
        )
    error = err.value.response["Error"]
    assert error["Code"] == "SignatureDoesNotMatch"
    assert error["Message"].startswith("Signature expired: ")


def _sign_at_offset(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    """Make botocore sign as if its host clock were `seconds` ahead, i.e. in sync with the moved emulator."""
    real = botocore.auth.get_current_datetime

    def shifted(remove_tzinfo: bool = True) -> datetime.datetime:
        return real(remove_tzinfo) + datetime.timedelta(seconds=seconds)

    monkeypatch.setattr(botocore.auth, "get_current_datetime", shifted)
