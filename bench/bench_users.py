"""Active users: warm credentials with 50,000 users spread over one replica vs 10 users, and memory per user.

The real app and its real in-process caches (``build_adapters`` with the settings' cache sizes), the real
token verifier against a loopback JWKS server, the in-process cache; only AWS is replaced by instant
in-bench answers, since the warm path never calls it. CPU time per request of this process, in interleaved
rounds (10 users, then every user in turn), so load elsewhere on the machine moves both alike.

``python -m bench.bench_users`` runs the row alone and exits 1 when the target is missed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.alone import run_alone
from bench.warm_asgi import _call
from emulator.state import new_secret
from emulator.sts import session_token
from service.app import create_app
from service.domain.access import DataAccess, DataAccessRequest, Grant, Grantee
from service.domain.cache_sizes import KIB_PER_ACTIVE_USER
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import TokenReusedError
from service.domain.identity import IdentityCenterToken, RenewedToken
from service.logs import configure_logging
from service.settings import Settings
from service.wiring import build_adapters
from tests.jwks import JwksServer, ec_key, sign

USERS = 50_000
FEW = 10
ROUNDS = 5
PER_ROUND = 5_000
TARGET = 0.9
ISSUER = "https://issuer.bench"
AUDIENCE = "bench-client"
KEY = ec_key("bench", "b1")  # ES256: 50,000 tokens are minted in seconds


class _IdentityCenter:
    """CreateTokenWithIAM: the token's ``sub`` is the directory user."""

    def exchange_jwt(self, assertion: str, application_arn: str | None = None) -> IdentityCenterToken:
        payload = assertion.split(".")[1]
        subject = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
        return IdentityCenterToken(f"idc-{subject}", None, f"ctx-{subject}", None, 3600)

    def refresh(self, refresh_token: str, application_arn: str | None = None) -> RenewedToken:
        raise TokenReusedError("no refresh tokens in this bench")


class _Aws:
    """AssumeRole and GetDataAccess: fresh credentials for whatever is asked."""

    def __init__(self) -> None:
        self._serial = itertools.count()

    def _credentials(self, seconds: int) -> TemporaryCredentials:
        # Shaped like AWS's (a 40-character secret, a session token of about a thousand characters), so
        # the memory per cached user is what real credentials cost.
        n = next(self._serial)
        expiration = datetime.now(UTC) + timedelta(seconds=seconds)
        return TemporaryCredentials(f"ASIABENCH{n:011d}", new_secret(), session_token(), expiration)

    def assume(self, identity_context: str, session_name: str, duration_seconds: int) -> TemporaryCredentials:
        return self._credentials(duration_seconds)

    def get_data_access(self, session: TemporaryCredentials, request: DataAccessRequest) -> DataAccess:
        grantee = Grantee("DIRECTORY_USER", session.access_key_id)
        return DataAccess(
            self._credentials(request.duration_seconds), request.target.uri, grantee, request.permission
        )

    def list_caller_grants(
        self, session: TemporaryCredentials, prefix: str | None, application_arn: str | None = None
    ) -> list[Grant]:
        return []


def _settings(jwks_url: str) -> Settings:
    return Settings(
        oidc_issuer=ISSUER,
        oidc_audience=[AUDIENCE],
        oidc_jwks_url=jwks_url,
        oidc_algorithms=["ES256"],
        oidc_mapping_claim="sub",
        idc_application_arn="arn:aws:sso::111122223333:application/ssoins-1111111111111111/apl-2222222222222222",
        identity_bearer_role_arn="arn:aws:iam::111122223333:role/bearer",
        access_grants_account_id="111122223333",
        aws_region="us-east-1",
        active_users=USERS,
        _env_file=None,
    )  # type: ignore[call-arg]


def _token(subject: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "token_use": "id", "sub": subject, "jti": f"jti-{subject}"}
    return sign({**claims, "iat": now, "auth_time": now, "exp": now + 3600}, key=KEY)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _round(app: Any, requests: list[tuple[str, bytes]]) -> float:
    started = time.process_time()
    for token, body in requests:
        status = await _call(app, "POST", "/v1/credentials", token, body)
        if status != 200:
            raise RuntimeError(f"POST /v1/credentials answered {status}")
    return (time.process_time() - started) / len(requests) * 1e6


async def _measure(settings: Settings) -> dict[str, Any]:
    aws = _Aws()
    adapters = dataclasses.replace(
        build_adapters(settings),
        exchanger=_IdentityCenter(),
        assumer=aws,
        vendor=aws,
        buckets=None,
        own_arn=None,
        doctor=None,
    )
    app = create_app(settings, adapters)
    async with app.router.lifespan_context(app):
        # Signed in after the broker started: a token issued before its ledger began would be refused.
        requests = [
            (_token(user), json.dumps({"target": f"s3://data/users/{user}/*", "permission": "READ"}).encode())
            for user in (f"user-{n:05d}" for n in range(USERS))
        ]
        few = requests[:FEW]
        await _round(app, few)  # warm: one cold request each
        rss_few = _rss_kib()
        await _round(app, requests[FEW:])
        rss_all = _rss_kib()
        spread = requests[:]
        random.Random(7).shuffle(spread)
        cycle = itertools.cycle(spread)
        rounds: dict[str, list[float]] = {"few": [], "all": []}
        for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits both alike
            rounds["few"].append(await _round(app, [few[n % FEW] for n in range(PER_ROUND)]))
            rounds["all"].append(await _round(app, list(itertools.islice(cycle, PER_ROUND))))
    return {
        "few_us": statistics.median(rounds["few"]),
        "all_us": statistics.median(rounds["all"]),
        "kib_per_user": (rss_all - rss_few) / (USERS - FEW),
    }


def run() -> list[dict[str, Any]]:
    """Return the active-users row."""
    configure_logging("json", "WARNING")
    jwks = JwksServer([KEY])
    try:
        started = time.monotonic()
        result = asyncio.run(_measure(_settings(jwks.url)))
    finally:
        jwks.stop()
    ratio = result["few_us"] / result["all_us"]
    within = result["kib_per_user"] <= KIB_PER_ACTIVE_USER  # the figure the chart and start-up rely on
    print(
        f" users: {result['few_us']:.1f} CPU µs/request with {FEW} users, "
        f"{result['all_us']:.1f} with {USERS}; "
        f"{result['kib_per_user']:.2f} KiB per cached user; {time.monotonic() - started:.0f} s"
    )
    return [
        {
            "name": f"warm_credentials_{USERS // 1000}k_active_users [memory cache]",
            "baseline": f"the same app, {FEW} users",
            "baseline_value": round(result["few_us"], 1),
            "ours_value": round(result["all_us"], 1),
            "unit": "CPU us/request",
            "ratio": round(ratio, 2),
            "target": (
                f">= {TARGET} (throughput ours/baseline = baseline/ours CPU), "
                f"memory <= {KIB_PER_ACTIVE_USER} KiB per user"
            ),
            "met": "yes" if ratio >= TARGET and within else "no",
            "note": (
                f"{USERS} users each signed in and served once, then {ROUNDS} interleaved rounds of "
                f"{PER_ROUND} POST /v1/credentials through the ASGI app: {FEW} users in turn vs every "
                f"user in a shuffled cycle; real app, caches sized by BROKER_ACTIVE_USERS={USERS}, "
                "real verifier "
                "(ES256) against a loopback JWKS, AWS answered in process; memory: VmRSS growth while "
                f"warming the users, {result['kib_per_user']:.2f} KiB per cached user with AWS-sized "
                "credentials (bench_users.py)"
            ),
        }
    ]


if __name__ == "__main__":
    sys.exit(run_alone(run))
