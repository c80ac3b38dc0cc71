"""Builds the adapters and the broker from settings: the composition root's half that knows outside systems.

``service.app.create_app`` calls ``build_adapters`` (unless a test passes its own) and ``build_services``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import httpx

from service.adapters.access_grants import S3ControlDataAccessVendor
from service.adapters.aws_clients import AwsClients
from service.adapters.aws_metrics import AwsCallTimer
from service.adapters.bucket_regions import BucketRegions
from service.adapters.cache_crypto import CacheSealer, KeyHasher
from service.adapters.clock import SystemClock
from service.adapters.credential_store import EncryptedCredentialStore
from service.adapters.grant_events import GrantEventsConsumer
from service.adapters.grants_instances import InstanceLocator
from service.adapters.identity_center import SsoOidcIdentityExchanger
from service.adapters.memory_cache import MemoryCache
from service.adapters.oidc import IssuerRouter, JwksTokenVerifier, OidcPolicy
from service.adapters.redis_cache import RedisCache
from service.adapters.s3_presigner import SigV4Presigner
from service.adapters.sts import StsRoleAssumer, caller_arn, session_duration_limit
from service.adapters.upstream_breakers import UpstreamBreakers
from service.api.dependencies import Services
from service.api.shutdown import Drain
from service.broker import Broker, BrokerPolicy
from service.doctor.configuration import configuration_run
from service.doctor.model import Check
from service.doctor.readiness import ReadinessDoctor
from service.domain.circuit_breaker import BreakerPolicy
from service.domain.ports import (
    BucketLocator,
    Cache,
    Clock,
    DataAccessVendor,
    IdentityExchanger,
    RoleAssumer,
    TokenVerifier,
    UrlSigner,
)
from service.metrics import Metrics
from service.settings import Settings
from service.thread_pool import DaemonThreadPool

logger = logging.getLogger("service.app")

logger = logging.getLogger("service.app")


@dataclass
class Adapters:
    """Everything outside the process the broker talks to; tests pass fakes or emulator-backed ones."""

    verifier: TokenVerifier
    exchanger: IdentityExchanger
    assumer: RoleAssumer
    vendor: DataAccessVendor
    cache: Cache
    signer: UrlSigner
    clock: Clock
    cache_key: bytes
    buckets: BucketLocator | None = None
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Returns the broker's own AWS identity ARN (GetCallerIdentity), read once at start; None: not checked.
    own_arn: Callable[[], str] | None = None
    # The doctor's configuration checks for /readyz (cached a minute); None: /readyz does not run them.
    doctor: Callable[[], Awaitable[list[Check] | None]] | None = None
    # What the adapters count into; the app exposes it at /metrics.
    metrics: Metrics = field(default_factory=Metrics)


def build_verifier(
    settings: Settings, http: httpx.AsyncClient, metrics: Metrics | None = None
) -> IssuerRouter:
    """Return the token verifier of every configured issuer (the broker's, reused by the doctor)."""
    return IssuerRouter(
        [
            JwksTokenVerifier(
                OidcPolicy(
                    issuer=entry.issuer,
                    audiences=frozenset(entry.audiences),
                    jwks_url=entry.keys_url,
                    token_use=entry.token_use or None,
                    leeway_seconds=settings.oidc_leeway_seconds,
                    algorithms=frozenset(settings.oidc_algorithms),
                    max_lifetime_seconds=settings.oidc_max_token_lifetime_seconds,
                    mapping_claim=entry.mapping_claim or None,
                    require_email_verified=entry.require_email_verified,
                    application_arn=entry.application_arn or None,
                ),
                http,
                metrics=metrics,
                cache_max_entries=settings.cache_sizes().verified_tokens,
            )
            for entry in settings.issuers()
        ],
        routed_tokens=settings.cache_sizes().routed_tokens,
    )


def build_adapters(settings: Settings) -> Adapters:
    """Build the real adapters from settings (no network I/O happens here)."""
    metrics = Metrics()
    timer = AwsCallTimer(metrics)
    http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
    verifier = build_verifier(settings, http, metrics)
    cache: Cache = (
        RedisCache.from_url(settings.redis_url, options=settings.redis_options())
        if settings.redis_url
        else MemoryCache(max_entries=settings.cache_sizes().memory_entries)
    )
    clients = AwsClients.build(
        settings.aws_region,
        settings.aws_endpoint_url,
        idc_region=settings.identity_center_region,
        timer=timer,
        breakers=UpstreamBreakers(
            BreakerPolicy(
                failures=settings.upstream_breaker_failures,
                window_seconds=settings.upstream_breaker_window_seconds,
                open_seconds=settings.upstream_breaker_open_seconds,
            ),
            metrics,
        ),
    )
    buckets = BucketRegions(lambda: clients.client("s3", settings.aws_region), settings.aws_region)
    locator = InstanceLocator(
        clients.s3control_in,
        clients.signed_as,
        buckets,
        caller_account_id=settings.broker_account_id,
        fallback_account_id=settings.access_grants_account_id,
    )
    key = settings.cache_key_bytes() or os.urandom(32)

    async def start() -> None:
        await verifier.load()

    async def stop() -> None:
        await verifier.aclose()
        await http.aclose()
        await cache.close()

    doctor = ReadinessDoctor(configuration_run(settings))
    on_start: list[Callable[[], Awaitable[None]]] = [start]
    on_stop: list[Callable[[], Awaitable[None]]] = [doctor.aclose, stop]
    if settings.grant_events_queue_url:
        # Only records the grants mark, which lives in the shared cache: any store over it will do.
        marks = EncryptedCredentialStore(cache, CacheSealer(key), KeyHasher(key))
        events = GrantEventsConsumer.build(
            settings.grant_events_queue_url,
            marks,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            wait_seconds=settings.grant_events_wait_seconds,
            timer=timer,
        )
        on_start.append(events.start)
        on_stop.insert(0, events.stop)  # before the cache closes

    return Adapters(
        verifier=verifier,
        exchanger=SsoOidcIdentityExchanger(clients.sso_oidc, settings.idc_application_arn),
        assumer=StsRoleAssumer(clients.sts, settings.identity_bearer_role_arn),
        vendor=S3ControlDataAccessVendor(
            clients.s3control,
            clients.signed_as,
            settings.access_grants_account_id,
            locator=locator,
            application_arn=settings.idc_application_arn,
        ),
        cache=cache,
        signer=SigV4Presigner(
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            addressing_style="path" if settings.aws_endpoint_url else "virtual",
            cached_identities=settings.cache_sizes().signing_identities,
        ),
        clock=SystemClock(),
        cache_key=key,
        buckets=buckets,
        on_start=on_start,
        on_stop=on_stop,
        own_arn=lambda: caller_arn(clients.sts),
        doctor=doctor.checks,
        metrics=metrics,
    )


def build_services(settings: Settings, adapters: Adapters) -> tuple[Services, DaemonThreadPool]:
    """Wire adapters into the broker and the services the routes use."""
    executor = DaemonThreadPool(max_workers=settings.aws_max_workers, thread_name_prefix="aws")
    metrics = adapters.metrics
    store = EncryptedCredentialStore(
        adapters.cache,
        CacheSealer(adapters.cache_key),
        KeyHasher(adapters.cache_key),
        metrics=metrics,
        layer="redis" if isinstance(adapters.cache, RedisCache) else "memory",
        sizes=settings.cache_sizes(),
    )
    broker = Broker(
        verifier=adapters.verifier,
        exchanger=adapters.exchanger,
        assumer=adapters.assumer,
        vendor=adapters.vendor,
        store=store,
        signer=adapters.signer,
        clock=adapters.clock,
        policy=BrokerPolicy(
            session_duration_seconds=settings.session_duration_seconds,
            data_access_duration_seconds=settings.data_access_duration_seconds,
            min_remaining_seconds=settings.min_remaining_seconds,
            denied_cache_seconds=settings.denied_cache_seconds,
            upstream_calls_per_minute=settings.upstream_calls_per_minute,
            requests_per_minute=settings.requests_per_minute,
        ),
        executor=executor,
        buckets=adapters.buckets,
        metrics=metrics,
    )
    services = Services(
        broker=broker,
        verifier=adapters.verifier,
        store=store,
        metrics=metrics,
        region=settings.aws_region,
        configuration_problems=tuple(f"{name} is required" for name in settings.missing()),
        issuer=next((entry.issuer for entry in settings.issuers()), settings.oidc_issuer),
        admin_token=settings.admin_token,
        doctor=adapters.doctor,
        drain=Drain(settings.shutdown_delay_seconds),
        answers_kept=settings.cache_sizes().serialized_answers,
    )
    return services, executor


async def fit_session_duration(broker: Broker, own_arn: Callable[[], str] | None) -> None:
    """Cap the identity session length at one hour when the broker itself runs on a role session.

    Assuming the identity-bearer role from a role session is role chaining, which AWS limits to one hour;
    asking for more would fail every sign-in.
    """
    if own_arn is None:
        return
    try:
        arn = await asyncio.to_thread(own_arn)
    except Exception as exc:  # a start-up probe: report it and keep the configured length
        logger.warning("sts.caller_identity_failed", extra={"error": type(exc).__name__})
        return
    configured = broker.policy.session_duration_seconds
    allowed = session_duration_limit(arn, configured)
    if allowed < configured:
        logger.warning(
            "session_duration.capped",
            extra={
                "configured_seconds": configured,
                "session_duration_seconds": allowed,
                "reason": "the broker runs on an assumed-role session, so AssumeRole is role chaining",
            },
        )
        broker.policy = replace(broker.policy, session_duration_seconds=allowed)
