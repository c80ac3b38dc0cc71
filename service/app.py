"""Composition root: create_app(settings, adapters=None) wires adapters to ports, routes and middleware."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
from service.api import admin, credentials, grants, health, presign, session
from service.api.dependencies import Services
from service.api.docs import install_docs
from service.api.error_handlers import install_error_handlers, problem
from service.api.limits import Limits, LimitsMiddleware
from service.api.openapi import document_http_conventions
from service.api.shutdown import Drain, DrainMiddleware
from service.broker import Broker, BrokerPolicy
from service.doctor.configuration import configuration_run
from service.doctor.model import Check
from service.doctor.readiness import ReadinessDoctor
from service.domain.circuit_breaker import BreakerPolicy
from service.domain.errors import ProblemCode
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
from service.logs import configure_logging, request_id_var
from service.metrics import Metrics
from service.settings import Settings, load_settings
from service.thread_pool import DaemonThreadPool

logger = logging.getLogger("service.app")

API_VERSION = "1.0.0"

# Every answer is nosniff; /v1 answers carry credentials, URLs or who the caller is, so no cache keeps them.
NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
# The standard OpenTelemetry variables naming where traces go; either one turns tracing on.
OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
UNVERIFIED_EMAIL_RISK = "a user who can set an unverified email address gets that address's S3 access"


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
            )
            for entry in settings.issuers()
        ]
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
        else MemoryCache()
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


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID in and out) and safe caching headers, counts it and logs it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        started_response = False
        path: str = scope["path"]
        extra = (NOSNIFF, *NO_STORE) if path == "/v1" or path.startswith("/v1/") else (NOSNIFF,)

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *extra,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, inside the request's context, so even this body carries its request id.
            logger.exception("request.failed")
            if started_response:
                raise
            await problem(
                500, ProblemCode.INTERNAL_ERROR, "Internal error", "the broker failed unexpectedly"
            )(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(template, scope["method"], status, elapsed)
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "http.request",
                    extra={
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
            request_id_var.reset(token)


def create_app(settings: Settings, adapters: Adapters | None = None) -> FastAPI:
    """Build the FastAPI application; nothing connects until the lifespan starts."""
    adapters = adapters or build_adapters(settings)
    services, executor = build_services(settings, adapters)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        for start in adapters.on_start:
            await start()
        await fit_session_duration(services.broker, adapters.own_arn)
        # Everything loaded at start-up (modules, the app, clients) lives as long as the process: moved
        # out of the collector's reach, full collections under load stop walking it (the p99 tail).
        gc.collect()
        gc.freeze()
        logger.info("broker.started", extra={"cache": type(adapters.cache).__name__})
        for entry in settings.issuers():
            if entry.mapping_claim == "email" and not entry.require_email_verified:
                logger.warning(
                    "oidc.email_verification_disabled",
                    extra={
                        "issuer": entry.issuer,
                        "risk": UNVERIFIED_EMAIL_RISK,
                    },
                )
        try:
            with services.drain.watch_signals():
                yield {}
            # The server has cut what outlived the drain: let those 503s go out, then let work the cut
            # requests left behind settle the token ledger while the cache is still open.
            await services.drain.settled()
            await services.broker.abandon_pending_work()
        finally:
            for stop in adapters.on_stop:
                await stop()
            executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="tip-broker",
        version=API_VERSION,
        summary="OIDC ID token → IAM Identity Center trusted identity propagation → S3 Access Grants",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from bundled assets: no CDN
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    document_http_conventions(app)
    install_docs(app)
    for module in (credentials, presign, grants, session, health, admin):
        app.include_router(module.router)
    limits = Limits(
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
        max_concurrent_requests=settings.max_concurrent_requests,
    )
    # Added innermost first: RequestContext (request id, headers) wraps CORS, which wraps the drain's
    # answer to cut requests, which wraps the limits.
    app.add_middleware(LimitsMiddleware, limits=limits, authenticate=services.broker.authenticate)
    app.add_middleware(DrainMiddleware, drain=services.drain)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware, metrics=services.metrics)
    if tracing_requested():
        # Loaded only now: without an OTLP endpoint, no OpenTelemetry SDK or instrumentation is imported.
        from service.tracing import instrument  # noqa: PLC0415

        instrument(app)
    return app


def tracing_requested() -> bool:
    """Return whether OpenTelemetry traces are wanted (an OTLP endpoint is set, the SDK not disabled)."""
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled and any(os.environ.get(name) for name in OTLP_ENDPOINT_VARIABLES)


def create_app_from_env() -> FastAPI:
    """Build the app from the environment: the factory each `serve --workers N` worker process calls."""
    settings = load_settings()
    settings.check()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
