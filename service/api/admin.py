"""POST /admin/v1/revocations: the operator API, off unless BROKER_ADMIN_TOKEN is set (its bearer token)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from service.api.dependencies import ServicesDep
from service.api.responses import LIMITED, problems
from service.api.schemas import RevocationRequest, RevocationResponse
from service.domain.errors import InvalidTokenError, NotFoundError

router = APIRouter(prefix="/admin/v1", tags=["admin"])


async def require_operator(request: Request, services: ServicesDep) -> None:
    """Refuse unless the request carries the operator token (404 while the operator API is disabled)."""
    expected = services.admin_token
    if not expected:
        raise NotFoundError("the operator API is disabled: set BROKER_ADMIN_TOKEN to enable it")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise InvalidTokenError("send the operator token as 'Authorization: Bearer <BROKER_ADMIN_TOKEN>'")


OperatorDep = Annotated[None, Depends(require_operator)]


@router.post(
    "/revocations",
    operation_id="revoke",
    response_model=RevocationResponse,
    responses=problems(*LIMITED, 401, 404, 422, 503),
    summary="Revoke a user, a directory user, one token, or everyone",
)
async def revoke(body: RevocationRequest, _: OperatorDep, services: ServicesDep) -> RevocationResponse:
    """Revoke on every replica: cached sessions and access die, tokens issued before now are refused.

    Credentials and URLs already handed out stay valid until their own expiry: AWS cannot recall them.
    """
    broker = services.broker
    issuer = body.issuer or services.issuer
    if body.everyone:
        await broker.revoke_everyone()
        return RevocationResponse(revoked="everyone")
    if body.subject is not None:
        await broker.revoke_subject(issuer, body.subject, unpin=body.unpin)
        return RevocationResponse(revoked="subject", issuer=issuer, subject=body.subject)
    if body.token_id is not None:
        await broker.revoke_token(issuer, body.token_id)
        return RevocationResponse(revoked="token", issuer=issuer)
    assert body.idc_user_id is not None  # noqa: S101 - the request model admits exactly one selector
    owner = await broker.revoke_directory_user(body.idc_user_id)
    if owner is None:
        raise NotFoundError("no signed-in user is known for this Identity Center user id")
    return RevocationResponse(revoked="directory_user", issuer=owner[0], subject=owner[1])
