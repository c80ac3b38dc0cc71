"""GET /healthz, /readyz and /metrics: liveness, readiness with per-check detail, Prometheus counters."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from service.api.dependencies import ServicesDep
from service.api.responses import LIMITED, problems
from service.api.schemas import HealthResponse, ReadinessResponse
from service.domain.ports import TokenVerifier

router = APIRouter(tags=["operations"])
READY_STATES = frozenset({"ok", "stale"})


def _jwks_state(verifier: TokenVerifier) -> str:
    if not verifier.keys_loaded:
        return "not loaded"
    return "stale" if verifier.keys_stale else "ok"


@router.get("/healthz", response_model=HealthResponse, responses=problems(*LIMITED))
async def healthz() -> HealthResponse:
    """Return 200 while the process serves requests."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    responses={**problems(*LIMITED), 503: {"model": ReadinessResponse, "description": "not ready"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """Return 200 when the cache answers, the issuer's keys are loaded and the configuration is complete.

    A key set whose last refresh failed is reported 'stale' and stays ready: its keys still verify tokens.
    From the stop signal on, ``shutdown: draining`` makes it 503 so load balancers stop sending.
    """
    checks = {
        "cache": "ok" if await services.store.ping() else "unreachable",
        "jwks": _jwks_state(services.verifier),
        "configuration": "ok"
        if not services.configuration_problems
        else "; ".join(services.configuration_problems),
    }
    if services.drain.draining:
        checks["shutdown"] = "draining"
    ready = all(value in READY_STATES for value in checks.values())
    body = ReadinessResponse(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse, responses=problems(*LIMITED, 503))
async def metrics(services: ServicesDep) -> PlainTextResponse:
    """Return the broker's counters in the Prometheus text format."""
    return PlainTextResponse(services.metrics.render(), media_type="text/plain; version=0.0.4")
