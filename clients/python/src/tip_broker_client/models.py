"""What the broker answers, as frozen dataclasses; secrets and signed URLs stay out of ``repr``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Permission = Literal["READ", "WRITE", "READWRITE"]
Privilege = Literal["Default", "Minimal"]
PresignMethod = Literal["GET", "PUT", "HEAD", "DELETE"]


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True, slots=True)
class Grantee:
    """Who the matched grant belongs to."""

    type: str
    identifier: str


@dataclass(frozen=True, slots=True)
class Credentials:
    """Temporary S3 credentials scoped by S3 Access Grants."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    matched_grant_target: str
    grantee: Grantee
    region: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Credentials:
        """Build from the broker's JSON answer."""
        return cls(
            access_key_id=data["access_key_id"],
            secret_access_key=data["secret_access_key"],
            session_token=data["session_token"],
            expiration=_when(data["expiration"]),
            matched_grant_target=data["matched_grant_target"],
            grantee=Grantee(type=data["grantee"]["type"], identifier=data["grantee"]["identifier"]),
            region=data["region"],
        )


@dataclass(frozen=True, slots=True)
class PresignItem:
    """One object operation to presign (an item of ``presign_batch``)."""

    bucket: str
    key: str
    method: PresignMethod = "GET"
    expires_in: int = 900
    content_type: str | None = None
    content_disposition: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the request body of this item."""
        body: dict[str, Any] = {
            "bucket": self.bucket,
            "key": self.key,
            "method": self.method,
            "expires_in": self.expires_in,
        }
        if self.content_type is not None:
            body["content_type"] = self.content_type
        if self.content_disposition is not None:
            body["content_disposition"] = self.content_disposition
        return body


@dataclass(frozen=True, slots=True)
class PresignedUrl:
    """A presigned URL (a bearer credential until ``expires_at``) and the headers to send with it."""

    url: str = field(repr=False)
    method: PresignMethod
    expires_at: datetime
    headers: dict[str, str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PresignedUrl:
        """Build from the broker's JSON answer."""
        return cls(
            url=data["url"],
            method=data["method"],
            expires_at=_when(data["expires_at"]),
            headers=data["headers"],
        )


@dataclass(frozen=True, slots=True)
class BatchItemError:
    """Why one batch item was not presigned (``code`` is a stable problem code, e.g. access_denied)."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class PresignedPost:
    """The target and fields of a browser form upload; send the fields before the file."""

    url: str
    fields: dict[str, str] = field(repr=False)
    expires_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PresignedPost:
        """Build from the broker's JSON answer."""
        return cls(url=data["url"], fields=data["fields"], expires_at=_when(data["expires_at"]))


@dataclass(frozen=True, slots=True)
class Grant:
    """An S3 Access Grant the caller may use."""

    grant_scope: str
    permission: Permission
    application_arn: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the broker thinks the caller is, and when their identity session ends."""

    issuer: str
    subject: str
    username: str | None
    idc_user_id: str
    identity_store_arn: str | None
    session_expiration: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Identity:
        """Build from the broker's JSON answer."""
        return cls(
            issuer=data["issuer"],
            subject=data["subject"],
            username=data.get("username"),
            idc_user_id=data["idc_user_id"],
            identity_store_arn=data.get("identity_store_arn"),
            session_expiration=_when(data["session_expiration"]),
        )
