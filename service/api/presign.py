"""POST /v1/presign, /batch, /post and /list: presigned URLs, browser upload forms and listings."""

from __future__ import annotations

from datetime import datetime

import orjson
from fastapi import APIRouter, Response
from pydantic import TypeAdapter

from service.api.dependencies import CallerDep, ServicesDep
from service.api.hot_route import hot_post
from service.api.responses import UPSTREAM, problems
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
from service.broker import ListItem, PostItem, PresignResult
from service.domain.errors import BrokerError

router = APIRouter(prefix="/v1/presign", tags=["presign"])


# How pydantic writes a datetime field, so these answers match PresignResponse's own JSON byte for byte.
_INSTANT = TypeAdapter(datetime)


class _Answers:
    """The JSON of presign answers, written from the broker's own typed values without a model per URL.

    They were validated when made: building and serializing a PresignResponse for each of a batch's 1000
    URLs costs as much as signing them. A batch's URLs share a few expiry instants, each formatted once.
    """

    __slots__ = ("_instants",)

    def __init__(self) -> None:
        self._instants: dict[datetime, str] = {}

    def url(self, result: PresignResult) -> dict[str, object]:
        """Return the fields of ``result``'s PresignResponse, in the model's order."""
        expires_at = self._instants.get(result.expires_at)
        if expires_at is None:
            expires_at = self._instants[result.expires_at] = _INSTANT.dump_python(
                result.expires_at, mode="json"
            )
        return {
            "url": result.presigned.url,
            "method": result.method,  # the request's validated method
            "expires_at": expires_at,
            "headers": result.presigned.headers,
        }


def _json(answer: object) -> Response:
    return Response(orjson.dumps(answer), media_type="application/json")


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
    (result,) = await services.broker.presign(caller, [body])  # the validated request is the order
    if isinstance(result, BrokerError):
        raise result
    services.metrics.count_presigned("url")
    return _json(_Answers().url(result))


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
    results = await services.broker.presign(caller, body.items)
    answers = _Answers()
    out: list[dict[str, object]] = []
    signed = 0
    for result in results:
        if isinstance(result, BrokerError):
            error = BatchItemErrorResponse(error=ItemErrorResponse(code=result.code, detail=result.detail))
            out.append(error.model_dump(mode="json"))
        else:
            out.append(answers.url(result))
            signed += 1
    services.metrics.count_presigned("url", signed)
    return _json({"results": out})


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
