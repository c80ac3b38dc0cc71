"""JwksTokenVerifier against a real local HTTP server serving a JWKS; one test per policy branch."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from service.adapters.oidc import JwksTokenVerifier, OidcPolicy
from service.adapters.oidc import verifier as oidc
from service.domain.errors import InvalidTokenError, UpstreamUnavailableError
from tests.jwks import (
    ATTACKER_KEY,
    CLIENT_ID,
    DROP,
    EC_KEY,
    ISSUER,
    KEY_1,
    KEY_2,
    LEEWAY,
    NOW,
    FakeClock,
    JwksServer,
    b64,
    claims,
    rsa_key,
    sign,
    unsigned,
)

# -- tampered tokens ------------------------------------------------------------------------------------


def hs256_with_public_key() -> str:
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}))}.{b64(json.dumps(claims()))}"
    mac = hmac.new(KEY_1.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tamper_payload() -> str:
    header, _, signature = sign().split(".")
    return f"{header}.{b64(json.dumps(claims(sub='someone-else')))}.{signature}"


def tamper_signature() -> str:
    header, payload, signature = sign().split(".")
    flipped = "A" if signature[10] != "A" else "B"
    return f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}"


# -- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer([KEY_1, EC_KEY])
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Plain HTTP on loopback: skipping the CA bundle load saves ~80 ms per test.
    async with httpx.AsyncClient(trust_env=False, verify=False) as client:  # noqa: S501 - http:// only
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeVerifier = Callable[..., JwksTokenVerifier]


@pytest.fixture
async def make_verifier(
    jwks_server: JwksServer, http: httpx.AsyncClient, clock: FakeClock
) -> AsyncIterator[MakeVerifier]:
    created: list[JwksTokenVerifier] = []

    def make(**policy_overrides: Any) -> JwksTokenVerifier:
        policy = OidcPolicy(
            issuer=ISSUER,
            audiences=frozenset({CLIENT_ID, "another-client"}),
            jwks_url=jwks_server.url,
            token_use="id",
            leeway_seconds=LEEWAY,
        )
        verifier = JwksTokenVerifier(replace(policy, **policy_overrides), http, clock)
        created.append(verifier)
        return verifier

    yield make
    for verifier in created:
        await verifier.aclose()


@pytest.fixture
async def verifier(make_verifier: MakeVerifier) -> JwksTokenVerifier:
    loaded = make_verifier()
    await loaded.load()
    assert loaded.keys_loaded
    return loaded


# -- rejected tokens ------------------------------------------------------------------------------------

REJECTED: list[tuple[str, Callable[[], str], str]] = [
    (
        "alg_none",
        lambda: unsigned({"alg": "none", "kid": "k1"}, signature="AAAA"),
        "algorithm is not allowed",
    ),
    ("alg_none_empty_signature", lambda: unsigned({"alg": "none", "kid": "k1"}), "three base64url segments"),
    ("hs256_signed_with_public_key", hs256_with_public_key, "algorithm is not allowed"),
    ("alg_rs512_not_allowed", lambda: sign(alg="RS512"), "algorithm is not allowed"),
    ("alg_missing", lambda: unsigned({"kid": "k1"}, signature="AAAA"), "algorithm is not allowed"),
    ("expired_beyond_leeway", lambda: sign(claims(exp=int(NOW) - LEEWAY - 1)), "expired"),
    ("nbf_in_future", lambda: sign(claims(nbf=int(NOW) + LEEWAY + 60)), "not valid yet"),
    ("iat_in_future", lambda: sign(claims(iat=int(NOW) + LEEWAY + 60)), "issued in the future"),
    ("exp_missing", lambda: sign(claims(exp=DROP)), "no expiry"),
    ("exp_not_numeric", lambda: sign(claims(exp="tomorrow")), "'exp' is not a number"),
    ("exp_boolean", lambda: sign(claims(exp=True)), "'exp' is not a number"),
    (
        "exp_infinite",
        lambda: sign(json.dumps(claims()).replace('"exp": ', '"exp": Infinity, "x": ').encode()),
        "payload is not a JSON object",
    ),
    # exp 1e400 parses as inf (it raised OverflowError, a 500); 1e308 was accepted and exchanged.
    (
        "exp_overflowing",
        lambda: sign(json.dumps(claims()).replace('"exp": ', '"exp": 1e400, "x": ').encode()),
        "out of range",
    ),
    ("exp_huge", lambda: sign(claims(exp=1e308)), "out of range"),
    (
        "exp_5000_digits",
        lambda: sign(json.dumps(claims()).replace('"exp": ', '"exp": ' + "9" * 5000 + ', "x": ').encode()),
        "payload is not a JSON object",
    ),
    ("exp_negative", lambda: sign(claims(exp=-1)), "out of range"),
    ("exp_years_ahead", lambda: sign(claims(exp=int(NOW) + 10 * 86400)), "expires more than"),
    (
        "iat_nan",
        lambda: sign(json.dumps(claims()).replace('"iat": ', '"iat": 1e999, "y": ').encode()),
        "out of range",
    ),
    (
        "lifetime_too_long",
        lambda: sign(claims(iat=int(NOW) - 86400 * 2, exp=int(NOW) + 3600)),
        "lives longer",
    ),
    ("iat_missing", lambda: sign(claims(iat=DROP)), "no issue time"),
    ("iat_not_numeric", lambda: sign(claims(iat="yesterday")), "'iat' is not a number"),
    ("iss_wrong", lambda: sign(claims(iss="https://evil.example.com")), "issuer"),
    ("iss_trailing_slash", lambda: sign(claims(iss=ISSUER + "/")), "issuer"),
    ("iss_missing", lambda: sign(claims(iss=DROP)), "issuer"),
    ("aud_wrong", lambda: sign(claims(aud="someone-elses-client")), "audience"),
    ("aud_list_without_ours", lambda: sign(claims(aud=["x-client", "y-client"])), "audience"),
    ("aud_list_with_non_string", lambda: sign(claims(aud=[CLIENT_ID, 7])), "audience"),
    ("access_token", lambda: sign(claims(token_use="access", aud=DROP, client_id=CLIENT_ID)), "audience"),
    ("token_use_access_with_aud", lambda: sign(claims(token_use="access")), "token_use"),
    ("token_use_missing", lambda: sign(claims(token_use=DROP)), "token_use"),
    ("jti_missing", lambda: sign(claims(jti=DROP)), "'jti' is missing"),
    ("sub_missing", lambda: sign(claims(sub=DROP)), "'sub' is missing"),
    ("sub_empty", lambda: sign(claims(sub="")), "'sub' is missing"),
    ("kid_unknown", lambda: sign(key=rsa_key("two", "never-published")), "unknown key"),
    ("kid_missing", lambda: sign(headers={}), "key id"),
    ("kid_not_string", lambda: sign(headers={"kid": 1}), "key id"),
    ("crit_header", lambda: sign(headers={"kid": "k1", "crit": ["exp"]}), "critical"),
    (
        "rs256_header_on_ec_key",
        lambda: sign(key=KEY_1, headers={"kid": "e1"}),
        "does not match",
    ),
    ("payload_tampered", tamper_payload, "signature is invalid"),
    ("signature_tampered", tamper_signature, "signature is invalid"),
    ("other_key_same_kid", lambda: sign(key=ATTACKER_KEY), "signature is invalid"),
    ("oversized", lambda: sign(claims(padding="x" * 20_000)), "larger than"),
    ("garbage", lambda: "this is not a token", "three base64url segments"),
    ("two_segments", lambda: ".".join(sign().split(".")[:2]), "three base64url segments"),
    ("four_segments", lambda: sign() + ".AAAA", "three base64url segments"),
    ("empty_string", lambda: "", "missing"),
    ("header_not_json", lambda: f"{b64('{not json')}.{b64('{}')}.AAAA", "header is not valid JSON"),
    ("header_not_object", lambda: unsigned('["RS256"]', signature="AAAA"), "header is not a JSON object"),
    (
        "header_too_large",
        lambda: unsigned({"alg": "RS256", "kid": "k" * 2000}, signature="AAAA"),
        "too large",
    ),
    ("header_deeply_nested", lambda: f"{b64('[' * 1500)}.{b64('{}')}.AAAA", "header is not valid JSON"),
    ("payload_not_object", lambda: sign(b'["not", "an", "object"]'), "payload is not a JSON object"),
    ("payload_not_json", lambda: sign(b"not json at all"), "payload is not a JSON object"),
]


@pytest.mark.parametrize(
    ("make_token", "detail"), [pytest.param(make, detail, id=name) for name, make, detail in REJECTED]
)
async def test_verifier_rejects_token(
    verifier: JwksTokenVerifier, make_token: Callable[[], str], detail: str
) -> None:
    token = make_token()

    with pytest.raises(InvalidTokenError, match=detail) as raised:
        await verifier.verify(token)

    assert raised.value.status == 401
    assert raised.value.code == "invalid_token"
    if token:
        assert token not in raised.value.detail


async def test_verifier_rejects_es256_token_when_algorithm_not_allowed(verifier: JwksTokenVerifier) -> None:
    with pytest.raises(InvalidTokenError, match="algorithm is not allowed"):
        await verifier.verify(sign(key=EC_KEY))


def test_policy_refuses_symmetric_algorithm() -> None:
    with pytest.raises(ValueError, match="subset"):
        OidcPolicy(ISSUER, frozenset({CLIENT_ID}), "http://x", "id", algorithms=frozenset({"RS256", "HS256"}))


# -- accepted tokens ------------------------------------------------------------------------------------


async def test_verifier_returns_caller_when_token_valid(verifier: JwksTokenVerifier) -> None:
    token = sign()

    caller = await verifier.verify(token)

    assert caller.issuer == ISSUER
    assert caller.subject == "6f1d6a2e-5a3b-4c55-9a8e-0c1b2d3e4f50"
    assert caller.username == "alice"
    assert caller.token_id == "0e2a3c4d-token-id"
    assert caller.expires_at == int(NOW) + 3600
    assert caller.token == token


@pytest.mark.parametrize(
    ("overrides", "username"),
    [
        pytest.param({"cognito:username": DROP, "username": "bob"}, "bob", id="username"),
        pytest.param({"cognito:username": DROP, "preferred_username": "carol"}, "carol", id="preferred"),
        pytest.param({"cognito:username": DROP}, "alice@example.com", id="email"),
        pytest.param({"cognito:username": DROP, "email": DROP}, None, id="none"),
    ],
)
async def test_verifier_falls_back_to_other_username_claims(
    verifier: JwksTokenVerifier, overrides: dict[str, Any], username: str | None
) -> None:
    caller = await verifier.verify(sign(claims(**overrides)))

    assert caller.username == username


async def test_verifier_accepts_audience_list_when_one_matches(verifier: JwksTokenVerifier) -> None:
    caller = await verifier.verify(sign(claims(aud=["x-client", CLIENT_ID])))

    assert caller.subject


async def test_verifier_accepts_expired_token_when_within_leeway(verifier: JwksTokenVerifier) -> None:
    caller = await verifier.verify(sign(claims(exp=int(NOW) - LEEWAY + 5)))

    assert caller.expires_at == int(NOW) - LEEWAY + 5


async def test_verifier_accepts_future_iat_and_nbf_when_within_leeway(verifier: JwksTokenVerifier) -> None:
    caller = await verifier.verify(sign(claims(iat=int(NOW) + 30, nbf=int(NOW) + 30)))

    assert caller.subject


async def test_verifier_skips_token_use_check_when_policy_disables_it(make_verifier: MakeVerifier) -> None:
    verifier = make_verifier(token_use=None)

    caller = await verifier.verify(sign(claims(token_use=DROP)))

    assert caller.subject


async def test_verifier_accepts_es256_token_when_algorithm_allowed(make_verifier: MakeVerifier) -> None:
    verifier = make_verifier(algorithms=frozenset({"RS256", "ES256"}))

    caller = await verifier.verify(sign(key=EC_KEY))

    assert caller.username == "alice"


# -- key set: rotation, cooldown, coalescing, outages ------------------------------------------------------


async def test_verifier_picks_up_rotated_key_with_one_refetch(
    verifier: JwksTokenVerifier, jwks_server: JwksServer, clock: FakeClock
) -> None:
    jwks_server.serve([KEY_1, KEY_2])
    clock.now += verifier.policy.refetch_cooldown_seconds

    await verifier.verify(sign(key=KEY_2))
    await verifier.verify(sign(claims(jti="second"), key=KEY_2))

    assert jwks_server.hits == 2


async def test_verifier_refetches_once_when_unknown_kid_repeats_within_cooldown(
    verifier: JwksTokenVerifier, jwks_server: JwksServer, clock: FakeClock
) -> None:
    unknown = rsa_key("two", "unpublished")
    clock.now += verifier.policy.refetch_cooldown_seconds

    for jti in ("first", "second"):
        clock.now += 1
        with pytest.raises(InvalidTokenError, match="unknown key"):
            await verifier.verify(sign(claims(jti=jti), key=unknown))

    assert jwks_server.hits == 2


async def test_verifier_refetches_again_when_cooldown_has_passed(
    verifier: JwksTokenVerifier, jwks_server: JwksServer, clock: FakeClock
) -> None:
    clock.now += verifier.policy.refetch_cooldown_seconds
    with pytest.raises(InvalidTokenError):
        await verifier.verify(sign(key=KEY_2))
    jwks_server.serve([KEY_1, KEY_2])
    clock.now += verifier.policy.refetch_cooldown_seconds

    await verifier.verify(sign(key=KEY_2))

    assert jwks_server.hits == 3


async def test_verifier_coalesces_concurrent_refetches_when_kid_unknown(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    # No cooldown: only coalescing can keep the twenty callers to a single fetch.
    verifier = make_verifier(refetch_cooldown_seconds=0)
    await verifier.load()
    jwks_server.serve([KEY_1, KEY_2])
    jwks_server.delay_seconds = 0.2
    tokens = [sign(claims(jti=f"jti-{n}"), key=KEY_2) for n in range(20)]

    callers = await asyncio.gather(*(verifier.verify(token) for token in tokens))

    assert [caller.token_id for caller in callers] == [f"jti-{n}" for n in range(20)]
    assert jwks_server.hits == 2


async def test_verifier_keeps_serving_last_good_keys_when_issuer_down(
    verifier: JwksTokenVerifier, jwks_server: JwksServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    jwks_server.stop()
    clock.now += verifier.policy.refetch_cooldown_seconds
    caplog.set_level(logging.INFO, logger="service.oidc")

    with pytest.raises(UpstreamUnavailableError):
        await verifier.verify(sign(key=KEY_2))
    caller = await verifier.verify(sign())

    assert caller.subject
    assert verifier.keys_stale
    assert "jwks.refresh_failed" in [record.getMessage() for record in caplog.records]


async def test_verifier_answers_503_for_a_new_kid_while_the_issuer_is_down(
    verifier: JwksTokenVerifier, jwks_server: JwksServer, clock: FakeClock
) -> None:
    # A new kid may be a genuine rotation the broker could not read yet: not the caller's fault.
    jwks_server.status = 500
    clock.now += verifier.policy.refetch_cooldown_seconds

    for jti in ("first", "within-cooldown-of-the-failed-fetch"):
        clock.now += 1
        with pytest.raises(UpstreamUnavailableError) as raised:
            await verifier.verify(sign(claims(jti=jti), key=KEY_2))
        assert raised.value.retry_after_seconds >= 1

    jwks_server.status = 200
    jwks_server.serve([KEY_1, KEY_2])
    clock.now += 1  # still within the cooldown of the last (failed) fetch: it must not hold the refetch
    caller = await verifier.verify(sign(claims(jti="after-recovery"), key=KEY_2))

    assert caller.token_id == "after-recovery"
    assert not verifier.keys_stale
    assert jwks_server.hits == 4


async def test_verifier_answers_401_when_kid_stays_unknown_after_a_fresh_fetch(
    verifier: JwksTokenVerifier, jwks_server: JwksServer, clock: FakeClock
) -> None:
    clock.now += verifier.policy.refetch_cooldown_seconds

    with pytest.raises(InvalidTokenError, match="unknown key"):
        await verifier.verify(sign(key=rsa_key("two", "never-published")))

    assert jwks_server.hits == 2
    assert not verifier.keys_stale


async def test_verifier_recovers_at_the_next_request_when_started_while_issuer_down(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    jwks_server.status = 500
    verifier = make_verifier()
    await verifier.load()
    assert not verifier.keys_loaded
    jwks_server.status = 200

    caller = await verifier.verify(sign())  # same instant as the failed start-up fetch

    assert caller.subject
    assert verifier.keys_loaded
    assert not verifier.keys_stale


async def test_verifier_keeps_serving_last_good_keys_when_issuer_answers_500(
    verifier: JwksTokenVerifier, jwks_server: JwksServer, clock: FakeClock
) -> None:
    jwks_server.status = 500
    clock.now += verifier.policy.jwks_max_age_seconds

    await verifier.verify(sign())
    await verifier.load()  # joins the refresh the verification started
    caller = await verifier.verify(sign(claims(jti="after-failed-refresh")))

    assert caller.token_id == "after-failed-refresh"
    assert verifier.stats.jwks_refresh_failures == 1
    assert jwks_server.hits == 2


async def test_verifier_raises_upstream_unavailable_when_keys_never_loaded(
    make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    jwks_server.stop()
    verifier = make_verifier()
    await verifier.load()

    with pytest.raises(UpstreamUnavailableError) as raised:
        await verifier.verify(sign())

    assert not verifier.keys_loaded
    assert raised.value.status == 503
    assert raised.value.retry_after_seconds >= 1


async def test_verifier_refreshes_keys_in_background_when_older_than_max_age(
    verifier: JwksTokenVerifier, jwks_server: JwksServer, clock: FakeClock
) -> None:
    jwks_server.serve([KEY_1, KEY_2])
    clock.now += verifier.policy.jwks_max_age_seconds

    await verifier.verify(sign())
    await verifier.load()  # joins the refresh the verification started
    assert jwks_server.hits == 2
    caller = await verifier.verify(sign(key=KEY_2))

    assert caller.subject
    assert jwks_server.hits == 2


async def test_verifier_forgets_cached_tokens_when_their_key_is_removed(
    verifier: JwksTokenVerifier, jwks_server: JwksServer
) -> None:
    token = sign()
    await verifier.verify(token)
    jwks_server.serve([KEY_2])

    await verifier.load()

    with pytest.raises(InvalidTokenError, match="unknown key"):
        await verifier.verify(token)


# -- verified-token cache -----------------------------------------------------------------------------------


async def test_verifier_checks_signature_once_when_same_token_verified_twice(
    verifier: JwksTokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = oidc.verify_jws_signature

    def counting(token: str, key: Any, algorithm: str) -> bytes:
        calls.append(algorithm)
        return real(token, key, algorithm)

    monkeypatch.setattr(oidc, "verify_jws_signature", counting)
    token = sign()

    first = await verifier.verify(token)
    second = await verifier.verify(token)

    assert second == first
    assert calls == ["RS256"]
    assert verifier.stats.cache_hits == 1


async def test_verifier_rejects_cached_token_when_clock_passes_exp(
    verifier: JwksTokenVerifier, clock: FakeClock
) -> None:
    token = sign(claims(exp=int(NOW) + 120))
    await verifier.verify(token)
    clock.now = NOW + 120 + LEEWAY

    with pytest.raises(InvalidTokenError, match="expired"):
        await verifier.verify(token)

    assert verifier.stats.signature_verifications == 1


async def test_verifier_evicts_oldest_cached_token_when_cache_full(
    jwks_server: JwksServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    policy = OidcPolicy(ISSUER, frozenset({CLIENT_ID}), jwks_server.url, "id")
    verifier = JwksTokenVerifier(policy, http, clock, cache_max_entries=2)
    first, second, third = (sign(claims(jti=f"jti-{n}")) for n in range(3))

    for token in (first, second, third, third, first):
        await verifier.verify(token)

    assert verifier.stats.signature_verifications == 4
    assert verifier.stats.cache_hits == 1


# -- logging ---------------------------------------------------------------------------------------------


async def test_verifier_never_logs_the_token_when_rejecting(
    make_verifier: MakeVerifier, jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = make_verifier(refetch_cooldown_seconds=0)  # every unknown kid reaches the failing fetch
    await verifier.load()
    jwks_server.status = 500
    tokens = [token for token in (make() for _, make, _ in REJECTED) if token]
    caplog.set_level(logging.DEBUG)

    rejected = 0
    for token in tokens:
        # An unknown kid while the key set cannot be fetched is 503, not the token's fault.
        with pytest.raises((InvalidTokenError, UpstreamUnavailableError)) as raised:
            await verifier.verify(token)
        rejected += isinstance(raised.value, InvalidTokenError)

    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("token.rejected") == rejected
    assert "jwks.refresh_failed" in messages
    for record in caplog.records:
        rendered = repr(record.__dict__)
        for token in tokens:
            assert token not in rendered
            signature = token.rsplit(".", 1)[-1]
            assert len(signature) < 20 or signature not in rendered


# -- identity binding: the claim Identity Center maps must be there, and verified when it is an email ------


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        pytest.param({"email_verified": False}, "not verified", id="email_unverified"),
        pytest.param({"email_verified": "false"}, "not verified", id="email_unverified_string"),
        pytest.param({}, "not verified", id="email_verified_missing"),
        pytest.param({"email": DROP, "email_verified": True}, "no 'email' claim", id="email_missing"),
    ],
)
async def test_verifier_refuses_unverified_mapping_email(
    make_verifier: MakeVerifier, extra: dict[str, Any], detail: str
) -> None:
    verifier = make_verifier(mapping_claim="email")
    with pytest.raises(InvalidTokenError, match=detail):
        await verifier.verify(sign(claims(**extra)))


@pytest.mark.parametrize("verified", [True, "true"])
async def test_verifier_accepts_verified_mapping_email(make_verifier: MakeVerifier, verified: object) -> None:
    verifier = make_verifier(mapping_claim="email")
    caller = await verifier.verify(sign(claims(email_verified=verified)))
    assert caller.issued_at == int(NOW)


async def test_verifier_accepts_unverified_email_when_check_disabled(make_verifier: MakeVerifier) -> None:
    verifier = make_verifier(mapping_claim="email", require_email_verified=False)
    await verifier.verify(sign(claims(email_verified=False)))


async def test_verifier_requires_a_nested_mapping_claim(make_verifier: MakeVerifier) -> None:
    verifier = make_verifier(mapping_claim="custom.employee_id")
    await verifier.verify(sign(claims(custom={"employee_id": "e-17"})))
    with pytest.raises(InvalidTokenError, match=r"no 'custom\.employee_id' claim"):
        await verifier.verify(sign(claims(jti="other")))
