"""IssuerRouter: tokens of several issuers, each verified with its own keys, audiences and application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from service.adapters.oidc import IssuerRouter, JwksTokenVerifier, OidcPolicy
from service.domain.errors import InvalidTokenError
from tests.adapters.test_oidc import CLIENT_ID, ISSUER, KEY_1, KEY_2, FakeClock, JwksServer, claims, sign

OTHER_ISSUER = "https://login.example.com/tenant"
OTHER_CLIENT = "other-client"
OTHER_APPLICATION = "arn:aws:sso::111122223333:application/ssoins-1111222233334444/apl-9999999999999999"


@pytest.fixture
def servers() -> Iterator[tuple[JwksServer, JwksServer]]:
    first, second = JwksServer([KEY_1]), JwksServer([KEY_2])
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
async def router(servers: tuple[JwksServer, JwksServer]) -> AsyncIterator[IssuerRouter]:
    async with httpx.AsyncClient(trust_env=False) as http:
        clock = FakeClock()
        cognito = OidcPolicy(ISSUER, frozenset({CLIENT_ID}), servers[0].url, "id")
        other = OidcPolicy(
            OTHER_ISSUER,
            frozenset({OTHER_CLIENT}),
            servers[1].url,
            None,
            mapping_claim="employee.id",
            application_arn=OTHER_APPLICATION,
        )
        built = IssuerRouter([JwksTokenVerifier(cognito, http, clock), JwksTokenVerifier(other, http, clock)])
        yield built
        await built.aclose()


def _other_token(**overrides: object) -> str:
    payload = claims(iss=OTHER_ISSUER, aud=OTHER_CLIENT, token_use=None, employee={"id": "E-42"})
    return sign({**payload, **overrides}, key=KEY_2)


async def test_router_verifies_each_issuer_with_its_own_keys_and_application(router: IssuerRouter) -> None:
    cognito = await router.verify(sign(claims(), key=KEY_1))
    other = await router.verify(_other_token())

    assert (cognito.issuer, cognito.application_arn) == (ISSUER, None)
    assert (other.issuer, other.application_arn) == (OTHER_ISSUER, OTHER_APPLICATION)
    assert router.keys_loaded


async def test_router_refuses_a_token_signed_with_another_issuers_key(router: IssuerRouter) -> None:
    with pytest.raises(InvalidTokenError):
        await router.verify(sign(claims(iss=OTHER_ISSUER, aud=OTHER_CLIENT), key=KEY_1))
    with pytest.raises(InvalidTokenError):
        await router.verify(_other_token(aud=CLIENT_ID))


async def test_router_refuses_unknown_issuer_before_fetching_any_key(
    router: IssuerRouter, servers: tuple[JwksServer, JwksServer]
) -> None:
    with pytest.raises(InvalidTokenError, match="issuer is not trusted"):
        await router.verify(sign(claims(iss="https://evil.example.com"), key=KEY_1))

    assert [server.hits for server in servers] == [0, 0]
    assert not router.keys_loaded


async def test_router_loads_every_issuers_keys(
    router: IssuerRouter, servers: tuple[JwksServer, JwksServer]
) -> None:
    await router.load()

    assert router.keys_loaded
    assert [server.hits for server in servers] == [1, 1]


def test_router_refuses_duplicate_or_no_issuers() -> None:
    http = httpx.AsyncClient()
    policy = OidcPolicy(ISSUER, frozenset({CLIENT_ID}), "https://keys.test/jwks.json", "id")
    with pytest.raises(ValueError, match="distinct"):
        IssuerRouter([JwksTokenVerifier(policy, http), JwksTokenVerifier(policy, http)])
    with pytest.raises(ValueError, match="at least one"):
        IssuerRouter([])


async def test_router_reads_a_verified_tokens_issuer_once(
    router: IssuerRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    unverified_issuer = router._unverified_issuer

    def counting(token: str) -> str:
        read.append(token)
        return unverified_issuer(token)

    monkeypatch.setattr(router, "_unverified_issuer", counting)
    token, refused = _other_token(), _other_token(aud=CLIENT_ID)
    for _ in range(3):
        assert (await router.verify(token)).issuer == OTHER_ISSUER
        with pytest.raises(InvalidTokenError):
            await router.verify(refused)
    assert read == [token, refused, refused, refused]  # a refused token is never remembered
