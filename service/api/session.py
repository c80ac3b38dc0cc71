"""GET /v1/me and DELETE /v1/session: who the caller is, and sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.dependencies import CallerDep, ServicesDep
from service.api.responses import AUTHENTICATED, UPSTREAM, problems
from service.api.schemas import MeResponse

router = APIRouter(prefix="/v1", tags=["session"])


@router.get(
    "/me",
    operation_id="getMe",
    response_model=MeResponse,
    responses=problems(*UPSTREAM),
    summary="Who the broker thinks the caller is",
)
async def whoami(caller: CallerDep, services: ServicesDep) -> MeResponse:
    """Return who the broker thinks the caller is, opening an identity session if needed."""
    session = await services.broker.whoami(caller)
    return MeResponse(
        issuer=caller.issuer,
        subject=caller.subject,
        username=caller.username,
        idc_user_id=session.idc_user_id,
        identity_store_arn=session.identity_store_arn,
        session_expiration=session.credentials.expiration,
    )


@router.delete(
    "/session",
    operation_id="signOut",
    status_code=204,
    responses=problems(*AUTHENTICATED),
    summary="Sign out everywhere: cached sessions and access die, older tokens are refused",
)
async def end_session(caller: CallerDep, services: ServicesDep) -> Response:
    """Drop every cached entry of the caller; the next call needs a new ID token if the old one was used."""
    await services.broker.end_session(caller)
    return Response(status_code=204)
