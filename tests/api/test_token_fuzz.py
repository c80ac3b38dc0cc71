"""Any Authorization header through the real JwksTokenVerifier and a real JWKS server: 200 or 401, no 500."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from service.adapters.memory_cache import MemoryCache
from service.adapters.oidc import JwksTokenVerifier, OidcPolicy
from service.adapters.s3_presigner import SigV4Presigner
from service.app import Adapters, create_app
from service.domain.access import Permission
from tests import fakes
from tests.api.conftest import broker_settings
from tests.jwks import (
    CLIENT_ID,
    DROP,
    EC_KEY,
    ISSUER,
    KEY_1,
    LEEWAY,
    NOW,
    FakeClock,
    JwksServer,
    claims,
    sign,
)

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Harness:
    """One app whose verifier fetches its keys from a loopback JWKS server, driven on one event loop."""

    runner: asyncio.Runner
    client: httpx.AsyncClient
    jwks: JwksServer

    def get_me(self, authorization: bytes) -> httpx.Response:
        return self.runner.run(self.client.get("/v1/me", headers={b"authorization": authorization}))


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    jwks = JwksServer([KEY_1, EC_KEY])
    clock = fakes.FakeClock(datetime.fromtimestamp(NOW, UTC))
    assumer = fakes.FakeRoleAssumer(clock)
    with asyncio.Runner() as runner:
        http = httpx.AsyncClient(trust_env=False, timeout=5)
        policy = OidcPolicy(
            issuer=ISSUER,
            audiences=frozenset({CLIENT_ID}),
            jwks_url=jwks.url,
            token_use="id",
            leeway_seconds=LEEWAY,
        )
        verifier = JwksTokenVerifier(policy, http, FakeClock())
        adapters = Adapters(
            verifier=verifier,
            exchanger=fakes.FakeIdentityExchanger(refresh_enabled=True),
            assumer=assumer,
            vendor=fakes.FakeDataAccessVendor(
                clock, assumer, grants=[fakes.FakeGrant("s3://data/users/alice/*", Permission.READ, "ctx")]
            ),
            cache=MemoryCache(wall_clock=lambda: NOW),
            signer=SigV4Presigner("us-east-1"),
            clock=clock,
            cache_key=os.urandom(32),
        )
        app = create_app(broker_settings(oidc_issuer=ISSUER, oidc_audience=[CLIENT_ID]), adapters)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        runner.run(verifier.load())
        assert verifier.keys_loaded
        try:
            yield Harness(runner, client, jwks)
        finally:
            runner.run(client.aclose())
            runner.run(verifier.aclose())
            runner.run(http.aclose())
            jwks.stop()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- what a client may put in the header ------------------------------------------------------------------

header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=120
)
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and ±Infinity too: json.dumps writes them as bare words
    st.text(max_size=24),
)
json_values = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
numbers = st.one_of(
    st.integers(int(NOW) - 3 * 86400, int(NOW) + 3 * 86400),
    st.floats(NOW - 86400, NOW + 86400),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64 + 1, 10**400, -(10**400), 1e308, 5e-324]),
)
# Spliced into the payload as is: JSON that Python's json module reads as inf, NaN or a 5000-digit int.
number_literals = st.sampled_from(
    ["1e400", "-1e400", "NaN", "Infinity", "9" * 5000, "1E+2", "-0", "0.5e-400"]
)
CLAIM_NAMES = [
    "iss",
    "aud",
    "token_use",
    "sub",
    "jti",
    "cognito:username",
    "email",
    "email_verified",
    "auth_time",
    "iat",
    "exp",
    "nbf",
]
plausible = {
    "iss": st.sampled_from([ISSUER, ISSUER + "/", ISSUER.upper(), "", "https://evil.example/" + ISSUER]),
    "aud": st.sampled_from([CLIENT_ID, [CLIENT_ID], [CLIENT_ID, "other"], [], "other", CLIENT_ID + " "]),
    "token_use": st.sampled_from(["id", "access", "ID", ""]),
}
claim_values = st.one_of(st.just(DROP), json_values, numbers)
jtis = itertools.count()


@st.composite
def fuzzed_claims(draw: st.DrawFn) -> dict[str, Any]:
    """Valid claims with a few replaced (any JSON, out-of-range numbers, dropped) and a few added."""
    names = draw(st.lists(st.sampled_from(CLAIM_NAMES), max_size=4, unique=True))
    overrides: dict[str, Any] = {}
    for name in names:
        options = [claim_values, plausible[name]] if name in plausible else [claim_values]
        overrides[name] = draw(st.one_of(*options))
    # A fresh jti per token: a repeated one is a legitimate token_reused, not what this test is about.
    unique = f"fuzz-{next(jtis)}"
    jti = overrides.get("jti", unique)
    overrides["jti"] = f"{unique}-{jti}" if isinstance(jti, str) else jti
    extra = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3))
    return {**extra, **claims(**overrides)}


@st.composite
def signed_tokens(draw: st.DrawFn) -> str:
    """A token signed by the issuer's key whose claims are fuzzed, sometimes with raw number literals."""
    text = json.dumps(draw(fuzzed_claims()))
    if draw(st.booleans()):
        # A leading duplicate is overridden by the claim itself unless that claim was dropped.
        name = draw(st.sampled_from(["exp", "iat", "nbf", "auth_time"]))
        text = f'{{"{name}": {draw(number_literals)}, ' + text[1:] if text != "{}" else text
    return sign(text.encode())


segment_bytes = st.one_of(
    st.binary(max_size=60),
    st.builds(lambda value: json.dumps(value).encode(), json_values),
    st.builds(
        lambda alg, kid: json.dumps({"alg": alg, "kid": kid}).encode(),
        st.sampled_from(["RS256", "ES256", "HS256", "none", "RS512", "", None]),
        st.sampled_from(["k1", "e1", "unknown", "", None, 1]),
    ),
    st.builds(lambda value: json.dumps(value).encode(), fuzzed_claims()),
)
token_shaped = st.builds(
    lambda h, p, s: f"{_b64(h)}.{_b64(p)}.{_b64(s)}", segment_bytes, segment_bytes, st.binary(max_size=300)
)
garbage = st.text(
    st.characters(min_codepoint=33, max_codepoint=126) | st.sampled_from(".-_=+/"), min_size=1, max_size=200
)
authorization = st.one_of(
    header_text.map(lambda text: text.encode("latin-1")),
    garbage.map(lambda token: f"Bearer {token}".encode()),
    token_shaped.map(lambda token: f"Bearer {token}".encode()),
    signed_tokens().map(lambda token: f"Bearer {token}".encode()),
    signed_tokens().map(lambda token: f"bearer   {token}  ".encode()),
)


def _assert_refused_safely(response: httpx.Response, authorization: bytes) -> None:
    event(f"{response.status_code}: {response.json().get('detail', 'ok')[:40]}")
    assert response.status_code < 500, response.text
    token = authorization.decode("latin-1").strip().partition(" ")[2].strip()
    if len(token) >= 16:
        assert token not in response.text
    if response.status_code == 200:
        return
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_token", response.text
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@FUZZ
@given(authorization=authorization)
def test_real_verifier_answers_any_header_with_200_or_401_invalid_token(
    harness: Harness, authorization: bytes
) -> None:
    response = harness.get_me(authorization)

    _assert_refused_safely(response, authorization)


@FUZZ
@given(token=signed_tokens())
def test_real_verifier_never_fails_on_signed_tokens_with_fuzzed_claims(harness: Harness, token: str) -> None:
    authorization = f"Bearer {token}".encode()

    response = harness.get_me(authorization)

    _assert_refused_safely(response, authorization)


def test_real_verifier_accepts_the_unfuzzed_token(harness: Harness) -> None:
    # The property above would also hold for a broker that refuses everything.
    response = harness.get_me(f"Bearer {sign(claims(jti='plain'))}".encode())

    assert response.status_code == 200, response.text
    assert response.json()["username"] == "alice"
