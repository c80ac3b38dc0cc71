"""SsoOidcIdentityExchanger against botocore's Stubber: exact CreateTokenWithIAM calls and error mapping."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from service.adapters.identity_center import SsoOidcIdentityExchanger
from service.domain.errors import (
    InvalidTokenError,
    TokenReusedError,
    UpstreamMisconfiguredError,
    UpstreamUnavailableError,
)

APPLICATION_ARN = "arn:aws:sso::111122223333:application/ssoins-1111222233334444/apl-5555666677778888"
USER_ID = "83d43802-00b1-7054-db02-f1d683aacba5"
STORE_ARN = "arn:aws:identitystore::111122223333:identitystore/d-996773e796"
CONTEXT = "AQoJb3JpZ2luX2VjEIdentityContextFromAdditionalDetails"
CLAIM_CONTEXT = "AQoJb3JpZ2luX2VjEIdentityContextFromTheIdTokenClaim"
ASSERTION = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-assertion"
REFRESH_TOKEN = "aorvJYubGpU6i91YnH7Mfo-refresh-token-secret"
ACCESS_TOKEN = "aoaAAAAAGRsb2NrZWQ-access-token-secret"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def id_token(**claims: Any) -> str:
    return f"{b64url({'alg': 'RS256', 'kid': 'idc'})}.{b64url(claims)}.c2lnbmF0dXJl"


def default_id_token() -> str:
    return id_token(
        sub=USER_ID,
        **{"aws:identity_store_arn": STORE_ARN, "sts:identity_context": CLAIM_CONTEXT},
    )


def token_response(**overrides: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "accessToken": ACCESS_TOKEN,
        "tokenType": "Bearer",
        "expiresIn": 3600,
        "refreshToken": REFRESH_TOKEN,
        "idToken": default_id_token(),
        "issuedTokenType": "urn:ietf:params:oauth:token-type:refresh_token",
        "scope": ["sts:identity_context", "openid", "aws"],
        "awsAdditionalDetails": {"identityContext": CONTEXT},
    }
    response.update(overrides)
    return {key: value for key, value in response.items() if value is not None}


JWT_PARAMS = {"clientId": APPLICATION_ARN, "grantType": JWT_BEARER, "assertion": ASSERTION}
REFRESH_PARAMS = {"clientId": APPLICATION_ARN, "grantType": "refresh_token", "refreshToken": REFRESH_TOKEN}


@pytest.fixture
def client(boto_session: boto3.session.Session) -> Any:
    return boto_session.client("sso-oidc")


@pytest.fixture
def exchanger(client: Any) -> SsoOidcIdentityExchanger:
    return SsoOidcIdentityExchanger(client, APPLICATION_ARN)


def assert_no_secrets(detail: str) -> None:
    for secret in (ASSERTION, REFRESH_TOKEN, ACCESS_TOKEN, "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0"):
        assert secret not in detail


def test_exchange_jwt_sends_the_jwt_bearer_grant_with_exact_parameters(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    stubber.add_response("create_token_with_iam", token_response(), expected_params=JWT_PARAMS)

    token = exchanger.exchange_jwt(ASSERTION)

    assert token.idc_user_id == USER_ID
    assert token.identity_store_arn == STORE_ARN
    assert token.identity_context == CONTEXT
    assert token.refresh_token == REFRESH_TOKEN
    assert token.expires_in == 3600


def test_refresh_sends_the_refresh_token_grant_with_exact_parameters(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    stubber.add_response(
        "create_token_with_iam", token_response(expiresIn=1800), expected_params=REFRESH_PARAMS
    )

    token = exchanger.refresh(REFRESH_TOKEN)

    assert token.idc_user_id == USER_ID
    assert token.expires_in == 1800


def test_refresh_accepts_aws_documented_answer_without_id_token(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    # The shape of AWS's own refresh_token example: no idToken, no scope.
    response = token_response(idToken=None, scope=None)
    stubber.add_response("create_token_with_iam", response, expected_params=REFRESH_PARAMS)

    token = exchanger.refresh(REFRESH_TOKEN)

    assert token.idc_user_id is None
    assert token.identity_store_arn is None
    assert token.identity_context == CONTEXT
    assert token.refresh_token == REFRESH_TOKEN


def test_refresh_accepts_an_answer_without_id_token_or_additional_details(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    response = token_response(idToken=None, scope=None, awsAdditionalDetails=None, refreshToken=None)
    stubber.add_response("create_token_with_iam", response, expected_params=REFRESH_PARAMS)

    token = exchanger.refresh(REFRESH_TOKEN)

    assert token.identity_context is None
    assert token.idc_user_id is None
    assert token.refresh_token is None
    assert token.expires_in == 3600


def test_refresh_reads_the_user_when_an_id_token_is_returned(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    stubber.add_response("create_token_with_iam", token_response(), expected_params=REFRESH_PARAMS)

    token = exchanger.refresh(REFRESH_TOKEN)

    assert token.idc_user_id == USER_ID
    assert token.identity_store_arn == STORE_ARN


def test_exchange_jwt_reads_the_context_from_the_id_token_when_additional_details_are_absent(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    response = token_response()
    del response["awsAdditionalDetails"]
    stubber.add_response("create_token_with_iam", response, expected_params=JWT_PARAMS)

    assert exchanger.exchange_jwt(ASSERTION).identity_context == CLAIM_CONTEXT


def test_exchange_jwt_fails_upstream_misconfigured_when_no_identity_context_is_returned(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    response = token_response(idToken=id_token(sub=USER_ID))
    del response["awsAdditionalDetails"]
    stubber.add_response("create_token_with_iam", response, expected_params=JWT_PARAMS)

    with pytest.raises(UpstreamMisconfiguredError, match="sts:identity_context") as caught:
        exchanger.exchange_jwt(ASSERTION)

    assert caught.value.status == 502


def test_exchange_jwt_returns_no_store_arn_or_refresh_token_when_absent(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    response = token_response(idToken=id_token(sub=USER_ID), refreshToken=None)
    stubber.add_response("create_token_with_iam", response, expected_params=JWT_PARAMS)

    token = exchanger.exchange_jwt(ASSERTION)

    assert token.identity_store_arn is None
    assert token.refresh_token is None


@pytest.mark.parametrize(
    "bad_id_token",
    ["not-a-jwt", "a.!!!.c", f"a.{b64url({'aud': 'x'})}.c", "a.WyJsaXN0Il0.c"],
    ids=["not-three-parts", "bad-base64", "no-sub", "not-an-object"],
)
def test_exchange_jwt_fails_upstream_misconfigured_when_the_id_token_is_unusable(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber, bad_id_token: str
) -> None:
    stubber.add_response(
        "create_token_with_iam", token_response(idToken=bad_id_token), expected_params=JWT_PARAMS
    )

    with pytest.raises(UpstreamMisconfiguredError):
        exchanger.exchange_jwt(ASSERTION)


def test_exchange_jwt_fails_upstream_misconfigured_when_no_id_token_is_returned(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    stubber.add_response("create_token_with_iam", token_response(idToken=None), expected_params=JWT_PARAMS)

    with pytest.raises(UpstreamMisconfiguredError, match="openid"):
        exchanger.exchange_jwt(ASSERTION)


@pytest.mark.parametrize(
    "message",
    [
        "No user matches the claim value",
        "User not found in the identity store",
        "The token has already been exchanged",
        "no reason",
    ],
)
def test_exchange_jwt_classifies_an_invalid_grant_by_its_code_not_its_message(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber, message: str
) -> None:
    # Identity Center documents no message texts for InvalidGrantException: guessing "replayed" or
    # "unmapped" from words an emulator chose would misfire on AWS. The token is refused, that is all.
    stubber.add_client_error(
        "create_token_with_iam",
        service_error_code="InvalidGrantException",
        http_status_code=400,
        service_message=message,
        expected_params=JWT_PARAMS,
    )

    with pytest.raises(InvalidTokenError) as caught:
        exchanger.exchange_jwt(ASSERTION)

    assert caught.value.status == 401
    assert message in caught.value.detail


def test_exchange_jwt_raises_invalid_token_when_the_grant_is_rejected(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    stubber.add_client_error(
        "create_token_with_iam",
        service_error_code="InvalidGrantException",
        http_status_code=400,
        service_message=f"Invalid signature on {ASSERTION}",
        expected_params=JWT_PARAMS,
    )

    with pytest.raises(InvalidTokenError) as caught:
        exchanger.exchange_jwt(ASSERTION)

    assert caught.value.detail.startswith("Identity Center rejected the token: Invalid signature")
    assert_no_secrets(caught.value.detail)


def test_exchange_jwt_raises_invalid_token_when_the_token_expired(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    stubber.add_client_error(
        "create_token_with_iam",
        service_error_code="ExpiredTokenException",
        http_status_code=400,
        service_message="Token is expired",
        expected_params=JWT_PARAMS,
    )

    with pytest.raises(InvalidTokenError):
        exchanger.exchange_jwt(ASSERTION)


BROKER_REJECTED = [
    ("InvalidClientException", 401, "application_not_found"),
    ("UnauthorizedClientException", 400, "grant_missing"),
    ("AccessDeniedException", 400, "iam_denied"),
    ("InvalidScopeException", 400, "scope_missing"),
    ("UnsupportedGrantTypeException", 400, "grant_missing"),
    ("InvalidRequestException", 400, "rejected"),
    ("InvalidRequestRegionException", 400, "region_mismatch"),
]


@pytest.mark.parametrize(("code", "status", "reason"), BROKER_REJECTED)
def test_exchange_jwt_raises_upstream_misconfigured_when_the_broker_is_rejected(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber, code: str, status: int, reason: str
) -> None:
    stubber.add_client_error(
        "create_token_with_iam",
        service_error_code=code,
        http_status_code=status,
        service_message=f"rejected {ASSERTION}",
        expected_params=JWT_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError) as caught:
        exchanger.exchange_jwt(ASSERTION)

    assert code in caught.value.detail
    assert caught.value.reason == reason
    assert caught.value.detail.endswith(f"(reason: {reason})")
    assert not caught.value.may_have_landed
    assert_no_secrets(caught.value.detail)


@pytest.mark.parametrize(("code", "status", "reason"), BROKER_REJECTED)
def test_refresh_raises_upstream_misconfigured_when_the_broker_is_rejected(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber, code: str, status: int, reason: str
) -> None:
    stubber.add_client_error(
        "create_token_with_iam",
        service_error_code=code,
        http_status_code=status,
        service_message="rejected",
        expected_params=REFRESH_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError) as caught:
        exchanger.refresh(REFRESH_TOKEN)

    assert caught.value.reason == reason


@pytest.mark.parametrize("code", ["InvalidGrantException", "ExpiredTokenException"])
def test_refresh_raises_token_reused_when_the_refresh_token_is_rejected(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber, code: str
) -> None:
    stubber.add_client_error(
        "create_token_with_iam",
        service_error_code=code,
        http_status_code=400,
        service_message=f"refresh token {REFRESH_TOKEN} expired",
        expected_params=REFRESH_PARAMS,
    )

    with pytest.raises(TokenReusedError) as caught:
        exchanger.refresh(REFRESH_TOKEN)

    assert caught.value.detail == "the Identity Center session expired; sign in again"


@pytest.mark.parametrize(("code", "status"), [("SlowDownException", 400), ("InternalServerException", 500)])
def test_exchange_jwt_raises_upstream_unavailable_when_identity_center_throttles_or_fails(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber, code: str, status: int
) -> None:
    stubber.add_client_error(
        "create_token_with_iam",
        service_error_code=code,
        http_status_code=status,
        service_message="try later",
        expected_params=JWT_PARAMS,
    )

    with pytest.raises(UpstreamUnavailableError):
        exchanger.exchange_jwt(ASSERTION)


def test_exchange_jwt_raises_upstream_misconfigured_for_unmapped_codes(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    stubber.add_client_error(
        "create_token_with_iam",
        service_error_code="AuthorizationPendingException",
        http_status_code=400,
        service_message="pending",
        expected_params=JWT_PARAMS,
    )

    with pytest.raises(UpstreamMisconfiguredError, match="AuthorizationPendingException"):
        exchanger.exchange_jwt(ASSERTION)


class UnreachableClient:
    def create_token_with_iam(self, **_: Any) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url="http://x")


def test_exchange_jwt_raises_upstream_unavailable_when_identity_center_is_unreachable() -> None:
    exchanger = SsoOidcIdentityExchanger(UnreachableClient(), APPLICATION_ARN)

    with pytest.raises(UpstreamUnavailableError):
        exchanger.exchange_jwt(ASSERTION)


def test_refresh_raises_upstream_unavailable_when_identity_center_is_unreachable() -> None:
    exchanger = SsoOidcIdentityExchanger(UnreachableClient(), APPLICATION_ARN)

    with pytest.raises(UpstreamUnavailableError):
        exchanger.refresh(REFRESH_TOKEN)


OTHER_APPLICATION = "arn:aws:sso::111122223333:application/ssoins-1111222233334444/apl-9999999999999999"


def test_exchange_keeps_the_granted_scopes_and_none_when_the_answer_has_no_scope(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    granted = ["sts:identity_context", "s3:access_grants:read_only", "openid", "aws"]
    stubber.add_response("create_token_with_iam", token_response(scope=granted), expected_params=JWT_PARAMS)
    stubber.add_response("create_token_with_iam", token_response(scope=None), expected_params=JWT_PARAMS)

    assert exchanger.exchange_jwt(ASSERTION).scopes == frozenset(granted)
    assert exchanger.exchange_jwt(ASSERTION).scopes == frozenset()


def test_exchange_and_refresh_use_the_issuers_application_when_given(
    exchanger: SsoOidcIdentityExchanger, stubber: Stubber
) -> None:
    stubber.add_response(
        "create_token_with_iam",
        token_response(),
        expected_params={**JWT_PARAMS, "clientId": OTHER_APPLICATION},
    )
    stubber.add_response(
        "create_token_with_iam",
        token_response(),
        expected_params={**REFRESH_PARAMS, "clientId": OTHER_APPLICATION},
    )

    exchanger.exchange_jwt(ASSERTION, OTHER_APPLICATION)
    exchanger.refresh(REFRESH_TOKEN, OTHER_APPLICATION)

    stubber.assert_no_pending_responses()
