"""The presign step: sign S3 URLs and POST forms with the data access a caller's grants give."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from service import audit as audit_record
from service.broker.data_access import DataAccessDesk
from service.broker.policy import Issued
from service.broker.upstream import Upstream
from service.domain.access import (
    S3_SCHEME,
    DataAccessRequest,
    Permission,
    S3Target,
    all_plain_keys,
    scope_covers,
    validate_key,
)
from service.domain.access_book import AccessBook
from service.domain.credentials import TemporaryCredentials, presigned_url_expiry
from service.domain.errors import AccessDeniedError, BrokerError, InvalidRequestError, ScopeNotGrantedError
from service.domain.identity import Caller
from service.domain.ports import UrlSigner
from service.domain.presign import PresignedPost, PresignedUrl


class PresignOrder(Protocol):
    """What the presign step reads of one object operation: a PresignItem, or the API's request as is."""

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def expires_in(self) -> int: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def content_disposition(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PresignItem:
    """One object operation to presign."""

    bucket: str
    key: str
    method: str
    expires_in: int
    content_type: str | None = None
    content_disposition: str | None = None


class PresignResult(NamedTuple):
    """A presigned URL and when it stops working (a tuple: a batch makes a thousand of them)."""

    presigned: PresignedUrl
    method: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PostItem:
    """A browser form upload to presign: one key, or any key under a prefix."""

    bucket: str
    key: str | None
    key_prefix: str | None
    content_type: str | None
    max_bytes: int | None
    expires_in: int


@dataclass(frozen=True, slots=True)
class ListItem:
    """A listing (ListObjectsV2) of the keys under a prefix to presign."""

    bucket: str
    prefix: str
    delimiter: str | None
    max_keys: int | None
    continuation_token: str | None
    expires_in: int


@dataclass(frozen=True, slots=True)
class PostResult:
    """A presigned POST form and when it stops working."""

    presigned: PresignedPost
    expires_at: datetime


class _Signing:
    """The data access one folder's keys are signed with in one presign call, and the URLs it signed.

    A batch's keys nearly all share a few expiry instants: each is worked out once per folder, and the
    URLs are counted here for the call's audit record instead of one tally entry per URL.
    """

    __slots__ = (
        "_expiries",
        "_latest",
        "_now",
        "credentials",
        "folder_covered",
        "issued",
        "region",
        "scope",
        "urls",
    )

    def __init__(
        self, issued: Issued, region: str | None, now: datetime, folder: S3Target | None = None
    ) -> None:
        self.issued = issued
        self.scope = issued.access.matched_grant_target
        self.credentials: TemporaryCredentials = issued.access.credentials
        self.region = region
        # Whether the grant holds every key of ``folder`` (``s3://bucket/folder/*``): then a valid key there
        # needs no target of its own.
        self.folder_covered = folder is not None and scope_covers(self.scope, folder)
        self._now = now
        self._expiries: dict[int, datetime] = {}
        self._latest: datetime | None = None
        self.urls = 0

    def sign_one(self, expires_in: int) -> datetime:
        """Count one URL valid for ``expires_in`` seconds; return when it stops working."""
        expires_at = self._expiries.get(expires_in)
        if expires_at is None:
            expires_at = presigned_url_expiry(self._now, expires_in, self.credentials)
            self._expiries[expires_in] = expires_at
            self._latest = expires_at if self._latest is None else max(self._latest, expires_at)
        self.urls += 1
        return expires_at

    def tally_into(self, tally: audit_record.UrlTally) -> None:
        """Add this folder's URLs to the call's audit tally."""
        if self._latest is not None:
            issued = self.issued
            tally.count(issued.access, issued.idc_user_id, issued.layer, self._latest, urls=self.urls)


class Presigner:
    """Presigns object URLs, listings and POST forms with credentials from the data-access step."""

    def __init__(self, *, desk: DataAccessDesk, signer: UrlSigner, upstream: Upstream) -> None:
        self._desk = desk
        self._signer = signer
        self._upstream = upstream

    async def presign(
        self, caller: Caller, items: Sequence[PresignOrder]
    ) -> list[PresignResult | BrokerError]:
        """Presign each item in order; one item's error does not fail the others.

        The caller's access book is read once for the whole batch: items under one grant are signed
        from one cached data-access entry.
        """
        policy = self._upstream.policy
        book, marks = await self._desk.load_access(caller)
        results: list[PresignResult | BrokerError] = []
        # The data access last resolved per (bucket, folder, method; the permission a method needs is
        # looked up on a miss): keys in one folder are nearly always under one grant, so the book is
        # searched once per folder, not once per key.
        by_folder: dict[tuple[str, str, str], _Signing] = {}
        signings: list[_Signing] = []
        regions: dict[str, str | None] = {}
        now = self._upstream.now()  # one signing time for the whole batch
        # Nearly always every key is plain: then one pass has checked them all, not one check per key. (A
        # folder's first key is checked with its target, so one item needs no pass.)
        keys_checked = len(items) > 1 and all_plain_keys([item.key for item in items])
        for item in items:
            # Only what concerns the item itself becomes that item's error; a session, budget or AWS
            # failure fails the whole call with its own status, so the client can act on it.
            key = item.key
            folder = (item.bucket, key[: key.rfind("/") + 1], item.method)
            signing = by_folder.get(folder)
            try:
                if signing is not None and signing.folder_covered:
                    # The grant holds the folder; its bucket was checked with its first key.
                    if not keys_checked:
                        validate_key(key)
                else:
                    target = S3Target.for_object(item.bucket, key)
                    if signing is not None and not scope_covers(signing.scope, target):
                        signing = None  # a key the folder's grant does not hold: resolve its own
            except InvalidRequestError as exc:
                results.append(exc)
                continue
            if signing is None:
                permission = Permission.for_method(item.method)
                request = DataAccessRequest(target, permission, policy.data_access_duration_seconds)
                try:
                    issued, book = await self._desk.access(caller, request, book, marks.stamp)
                except (InvalidRequestError, ScopeNotGrantedError) as exc:
                    results.append(exc)  # AWS refused this target (e.g. a ValidationError)
                    continue
                except AccessDeniedError as exc:
                    # Remembered locally too, so repeats in this batch do not ask AWS again.
                    book = (book or AccessBook()).with_denial(
                        target, permission, self._upstream.now(), policy.denied_cache_seconds
                    )
                    results.append(exc)
                    continue
                if item.bucket not in regions:
                    regions[item.bucket] = await self._desk.region_of(item.bucket)
                signing = by_folder[folder] = _Signing(
                    issued, regions[item.bucket], now, S3Target(f"{S3_SCHEME}{item.bucket}/{folder[1]}*")
                )
                signings.append(signing)
            try:
                presigned = self._signer.presign_url(
                    signing.credentials,
                    method=item.method,
                    bucket=item.bucket,
                    key=item.key,
                    expires_in=item.expires_in,
                    now=now,
                    content_type=item.content_type,
                    content_disposition=item.content_disposition,
                    region=signing.region,
                )
            except ValueError as exc:
                results.append(InvalidRequestError(f"cannot presign this item: {exc}"))
                continue
            results.append(PresignResult(presigned, item.method, signing.sign_one(item.expires_in)))
        tally = audit_record.UrlTally()
        for signing in signings:
            signing.tally_into(tally)
        signed = sum(signing.urls for signing in signings)
        audit_record.urls_presigned(caller, tally, items=len(items), signed=signed)
        return results

    async def presign_post(self, caller: Caller, item: PostItem) -> PostResult:
        """Presign a browser form upload for one key or a key prefix."""
        if (item.key is None) == (item.key_prefix is None):
            raise InvalidRequestError("give exactly one of key or key_prefix")
        if item.key is not None:
            target = S3Target.for_object(item.bucket, item.key)
        else:
            target = S3Target.parse(f"s3://{item.bucket}/{item.key_prefix}*")
        request = DataAccessRequest(
            target, Permission.WRITE, self._upstream.policy.data_access_duration_seconds
        )
        issued = await self._desk.issue(caller, request)
        now = self._upstream.now()
        credentials = issued.access.credentials
        try:
            presigned = self._signer.presign_post(
                credentials,
                bucket=item.bucket,
                key=item.key,
                key_prefix=item.key_prefix,
                content_type=item.content_type,
                max_bytes=item.max_bytes,
                expires_in=item.expires_in,
                now=now,
                region=issued.region,
            )
        except ValueError as exc:
            raise InvalidRequestError(f"cannot presign this form: {exc}") from None
        expires_at = presigned_url_expiry(now, item.expires_in, credentials)
        audit_record.credentials_issued(
            caller,
            request,
            issued.access,
            idc_user_id=issued.idc_user_id,
            layer=issued.layer,
            delivery="presigned_post",
            expires_at=expires_at,
        )
        return PostResult(presigned, expires_at)

    async def presign_list(self, caller: Caller, item: ListItem) -> PresignResult:
        """Presign a listing of the keys under a prefix: it needs READ on ``s3://bucket/prefix*``."""
        target = S3Target.parse(f"s3://{item.bucket}/{item.prefix}*")
        request = DataAccessRequest(
            target, Permission.READ, self._upstream.policy.data_access_duration_seconds
        )
        issued = await self._desk.issue(caller, request)
        now = self._upstream.now()
        credentials = issued.access.credentials
        try:
            presigned = self._signer.presign_list(
                credentials,
                bucket=item.bucket,
                prefix=item.prefix,
                delimiter=item.delimiter,
                max_keys=item.max_keys,
                continuation_token=item.continuation_token,
                expires_in=item.expires_in,
                now=now,
                region=issued.region,
            )
        except ValueError as exc:
            raise InvalidRequestError(f"cannot presign this listing: {exc}") from None
        signing = _Signing(issued, issued.region, now)
        expires_at = signing.sign_one(item.expires_in)
        tally = audit_record.UrlTally()
        signing.tally_into(tally)
        audit_record.urls_presigned(caller, tally, items=1, signed=1)  # a URL, not credentials
        return PresignResult(presigned, "GET", expires_at)
