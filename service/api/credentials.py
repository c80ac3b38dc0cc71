"""POST /v1/credentials: scoped S3 credentials as JSON or in the AWS CLI credential_process shape."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from service.api.dependencies import CallerDep, ServicesDep
from service.api.hot_route import hot_post
from service.api.responses import UPSTREAM, SerializedBodies, problems
from service.api.schemas import (
    CredentialProcessResponse,
    CredentialsRequest,
    CredentialsResponse,
    GranteeResponse,
)
from service.domain.access import DataAccess, DataAccessRequest, S3Target

router = APIRouter(prefix="/v1", tags=["credentials"])


@hot_post(
    router,
    "/credentials",
    operation_id="getCredentials",
    response_model=CredentialsResponse | CredentialProcessResponse,
    responses=problems(*UPSTREAM),
    summary="Get S3 credentials scoped by S3 Access Grants",
)
async def issue_credentials(
    body: CredentialsRequest,
    caller: CallerDep,
    services: ServicesDep,
    format: Literal["json", "credential_process"] = "json",
) -> Response:
    """Return credentials for ``target``; ``?format=credential_process`` answers in the AWS CLI shape."""
    broker = services.broker
    request = DataAccessRequest(
        target=S3Target.parse(body.target),
        permission=body.permission,
        duration_seconds=body.duration_seconds or broker.policy.data_access_duration_seconds,
        privilege=body.privilege,
    )
    issued = await broker.issue_credentials(caller, request)
    services.metrics.count_issued(issued.layer)
    return _BODIES.response((issued.access, issued.region or services.region, format), services.answers_kept)


Answer = tuple[DataAccess, str, str]  # what an answer is rendered from: the access, its region, the format


def _render(answer: Answer) -> CredentialsResponse | CredentialProcessResponse:
    access, region, shape = answer
    credentials = access.credentials
    if shape == "credential_process":
        return CredentialProcessResponse(
            AccessKeyId=credentials.access_key_id,
            SecretAccessKey=credentials.secret_access_key,
            SessionToken=credentials.session_token,
            Expiration=credentials.expiration,
        )
    return CredentialsResponse(
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        session_token=credentials.session_token,
        expiration=credentials.expiration,
        matched_grant_target=access.matched_grant_target,
        grantee=GranteeResponse(type=access.grantee.type, identifier=access.grantee.identifier),
        region=region,
    )


# A cached credential is served many times until it is renewed: its answer is serialized once.
# One entry per (credential, format) recently served, about 1 KiB each (BROKER_ACTIVE_USERS bounds them).
_BODIES = SerializedBodies(_render)
