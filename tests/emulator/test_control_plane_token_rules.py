"""CreateTokenWithIAM enforces what sso-admin configures, one refusal per rule, on an `--empty` emulator
set up through boto3 (docs/aws.md#createtokenwithiam-application-checks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.server import EmulatorServer
from tests.emulator.control_plane import (
    JWT_BEARER,
    Provisioned,
    actor_policy,
    data_access,
    jwt_bearer_grant,
    provision,
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(port=0, empty=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin_clients(admin: Any, client_for: Callable[..., Any]) -> Callable[[str], Any]:
    return lambda service: client_for(admin, service)


@pytest.fixture(scope="module")
def broker_clients(broker: Any, client_for: Callable[..., Any]) -> Callable[[str], Any]:
    return lambda service: client_for(broker, service)


@pytest.fixture(scope="module")
def provisioned(
    admin_clients: Callable[[str], Any], broker_clients: Callable[[str], Any], config: dict[str, Any]
) -> Provisioned:
    return provision(admin_clients, broker_clients, config, "alice")


@pytest.fixture(scope="module")
def sso(admin_clients: Callable[[str], Any]) -> Any:
    return admin_clients("sso-admin")


@pytest.fixture(scope="module")
def exchange(
    broker_clients: Callable[[str], Any], provisioned: Provisioned, login: Callable[[str], str]
) -> Callable[[], dict[str, Any]]:
    oidc = broker_clients("sso-oidc")
    return lambda: dict(
        oidc.create_token_with_iam(
            clientId=provisioned.application_arn, grantType=JWT_BEARER, assertion=login("alice")
        )
    )


def _refused(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response["Error"]
    return str(error["Code"]), str(error.get("Message", ""))


def test_chain_vends_credentials_for_a_user_set_up_through_the_api(
    broker_clients: Callable[[str], Any],
    make_session: Any,
    client_for: Callable[..., Any],
    provisioned: Provisioned,
    config: dict[str, Any],
    login: Callable[[str], str],
) -> None:
    answer = data_access(
        broker_clients,
        lambda creds: lambda service: client_for(make_session(creds), service),
        provisioned,
        config["account_id"],
        login("alice"),
        "s3://demo-data/users/alice/*",
    )

    assert answer["Grantee"]["GranteeIdentifier"] == provisioned.user_id


def test_a_disabled_application_is_refused_as_an_invalid_client(
    sso: Any, provisioned: Provisioned, exchange: Callable[[], dict[str, Any]]
) -> None:
    sso.update_application(ApplicationArn=provisioned.application_arn, Status="DISABLED")
    try:
        assert _refused(exchange) == ("InvalidClientException", "The application is disabled")
    finally:
        sso.update_application(ApplicationArn=provisioned.application_arn, Status="ENABLED")
    assert exchange()["idToken"]


def test_an_application_without_the_jwt_bearer_grant_refuses_the_exchange(
    sso: Any, provisioned: Provisioned, config: dict[str, Any], exchange: Callable[[], dict[str, Any]]
) -> None:
    sso.delete_application_grant(ApplicationArn=provisioned.application_arn, GrantType=JWT_BEARER)
    try:
        assert _refused(exchange)[0] == "UnauthorizedClientException"
    finally:
        grant = jwt_bearer_grant(provisioned.issuer_arn, config["cognito"]["client_id"])
        sso.put_application_grant(
            ApplicationArn=provisioned.application_arn, GrantType=JWT_BEARER, Grant=grant
        )
    assert exchange()["idToken"]


def test_the_grant_must_authorize_an_issuer_whose_url_is_the_tokens_iss(
    sso: Any, provisioned: Provisioned, config: dict[str, Any], exchange: Callable[[], dict[str, Any]]
) -> None:
    other = sso.create_trusted_token_issuer(
        InstanceArn=provisioned.instance_arn,
        Name="elsewhere",
        TrustedTokenIssuerType="OIDC_JWT",
        TrustedTokenIssuerConfiguration={
            "OidcJwtConfiguration": {
                "IssuerUrl": "https://idp.example.com",
                "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
            }
        },
    )["TrustedTokenIssuerArn"]
    audience = config["cognito"]["client_id"]
    app = provisioned.application_arn
    sso.put_application_grant(
        ApplicationArn=app, GrantType=JWT_BEARER, Grant=jwt_bearer_grant(other, audience)
    )
    try:
        assert _refused(exchange) == (
            "InvalidGrantException",
            "The token issuer is not trusted by the application",
        )
    finally:
        grant = jwt_bearer_grant(provisioned.issuer_arn, audience)
        sso.put_application_grant(ApplicationArn=app, GrantType=JWT_BEARER, Grant=grant)
        sso.delete_trusted_token_issuer(TrustedTokenIssuerArn=other)
    assert exchange()["idToken"]


def test_the_grant_must_authorize_the_tokens_audience(
    sso: Any, provisioned: Provisioned, config: dict[str, Any], exchange: Callable[[], dict[str, Any]]
) -> None:
    app = provisioned.application_arn
    wrong = jwt_bearer_grant(provisioned.issuer_arn, "another-client")
    sso.put_application_grant(ApplicationArn=app, GrantType=JWT_BEARER, Grant=wrong)
    try:
        assert _refused(exchange) == ("InvalidGrantException", "The token audience is not authorized")
    finally:
        right = jwt_bearer_grant(provisioned.issuer_arn, config["cognito"]["client_id"])
        sso.put_application_grant(ApplicationArn=app, GrantType=JWT_BEARER, Grant=right)
    assert exchange()["idToken"]


def test_refresh_needs_the_refresh_token_grant(
    sso: Any,
    provisioned: Provisioned,
    broker_clients: Callable[[str], Any],
    exchange: Callable[[], dict[str, Any]],
) -> None:
    refresh_token = exchange()["refreshToken"]
    oidc = broker_clients("sso-oidc")
    app = provisioned.application_arn

    def refresh() -> Any:
        return oidc.create_token_with_iam(clientId=app, grantType="refresh_token", refreshToken=refresh_token)

    sso.delete_application_grant(ApplicationArn=app, GrantType="refresh_token")
    try:
        assert _refused(refresh)[0] == "UnauthorizedClientException"
    finally:
        sso.put_application_grant(ApplicationArn=app, GrantType="refresh_token", Grant={"RefreshToken": {}})
    assert refresh()["accessToken"]


def test_the_caller_must_be_allowed_by_the_actor_policy(
    sso: Any, provisioned: Provisioned, config: dict[str, Any], exchange: Callable[[], dict[str, Any]]
) -> None:
    app = provisioned.application_arn

    def set_actors(*principals: str) -> None:
        sso.put_application_authentication_method(
            ApplicationArn=app,
            AuthenticationMethodType="IAM",
            AuthenticationMethod={"Iam": {"ActorPolicy": actor_policy(*principals)}},
        )

    set_actors(f"arn:aws:iam::{config['account_id']}:user/emulator-admin")
    try:
        denied = _refused(exchange)
        sso.delete_application_authentication_method(ApplicationArn=app, AuthenticationMethodType="IAM")
        without_method = _refused(exchange)
    finally:
        set_actors(provisioned.broker_arn)

    expected = ("AccessDeniedException", "The caller is not allowed by the application's ActorPolicy")
    assert denied == without_method == expected
    assert exchange()["idToken"]


def test_the_claim_mapping_must_find_exactly_one_identity_store_user(
    sso: Any,
    admin_clients: Callable[[str], Any],
    provisioned: Provisioned,
    exchange: Callable[[], dict[str, Any]],
) -> None:
    def mapping(claim: str, attribute: str) -> None:
        sso.update_trusted_token_issuer(
            TrustedTokenIssuerArn=provisioned.issuer_arn,
            TrustedTokenIssuerConfiguration={
                "OidcJwtConfiguration": {"ClaimAttributePath": claim, "IdentityStoreAttributePath": attribute}
            },
        )

    mapping("email", "userName")  # alice's email is no identity-store user name
    try:
        no_user = _refused(exchange)
        mapping("preferred_username", "userName")
        by_user_name = exchange()
    finally:
        mapping("email", "emails.value")
    ids = admin_clients("identitystore")
    twin = ids.create_user(
        IdentityStoreId=provisioned.identity_store_id,
        UserName="alice-twin",
        DisplayName="Twin",
        Name={"GivenName": "Alice", "FamilyName": "Twin"},
        Emails=[{"Value": "alice@example.com", "Primary": True}],
    )["UserId"]
    try:
        two_users = _refused(exchange)
    finally:
        ids.delete_user(IdentityStoreId=provisioned.identity_store_id, UserId=twin)

    assert no_user == two_users == ("InvalidGrantException", "The token does not map to exactly one user")
    assert by_user_name["idToken"]
    assert exchange()["idToken"]


def test_assignment_required_refuses_an_unassigned_user_with_a_bare_access_denied(
    sso: Any, provisioned: Provisioned, exchange: Callable[[], dict[str, Any]]
) -> None:
    app = provisioned.application_arn
    group = {"PrincipalId": provisioned.group_id, "PrincipalType": "GROUP"}
    user = {"PrincipalId": provisioned.user_id, "PrincipalType": "USER"}
    sso.delete_application_assignment(ApplicationArn=app, **group)
    try:
        unassigned = _refused(exchange)
        sso.create_application_assignment(ApplicationArn=app, **user)
        directly_assigned = exchange()
        sso.delete_application_assignment(ApplicationArn=app, **user)
        sso.put_application_assignment_configuration(ApplicationArn=app, AssignmentRequired=False)
        not_required = exchange()
    finally:
        sso.put_application_assignment_configuration(ApplicationArn=app, AssignmentRequired=True)
        sso.create_application_assignment(ApplicationArn=app, **group)

    assert unassigned == ("AccessDeniedException", "")
    assert directly_assigned["idToken"]
    assert not_required["idToken"]
    assert exchange()["idToken"]  # assigned through the group again


def test_refresh_is_refused_once_the_user_is_no_longer_assigned(
    sso: Any,
    provisioned: Provisioned,
    broker_clients: Callable[[str], Any],
    exchange: Callable[[], dict[str, Any]],
) -> None:
    refresh_token = exchange()["refreshToken"]
    app = provisioned.application_arn
    group = {"PrincipalId": provisioned.group_id, "PrincipalType": "GROUP"}
    oidc = broker_clients("sso-oidc")
    sso.delete_application_assignment(ApplicationArn=app, **group)
    try:
        refused = _refused(
            lambda: oidc.create_token_with_iam(
                clientId=app, grantType="refresh_token", refreshToken=refresh_token
            )
        )
    finally:
        sso.create_application_assignment(ApplicationArn=app, **group)

    assert refused == ("AccessDeniedException", "")


def test_a_deleted_application_is_an_unknown_client(
    sso: Any, provisioned: Provisioned, broker_clients: Callable[[str], Any], login: Callable[[str], str]
) -> None:
    app = sso.create_application(
        InstanceArn=provisioned.instance_arn,
        ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/custom",
        Name="short-lived",
    )["ApplicationArn"]
    sso.delete_application(ApplicationArn=app)
    oidc = broker_clients("sso-oidc")

    refused = _refused(
        lambda: oidc.create_token_with_iam(clientId=app, grantType=JWT_BEARER, assertion=login("alice"))
    )

    assert refused[0] == "InvalidClientException"
