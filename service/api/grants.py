"""GET /v1/grants: the S3 Access Grants the caller may use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.dependencies import CallerDep, ServicesDep
from service.api.responses import UPSTREAM, problems
from service.api.schemas import GrantResponse, GrantsResponse
from service.domain.errors import InvalidRequestError

router = APIRouter(prefix="/v1", tags=["grants"])


@router.get(
    "/grants",
    operation_id="listGrants",
    response_model=GrantsResponse,
    responses=problems(*UPSTREAM),
    summary="List the S3 Access Grants the caller may use",
)
async def list_grants(
    caller: CallerDep,
    services: ServicesDep,
    prefix: Annotated[str | None, Query(max_length=2000, examples=["s3://demo-data/"])] = None,
) -> GrantsResponse:
    """Return the caller's grants, optionally only those whose scope contains ``prefix``."""
    if prefix is not None and not prefix.startswith("s3://"):
        raise InvalidRequestError("prefix must start with s3://")
    grants = await services.broker.list_grants(caller, prefix)
    return GrantsResponse(
        grants=[
            GrantResponse(
                grant_scope=g.grant_scope, permission=g.permission, application_arn=g.application_arn
            )
            for g in grants
        ]
    )
