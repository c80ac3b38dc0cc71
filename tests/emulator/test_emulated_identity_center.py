"""sso-oidc CreateTokenWithIAM against the emulator: trusted token issuer rules and error shapes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import ItemsView
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jose import jwt
from jose.backends import cryptography_backend
from moto.identitystore.models import identitystore_backends

from emulator.idc_keys import SigningKey
from emulator.identity_center import find_users
from emulator.jti_replay import first_use
from emulator.server import EmulatorServer
from service.adapters.aws_errors import MessageMatch, match_message

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def oidc(broker: Any, client_for: Any) -> Any:
    return client_for(broker, "sso-oidc")


@pytest.fixture(scope="module")
def app_arn(config: dict[str, Any]) -> str:
    return str(config["broker_env"]["BROKER_IDC_APPLICATION_ARN"])


def _user(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(u for u in config["users"] if u["username"] == name)


def test_create_token_with_iam_returns_identity_context_matching_id_token(
    config: dict[str, Any], exchange: Any
) -> None:
    resp = exchange("alice")

    claims = jwt.get_unverified_claims(resp["idToken"])
    assert resp["expiresIn"] == 3600
    assert resp["tokenType"] == "Bearer"
    assert claims["sub"] == _user(config, "alice")["idc_user_id"]
    assert claims["sts:identity_context"] == resp["awsAdditionalDetails"]["identityContext"]
    assert claims["aws:application_arn"] == config["broker_env"]["BROKER_IDC_APPLICATION_ARN"]
    assert claims["aws:identity_store_arn"].startswith("arn:aws:identitystore::111122223333:identitystore/d-")
    assert resp["refreshToken"]


def test_create_token_with_iam_rejects_replayed_jti(oidc: Any, app_arn: str, login: Any) -> None:
    token = login("bob")
    oidc.create_token_with_iam(clientId=app_arn, grantType=JWT_BEARER, assertion=token)

    with pytest.raises(oidc.exceptions.InvalidGrantException) as err:
        oidc.create_token_with_iam(clientId=app_arn, grantType=JWT_BEARER, assertion=token)

    assert err.value.response["error"] == "invalid_grant"


def test_create_token_with_iam_rejects_unauthorized_audience(
    oidc: Any, app_arn: str, admin: Any, client_for: Any, config: dict[str, Any]
) -> None:
    idp = client_for(admin, "cognito-idp")
    other = idp.create_user_pool_client(UserPoolId=config["cognito"]["user_pool_id"], ClientName="other-app")
    auth = idp.initiate_auth(
        ClientId=other["UserPoolClient"]["ClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": _user(config, "alice")["password"]},
    )

    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token_with_iam(
            clientId=app_arn, grantType=JWT_BEARER, assertion=auth["AuthenticationResult"]["IdToken"]
        )


def test_create_token_with_iam_rejects_tampered_signature(oidc: Any, app_arn: str, login: Any) -> None:
    header, payload, signature = login("alice").split(".")
    tampered = f"{header}.{payload}.{signature[:-6]}AAAAAA"

    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token_with_iam(clientId=app_arn, grantType=JWT_BEARER, assertion=tampered)


def test_create_token_with_iam_rejects_unknown_client_id(oidc: Any, app_arn: str, login: Any) -> None:
    with pytest.raises(oidc.exceptions.InvalidClientException) as err:
        oidc.create_token_with_iam(
            clientId=app_arn[:-4] + "0000", grantType=JWT_BEARER, assertion=login("alice")
        )

    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401


def test_create_token_with_iam_denies_caller_outside_actor_policy(
    admin: Any, client_for: Any, app_arn: str, login: Any
) -> None:
    oidc = client_for(admin, "sso-oidc")

    with pytest.raises(oidc.exceptions.AccessDeniedException):
        oidc.create_token_with_iam(clientId=app_arn, grantType=JWT_BEARER, assertion=login("alice"))


def test_create_token_with_iam_rejects_wrong_sigv4_secret(
    make_session: Any, client_for: Any, config: dict[str, Any], app_arn: str, login: Any
) -> None:
    forged = make_session(config["broker_env"]["AWS_ACCESS_KEY_ID"], "not-the-secret")
    oidc = client_for(forged, "sso-oidc")

    with pytest.raises(oidc.exceptions.AccessDeniedException):
        oidc.create_token_with_iam(clientId=app_arn, grantType=JWT_BEARER, assertion=login("alice"))


def test_create_token_with_iam_refresh_token_grant_answers_like_aws_without_an_id_token(
    oidc: Any, app_arn: str, exchange: Any
) -> None:
    first = exchange("carol")

    refreshed = oidc.create_token_with_iam(
        clientId=app_arn, grantType="refresh_token", refreshToken=first["refreshToken"]
    )

    assert "idToken" not in refreshed
    assert {"accessToken", "tokenType", "expiresIn", "refreshToken", "issuedTokenType"} <= refreshed.keys()
    new_ctx = refreshed["awsAdditionalDetails"]["identityContext"]
    assert new_ctx != first["awsAdditionalDetails"]["identityContext"]


def test_create_token_with_iam_refresh_token_grant_can_leave_out_the_identity_context(
    oidc: Any, app_arn: str, exchange: Any, admin_api: Any
) -> None:
    first = exchange("carol")
    admin_api.call("POST", "/_emulator/application", {"refresh_identity_context": False})
    try:
        refreshed = oidc.create_token_with_iam(
            clientId=app_arn, grantType="refresh_token", refreshToken=first["refreshToken"]
        )
    finally:
        admin_api.call("POST", "/_emulator/application", {"refresh_identity_context": True})

    assert "idToken" not in refreshed
    assert "awsAdditionalDetails" not in refreshed
    assert refreshed["refreshToken"]


def test_create_token_with_iam_rejects_unknown_refresh_token(oidc: Any, app_arn: str) -> None:
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token_with_iam(clientId=app_arn, grantType="refresh_token", refreshToken="aor-unknown")


def test_create_token_with_iam_rejects_unsupported_grant_type(oidc: Any, app_arn: str) -> None:
    with pytest.raises(oidc.exceptions.UnsupportedGrantTypeException):
        oidc.create_token_with_iam(clientId=app_arn, grantType="authorization_code", code="x")


def test_create_token_with_iam_needs_the_callers_identity_policy(
    oidc: Any, app_arn: str, admin: Any, client_for: Any, config: dict[str, Any], login: Any
) -> None:
    iam = client_for(admin, "iam")
    name = "create-token-with-iam"
    document = iam.get_user_policy(UserName="tip-broker", PolicyName=name)["PolicyDocument"]
    text = document if isinstance(document, str) else json.dumps(document)
    iam.delete_user_policy(UserName="tip-broker", PolicyName=name)
    try:
        with pytest.raises(oidc.exceptions.AccessDeniedException) as err:
            oidc.create_token_with_iam(clientId=app_arn, grantType=JWT_BEARER, assertion=login("alice"))
        response = err.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert response["error"] == "access_denied"
        message = response["error_description"]
        assert message.startswith(
            f"User: arn:aws:iam::{config['account_id']}:user/tip-broker is not authorized to perform: "
        )
        assert match_message(err.value) == MessageMatch("iam_denied", "sso-oauth:CreateTokenWithIAM")
    finally:
        iam.put_user_policy(UserName="tip-broker", PolicyName=name, PolicyDocument=text)

    answer = oidc.create_token_with_iam(clientId=app_arn, grantType=JWT_BEARER, assertion=login("alice"))
    assert answer["awsAdditionalDetails"]["identityContext"]


def test_user_lookup_index_follows_creates_updates_and_deletes(
    emulator: EmulatorServer, admin: Any, client_for: Any
) -> None:
    # The index replaced a scan of every user per exchange; it must never answer from a stale table.
    state = emulator.state
    assert state is not None
    store_id = state.identity_center.identity_store_id
    directory = client_for(admin, "identitystore")
    assert find_users(state, "userName", "indexed") == []

    created = directory.create_user(
        IdentityStoreId=store_id,
        UserName="indexed",
        DisplayName="Indexed",
        Name={"GivenName": "In", "FamilyName": "Dexed"},
        Emails=[{"Value": "old@example.com", "Type": "work", "Primary": True}],
    )["UserId"]
    assert find_users(state, "userName", "indexed") == [created]
    assert find_users(state, "emails.value", "old@example.com") == [created]

    users = identitystore_backends[state.account_id][state.region].identity_stores[store_id].users
    users[created] = users[created]._replace(Emails=[{"Value": "new@example.com", "Primary": True}])
    assert find_users(state, "emails.value", "old@example.com") == []
    assert find_users(state, "emails.value", "new@example.com") == [created]

    directory.delete_user(IdentityStoreId=store_id, UserId=created)
    assert find_users(state, "userName", "indexed") == []
    assert find_users(state, "emails.value", "new@example.com") == []


def test_id_tokens_are_signed_without_parsing_the_key_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Parsing the PEM for every idToken capped CreateTokenWithIAM at ~25/s (bench/bench_emulator.py).
    key = SigningKey()
    public_pem = (
        serialization.load_pem_private_key(key.pem.encode(), None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the signing key was parsed again")

    monkeypatch.setattr(cryptography_backend, "load_pem_private_key", refuse)
    tokens = [key.sign({"sub": f"user-{n}"}) for n in range(2)]

    assert [jwt.get_unverified_header(t)["kid"] for t in tokens] == [key.kid, key.kid]
    assert [jwt.decode(t, public_pem.decode(), algorithms=["RS256"])["sub"] for t in tokens] == [
        "user-0",
        "user-1",
    ]


class _ScanCountingTable(dict[str, float]):
    """The replay table, counting the passes over all of it."""

    scans = 0

    def items(self) -> ItemsView[str, float]:
        self.scans += 1
        return super().items()


def test_an_exchange_does_not_pass_over_every_remembered_jti(emulator: EmulatorServer, exchange: Any) -> None:
    # Rebuilding the whole replay table per exchange made each one cost every token exchanged within
    # its lifetime (14 ms at 100,000 tokens).
    state = emulator.state
    assert state is not None
    exchange("alice")
    with state.lock:
        table = state.seen_jti = _ScanCountingTable(state.seen_jti)
    remembered = len(table)

    exchange("bob")

    assert state.seen_jti is table
    assert (table.scans, len(table)) == (0, remembered + 1)


def test_a_jti_is_remembered_until_its_token_expires(emulator: EmulatorServer) -> None:
    assert emulator.state is not None
    state = dataclasses.replace(emulator.state, seen_jti={}, seen_jti_expiries=[])
    assert first_use(state, "iss#early", 100.0, now=0.0)
    assert first_use(state, "iss#late", 300.0, now=0.0)
    assert not first_use(state, "iss#early", 100.0, now=99.0)

    assert first_use(state, "iss#new", 400.0, now=100.0)

    assert state.seen_jti == {"iss#late": 300.0, "iss#new": 400.0}
    assert not first_use(state, "iss#late", 300.0, now=299.0)
    assert first_use(state, "iss#early", 500.0, now=300.0)
    assert sorted(state.seen_jti) == ["iss#early", "iss#new"]
