"""Composition root: create_app(settings, adapters=None) wires adapters to ports, routes and middleware."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.api import admin, credentials, grants, health, presign, session
from service.api.docs import install_docs
from service.api.error_handlers import install_error_handlers
from service.api.limits import Limits, LimitsMiddleware
from service.api.openapi import document_http_conventions
from service.api.shutdown import DrainMiddleware
from service.logs import configure_logging
from service.request_context import RequestContextMiddleware
from service.settings import Settings, load_settings
from service.wiring import Adapters, build_adapters, build_services, build_verifier, fit_session_duration

logger = logging.getLogger("service.app")

__all__ = [
    "Adapters",
    "build_adapters",
    "build_services",
    "build_verifier",
    "create_app",
    "fit_session_duration",
]


API_VERSION = "1.0.0"
# The standard OpenTelemetry variables naming where traces go; either one turns tracing on.
OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
UNVERIFIED_EMAIL_RISK = "a user who can set an unverified email address gets that address's S3 access"
# Container objects allocated (net) before the youngest generation is collected; CPython's default is 700.
# A 1000-key presign batch holds several thousand short-lived objects: at 700 they are collected, traversed
# and promoted mid-batch for nothing (about 5% of the batch); at this threshold they are freed before a
# collection sees them (bench/bench_gc.py measures both).
GC_YOUNG_THRESHOLD = 10_000


def create_app(settings: Settings, adapters: Adapters | None = None) -> FastAPI:
    """Build the FastAPI application; nothing connects until the lifespan starts."""
    adapters = adapters or build_adapters(settings)
    services, executor = build_services(settings, adapters)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        for start in adapters.on_start:
            await start()
        await fit_session_duration(services.broker, adapters.own_arn)
        await services.broker.open_ledger()
        # Everything loaded at start-up (modules, the app, clients) lives as long as the process: moved
        # out of the collector's reach, full collections under load stop walking it (the p99 tail).
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
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
    app.add_middleware(
        RequestContextMiddleware,
        metrics=services.metrics,
        hot_access_log_rate=settings.hot_access_log_rate,
    )
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
