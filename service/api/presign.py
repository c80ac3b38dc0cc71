"""POST /v1/presign, /batch, /post and /list: presigned URLs, browser upload forms and listings."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.dependencies import CallerDep, ServicesDep
from service.api.hot_route import hot_post
from service.api.responses import UPSTREAM, json_response, problems
from service.api.schemas import (
    BatchItemErrorResponse,
    BatchPresignRequest,
    BatchPresignResponse,
    ItemErrorResponse,
    PresignListRequest,
    PresignListResponse,
    PresignPostRequest,
    PresignPostResponse,
    PresignRequest,
    PresignResponse,
)
from service.broker import ListItem, PostItem, PresignItem, PresignResult
from service.domain.errors import BrokerError

router = APIRouter(prefix="/v1/presign", tags=["presign"])


def _item(body: PresignRequest) -> PresignItem:
    return PresignItem(
        bucket=body.bucket,
        key=body.key,
        method=body.method,
        expires_in=body.expires_in,
        content_type=body.content_type,
        content_disposition=body.content_disposition,
    )


def _response(result: PresignResult) -> PresignResponse:
    # Built from the broker's own typed values: validating them again would cost as much as signing.
    return PresignResponse.model_construct(
        url=result.presigned.url,
        method=result.method,  # the request's validated method
        expires_at=result.expires_at,
        headers=result.presigned.headers,
    )


@hot_post(
    router,
    "",
    operation_id="presignUrl",
    response_model=PresignResponse,
    responses=problems(*UPSTREAM),
    summary="Presign one S3 object operation",
)
async def create_presigned_url(body: PresignRequest, caller: CallerDep, services: ServicesDep) -> Response:
    """Return a SigV4 presigned URL; it stops working at ``expires_at``."""
    (result,) = await services.broker.presign(caller, [_item(body)])
    if isinstance(result, BrokerError):
        raise result
    services.metrics.count_presigned("url")
    return json_response(_response(result))


@hot_post(
    router,
    "/batch",
    operation_id="presignBatch",
    response_model=BatchPresignResponse,
    responses=problems(*UPSTREAM),
    summary="Presign up to 1000 S3 object operations",
)
async def create_presigned_urls(
    body: BatchPresignRequest, caller: CallerDep, services: ServicesDep
) -> Response:
    """Return one result per item in order; a denied item carries an error and does not fail the batch."""
    results = await services.broker.presign(caller, [_item(item) for item in body.items])
    out: list[PresignResponse | BatchItemErrorResponse] = []
    signed = 0
    for result in results:
        if isinstance(result, BrokerError):
            out.append(
                BatchItemErrorResponse(error=ItemErrorResponse(code=result.code, detail=result.detail))
            )
        else:
            out.append(_response(result))
            signed += 1
    services.metrics.count_presigned("url", signed)
    return json_response(BatchPresignResponse(results=out))


@router.post(
    "/post",
    operation_id="presignPost",
    response_model=PresignPostResponse,
    responses=problems(*UPSTREAM),
    summary="Presign a browser form upload (POST policy)",
)
async def create_presigned_post(
    body: PresignPostRequest, caller: CallerDep, services: ServicesDep
) -> PresignPostResponse:
    """Return the URL and form fields for an HTML form upload of one key or any key under a prefix."""
    result = await services.broker.presign_post(
        caller,
        PostItem(
            bucket=body.bucket,
            key=body.key,
            key_prefix=body.key_prefix,
            content_type=body.content_type,
            max_bytes=body.max_bytes,
            expires_in=body.expires_in,
        ),
    )
    services.metrics.count_presigned("post")
    return PresignPostResponse(
        url=result.presigned.url, fields=result.presigned.fields, expires_at=result.expires_at
    )


@router.post(
    "/list",
    operation_id="presignList",
    response_model=PresignListResponse,
    responses=problems(*UPSTREAM),
    summary="Presign a listing of the keys under a prefix (ListObjectsV2)",
)
async def create_presigned_listing(
    body: PresignListRequest, caller: CallerDep, services: ServicesDep
) -> PresignListResponse:
    """Return a presigned ListObjectsV2 URL; it needs READ on ``s3://bucket/prefix*``."""
    result = await services.broker.presign_list(
        caller,
        ListItem(
            bucket=body.bucket,
            prefix=body.prefix,
            delimiter=body.delimiter,
            max_keys=body.max_keys,
            continuation_token=body.continuation_token,
            expires_in=body.expires_in,
        ),
    )
    services.metrics.count_presigned("url")
    return PresignListResponse(url=result.presigned.url, method="GET", expires_at=result.expires_at)
