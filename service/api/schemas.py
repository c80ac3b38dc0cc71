"""Wire models of the v1 API (the README's HTTP API table): every …Request and …Response lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from service.domain.access import Permission, Privilege, has_control_character
from service.domain.errors import ProblemCode

# S3 presigned URLs live at most 7 days (docs/aws.md#presigned-urls); GetDataAccess durations are 900–43200 s.
MAX_PRESIGN_SECONDS = 604800
MAX_BATCH_ITEMS = 1000

PresignMethod = Literal["GET", "PUT", "HEAD", "DELETE"]


def _no_control_characters(value: str | None) -> str | None:
    # These values become HTTP headers at S3: a CR or LF would let a client forge extra headers.
    if value is not None and has_control_character(value):
        raise ValueError("must not contain control characters")
    return value


ContentType = Annotated[str | None, Field(max_length=255), AfterValidator(_no_control_characters)]
ContentDisposition = Annotated[str | None, Field(max_length=1024), AfterValidator(_no_control_characters)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CredentialsRequest(_Strict):
    """Ask for S3 credentials covering one target."""

    target: Annotated[str, Field(min_length=6, max_length=2000, examples=["s3://demo-data/users/alice/*"])]
    permission: Permission
    duration_seconds: Annotated[int | None, Field(ge=900, le=43200)] = None
    privilege: Privilege = Privilege.DEFAULT


class GranteeResponse(BaseModel):
    """Who the matched grant belongs to."""

    type: str
    identifier: str


class CredentialsResponse(BaseModel):
    """Scoped S3 credentials vended by S3 Access Grants."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    matched_grant_target: str
    grantee: GranteeResponse
    region: str


class CredentialProcessResponse(BaseModel):
    """The AWS CLI ``credential_process`` output shape."""

    model_config = ConfigDict(populate_by_name=True)

    Version: int = 1
    AccessKeyId: str
    SecretAccessKey: str
    SessionToken: str
    Expiration: datetime


class PresignRequest(_Strict):
    """Presign one object operation."""

    bucket: Annotated[str, Field(min_length=3, max_length=63)]
    key: Annotated[str, Field(min_length=1, max_length=1024)]
    method: PresignMethod
    expires_in: Annotated[int, Field(ge=1, le=MAX_PRESIGN_SECONDS)] = 900
    content_type: ContentType = None
    content_disposition: ContentDisposition = None

    @model_validator(mode="after")
    def _delete_has_no_content(self) -> PresignRequest:
        if self.method == "DELETE" and (self.content_type or self.content_disposition):
            raise ValueError("DELETE takes no content_type or content_disposition")
        return self


class PresignResponse(BaseModel):
    """A presigned URL, the headers the client must send with it, and when it stops working."""

    url: str
    method: PresignMethod
    expires_at: datetime
    headers: dict[str, str]


class BatchPresignRequest(_Strict):
    """Presign up to 1000 object operations at once."""

    items: Annotated[list[PresignRequest], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


class ItemErrorResponse(BaseModel):
    """Why one batch item was not presigned."""

    code: ProblemCode
    detail: str


class BatchItemErrorResponse(BaseModel):
    """A failed batch item."""

    error: ItemErrorResponse


class BatchPresignResponse(BaseModel):
    """One result per item, in request order."""

    results: list[PresignResponse | BatchItemErrorResponse]


class PresignPostRequest(_Strict):
    """Presign a browser form upload for one key or any key under a prefix."""

    bucket: Annotated[str, Field(min_length=3, max_length=63)]
    key: Annotated[str | None, Field(min_length=1, max_length=1024)] = None
    key_prefix: Annotated[
        str | None, Field(min_length=1, max_length=1000), AfterValidator(_no_control_characters)
    ] = None
    content_type: ContentType = None
    max_bytes: Annotated[int | None, Field(ge=1, le=5 * 1024**3)] = None
    expires_in: Annotated[int, Field(ge=1, le=MAX_PRESIGN_SECONDS)] = 900


class PresignPostResponse(BaseModel):
    """The form target and the fields to send before the file."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class PresignListRequest(_Strict):
    """Presign a listing (ListObjectsV2) of the keys under a prefix, for a client without AWS credentials."""

    bucket: Annotated[str, Field(min_length=3, max_length=63, examples=["demo-data"])]
    prefix: Annotated[
        str, Field(max_length=1000, examples=["users/alice/"]), AfterValidator(_no_control_characters)
    ] = ""
    delimiter: Annotated[str | None, Field(min_length=1, max_length=16, examples=["/"])] = "/"
    max_keys: Annotated[int | None, Field(ge=1, le=1000)] = None
    continuation_token: Annotated[str | None, Field(min_length=1, max_length=1024)] = None
    expires_in: Annotated[int, Field(ge=1, le=MAX_PRESIGN_SECONDS)] = 900


class PresignListResponse(BaseModel):
    """A presigned ListObjectsV2 URL (GET; keys come back URL-encoded) and when it stops working."""

    url: str
    method: Literal["GET"]
    expires_at: datetime


class GrantResponse(BaseModel):
    """One grant the caller may use."""

    grant_scope: str
    permission: Permission
    application_arn: str | None


class GrantsResponse(BaseModel):
    """The caller's grants."""

    grants: list[GrantResponse]


class MeResponse(BaseModel):
    """Who the broker thinks the caller is."""

    issuer: str
    subject: str
    username: str | None
    idc_user_id: str
    identity_store_arn: str | None
    session_expiration: datetime


class ProblemResponse(BaseModel):
    """RFC 9457 problem details with a stable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: ProblemCode
    request_id: str | None = None


class HealthResponse(BaseModel):
    """Liveness."""

    status: str


class DoctorCheckResponse(BaseModel):
    """One configuration check of the doctor: its id and status (``tip-broker doctor`` prints what it saw).

    /readyz answers anyone who reaches the replica, so it names no ARN, account or policy: only the check.
    """

    id: str
    status: Literal["PASS", "WARN", "FAIL"]


class ReadinessResponse(BaseModel):
    """Readiness with one entry per check; ``doctor`` lists the AWS configuration checks (cached a minute)."""

    status: str
    checks: dict[str, str]
    doctor: list[DoctorCheckResponse] | None = None


class RevocationRequest(_Strict):
    """What to revoke: exactly one of ``subject``, ``idc_user_id``, ``token_id`` or ``everyone``."""

    subject: Annotated[str | None, Field(min_length=1, max_length=1024)] = None
    idc_user_id: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    token_id: Annotated[str | None, Field(min_length=1, max_length=1024)] = None
    everyone: bool = False
    issuer: Annotated[str | None, Field(min_length=1, max_length=2048)] = None
    unpin: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> RevocationRequest:
        chosen = [self.subject, self.idc_user_id, self.token_id, self.everyone or None]
        if sum(value is not None for value in chosen) != 1:
            raise ValueError("give exactly one of subject, idc_user_id, token_id or everyone")
        if self.unpin and self.subject is None:
            raise ValueError("unpin applies to a subject")
        return self


class RevocationResponse(BaseModel):
    """What was revoked."""

    revoked: Literal["subject", "directory_user", "token", "everyone"]
    issuer: str | None = None
    subject: str | None = None
