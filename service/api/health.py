"""GET /healthz, /readyz and /metrics: liveness, readiness with per-check detail, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from service.api.dependencies import ServicesDep
from service.api.responses import LIMITED, problems
from service.api.schemas import DoctorCheckResponse, HealthResponse, ReadinessResponse
from service.doctor.readiness import CHECKING, readiness_state
from service.domain.ports import TokenVerifier
from service.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])
# "checking": the first AWS configuration run is still going; only a known blocking FAIL makes it unready.
READY_STATES = frozenset({"ok", "stale", CHECKING})


def _jwks_state(verifier: TokenVerifier) -> str:
    if not verifier.keys_loaded:
        return "not loaded"
    return "stale" if verifier.keys_stale else "ok"


@router.get(
    "/healthz",
    operation_id="getHealth",
    response_model=HealthResponse,
    responses=problems(*LIMITED),
    summary="Liveness",
)
async def healthz() -> HealthResponse:
    """Return 200 while the process serves requests."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    operation_id="getReadiness",
    summary="Readiness, with the state of each check",
    response_model=ReadinessResponse,
    responses={**problems(*LIMITED), 503: {"model": ReadinessResponse, "description": "not ready"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """Return 200 when the cache answers, the issuer's keys are loaded and the configuration is complete.

    A key set whose last refresh failed is reported 'stale' and stays ready: its keys still verify tokens.
    ``aws`` is the doctor's configuration checks (run at most once a minute): not ready only when one the
    broker cannot serve without fails; a read AWS refused the broker is a WARN and stays ready.
    From the stop signal on, ``shutdown: draining`` makes it 503 so load balancers stop sending.
    """
    checks = {
        "cache": "ok" if await services.store.ping() else "unreachable",
        "jwks": _jwks_state(services.verifier),
        "configuration": "ok"
        if not services.configuration_problems
        else "; ".join(services.configuration_problems),
    }
    doctor = None
    if services.doctor is not None and not services.configuration_problems:
        found = await services.doctor()
        checks["aws"] = readiness_state(found)
        doctor = [DoctorCheckResponse(id=check.id, status=check.status.value) for check in found or ()]
    if services.drain.draining:
        checks["shutdown"] = "draining"
    ready = all(value in READY_STATES for value in checks.values())
    body = ReadinessResponse(status="ready" if ready else "not ready", checks=checks, doctor=doctor)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    operation_id="getMetrics",
    response_class=PlainTextResponse,
    responses=problems(*LIMITED, 503),
    summary="Prometheus metrics",
)
async def metrics(services: ServicesDep) -> Response:
    """Return the broker's metrics in the Prometheus text format (every worker's, under --workers N)."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)
