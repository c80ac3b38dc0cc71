"""The hosted UI's authorization-code flow with PKCE, driven over HTTP as a browser and an app would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from jose import jwt

from emulator.server import EmulatorServer
from tests.emulator.conftest import JWT_BEARER

REDIRECT = "http://127.0.0.1:53682/callback"
ORIGIN = "http://localhost:5173"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        yield client


@pytest.fixture
def authorize_params(config: dict[str, Any]) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": config["cognito"]["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "openid email profile",
        "state": "st-123",
        "code_challenge_method": "S256",
    }


def sign_in(
    http: httpx.Client, params: dict[str, str], username: str = "alice", password: str = ""
) -> httpx.Response:
    password = password or f"{username.capitalize()}-Passw0rd!"
    return http.post("/oauth2/authorize", params=params, data={"username": username, "password": password})


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def code_for(http: httpx.Client, params: dict[str, str], challenge: str, username: str = "alice") -> str:
    return redirect_query(sign_in(http, {**params, "code_challenge": challenge}, username))["code"]


def redeem(
    http: httpx.Client, config: dict[str, Any], code: str, verifier: str, **overrides: str
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": config["cognito"]["client_id"],
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **overrides,
    }
    return http.post("/oauth2/token", data=form)


def test_discovery_advertises_authorization_and_token_endpoints(
    http: httpx.Client, config: dict[str, Any]
) -> None:
    doc = http.get(f"/{config['cognito']['user_pool_id']}/.well-known/openid-configuration").json()

    assert doc["issuer"] == config["broker_env"]["BROKER_OIDC_ISSUER"]
    assert doc["authorization_endpoint"] == config["cognito"]["authorization_endpoint"]
    assert doc["token_endpoint"] == config["cognito"]["token_endpoint"]
    assert doc["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.parametrize("name", ["openid-configuration", "jwks.json"])
def test_well_known_answers_cors_for_any_origin(
    http: httpx.Client, config: dict[str, Any], name: str
) -> None:
    path = f"/{config['cognito']['user_pool_id']}/.well-known/{name}"

    got = http.get(path, headers={"Origin": ORIGIN})
    preflight = http.options(path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})

    assert got.status_code == 200
    assert got.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "GET" in preflight.headers["access-control-allow-methods"]


def test_well_known_of_unknown_pool_is_404(http: httpx.Client) -> None:
    assert http.get("/us-east-1_nosuchpool/.well-known/openid-configuration").status_code == 404


def test_authorize_shows_a_sign_in_form(http: httpx.Client, authorize_params: dict[str, str]) -> None:
    _, challenge = pkce_pair()

    page = http.get("/oauth2/authorize", params={**authorize_params, "code_challenge": challenge})

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'name="username"' in page.text
    assert 'name="password"' in page.text
    assert 'method="post"' in page.text


def test_authorize_code_flow_yields_the_same_tokens_as_login(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str], login: Any
) -> None:
    verifier, challenge = pkce_pair()
    query = redirect_query(sign_in(http, {**authorize_params, "code_challenge": challenge}))

    tokens = redeem(http, config, query["code"], verifier)

    assert query["state"] == "st-123"
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert set(body) == {"id_token", "access_token", "refresh_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer"
    assert tokens.headers["cache-control"] == "no-store"
    jwks = http.get(f"/{config['cognito']['user_pool_id']}/.well-known/jwks.json").json()
    claims = jwt.decode(
        body["id_token"], jwks, audience=config["cognito"]["client_id"], options={"verify_at_hash": False}
    )
    reference = jwt.get_unverified_claims(login("alice"))
    for claim in ("iss", "aud", "token_use", "email", "email_verified", "cognito:username", "sub"):
        assert claims[claim] == reference[claim], claim


def test_authorize_code_tokens_are_accepted_by_identity_center(
    http: httpx.Client,
    config: dict[str, Any],
    authorize_params: dict[str, str],
    broker: boto3.session.Session,
    client_for: Any,
) -> None:
    verifier, challenge = pkce_pair()
    id_token = redeem(http, config, code_for(http, authorize_params, challenge, "bob"), verifier).json()[
        "id_token"
    ]

    answer = client_for(broker, "sso-oidc").create_token_with_iam(
        clientId=config["broker_env"]["BROKER_IDC_APPLICATION_ARN"], grantType=JWT_BEARER, assertion=id_token
    )

    bob = next(u for u in config["users"] if u["username"] == "bob")
    assert jwt.get_unverified_claims(answer["idToken"])["sub"] == bob["idc_user_id"]


def test_authorize_with_a_wrong_password_shows_the_form_again(
    http: httpx.Client, authorize_params: dict[str, str]
) -> None:
    _, challenge = pkce_pair()

    page = sign_in(http, {**authorize_params, "code_challenge": challenge}, "alice", "wrong-password")

    assert page.status_code == 200
    assert "Incorrect username or password." in page.text
    assert "location" not in page.headers


def test_authorize_refuses_an_unknown_client_without_redirecting(
    http: httpx.Client, authorize_params: dict[str, str]
) -> None:
    _, challenge = pkce_pair()

    page = http.get(
        "/oauth2/authorize", params={**authorize_params, "client_id": "nope", "code_challenge": challenge}
    )

    assert page.status_code == 400
    assert "invalid_client" in page.text
    assert "location" not in page.headers


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://evil.example/callback", "http://127.0.0.1/no-port", "", "http://10.0.0.1:8080/cb"],
)
def test_authorize_refuses_an_unregistered_redirect_uri(
    http: httpx.Client, authorize_params: dict[str, str], redirect_uri: str
) -> None:
    _, challenge = pkce_pair()

    page = http.get(
        "/oauth2/authorize",
        params={**authorize_params, "redirect_uri": redirect_uri, "code_challenge": challenge},
    )

    assert page.status_code == 400
    assert "redirect_mismatch" in page.text
    assert "location" not in page.headers


def test_authorize_accepts_a_localhost_redirect(http: httpx.Client, authorize_params: dict[str, str]) -> None:
    _, challenge = pkce_pair()
    params = {**authorize_params, "redirect_uri": "http://localhost:5173/app/", "code_challenge": challenge}

    response = sign_in(http, params)

    assert response.status_code == 302
    assert response.headers["location"].startswith("http://localhost:5173/app/?code=")


def test_authorize_accepts_a_callback_url_of_the_app_client(
    http: httpx.Client,
    config: dict[str, Any],
    authorize_params: dict[str, str],
    admin: boto3.session.Session,
    client_for: Any,
) -> None:
    cognito = client_for(admin, "cognito-idp")
    pool, client_id = config["cognito"]["user_pool_id"], config["cognito"]["client_id"]
    _, challenge = pkce_pair()
    params = {
        **authorize_params,
        "redirect_uri": "https://app.example.com/callback",
        "code_challenge": challenge,
    }
    refused = http.get("/oauth2/authorize", params=params)
    cognito.update_user_pool_client(
        UserPoolId=pool,
        ClientId=client_id,
        CallbackURLs=["https://app.example.com/callback"],
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )
    try:
        response = sign_in(http, params)
    finally:
        cognito.update_user_pool_client(
            UserPoolId=pool,
            ClientId=client_id,
            CallbackURLs=[],
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )

    assert refused.status_code == 400
    assert response.status_code == 302
    assert response.headers["location"].startswith("https://app.example.com/callback?code=")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid admin:everything"}, "invalid_scope"),
    ],
)
def test_authorize_redirects_back_with_an_error_for_bad_pkce_or_type(
    http: httpx.Client, authorize_params: dict[str, str], change: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce_pair()
    params = {**authorize_params, "code_challenge": challenge, **change}

    query = redirect_query(
        http.get("/oauth2/authorize", params={k: v for k, v in params.items() if v is not None})
    )

    assert query["error"] == error
    assert query["state"] == "st-123"
    assert "code" not in query


def test_token_refuses_a_wrong_code_verifier(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str]
) -> None:
    verifier, challenge = pkce_pair()
    code = code_for(http, authorize_params, challenge)

    wrong = redeem(http, config, code, pkce_pair()[0])
    right_after = redeem(http, config, code, verifier)

    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert right_after.json()["error"] == "invalid_grant"  # the failed attempt used the code up


def test_token_refuses_a_missing_code_verifier(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str]
) -> None:
    _, challenge = pkce_pair()

    response = redeem(http, config, code_for(http, authorize_params, challenge), "")

    assert response.json()["error"] == "invalid_grant"


def test_token_refuses_a_reused_code(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str]
) -> None:
    verifier, challenge = pkce_pair()
    code = code_for(http, authorize_params, challenge)

    first = redeem(http, config, code, verifier)
    second = redeem(http, config, code, verifier)

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_token_refuses_a_different_redirect_uri(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str]
) -> None:
    verifier, challenge = pkce_pair()
    code = code_for(http, authorize_params, challenge)

    response = redeem(http, config, code, verifier, redirect_uri="http://127.0.0.1:53682/other")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_refuses_a_code_past_its_lifetime_on_the_emulator_clock(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str]
) -> None:
    verifier, challenge = pkce_pair()
    code = code_for(http, authorize_params, challenge)
    http.post("/_emulator/clock", json={"advance_seconds": 301}).raise_for_status()
    try:
        response = redeem(http, config, code, verifier)
    finally:
        http.post("/_emulator/clock", json={"offset_seconds": 0}).raise_for_status()

    assert response.json()["error"] == "invalid_grant"


def test_token_refuses_an_unknown_client(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str]
) -> None:
    verifier, challenge = pkce_pair()

    response = redeem(http, config, code_for(http, authorize_params, challenge), verifier, client_id="nope")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def test_token_refresh_grant_returns_new_tokens(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str]
) -> None:
    verifier, challenge = pkce_pair()
    first = redeem(http, config, code_for(http, authorize_params, challenge), verifier).json()

    refreshed = http.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": config["cognito"]["client_id"],
            "refresh_token": first["refresh_token"],
        },
    )

    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert set(body) == {"id_token", "access_token", "expires_in", "token_type"}
    assert body["id_token"] != first["id_token"]
    assert jwt.get_unverified_claims(body["id_token"])["email"] == "alice@example.com"


def test_token_refuses_an_unknown_refresh_token(http: httpx.Client, config: dict[str, Any]) -> None:
    response = http.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": config["cognito"]["client_id"],
            "refresh_token": "nope",
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"data": {"grant_type": "password", "client_id": "x"}}, "invalid_client"),
        ({"json": {"grant_type": "authorization_code"}}, "invalid_request"),
    ],
)
def test_token_refuses_bad_requests(http: httpx.Client, kwargs: dict[str, Any], error: str) -> None:
    response = http.post("/oauth2/token", **kwargs)

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_token_refuses_an_unsupported_grant_type(http: httpx.Client, config: dict[str, Any]) -> None:
    response = http.post(
        "/oauth2/token", data={"grant_type": "password", "client_id": config["cognito"]["client_id"]}
    )

    assert response.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_answers_cors_preflight_and_posts(
    http: httpx.Client, config: dict[str, Any], authorize_params: dict[str, str]
) -> None:
    preflight = http.options(
        "/oauth2/token",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    verifier, challenge = pkce_pair()
    code = code_for(http, authorize_params, challenge)
    form = {
        "grant_type": "authorization_code",
        "client_id": config["cognito"]["client_id"],
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    posted = http.post("/oauth2/token", data=form, headers={"Origin": ORIGIN})

    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type"
    assert posted.status_code == 200
    assert posted.headers["access-control-allow-origin"] == ORIGIN


def test_hosted_ui_calls_are_logged_without_codes(http: httpx.Client) -> None:
    calls = http.get("/_emulator/calls").json()

    operations = {c["operation"] for c in calls if c["service"] == "cognito-idp"}
    assert {"Authorize", "Token", "GetOpenIdConfiguration", "GetJwks"} <= operations
    assert not [c for c in calls if re.search(r"code=", str(c))]
