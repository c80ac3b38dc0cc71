"""BrokerClient: the synchronous client of the broker's v1 API, on httpx."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

import httpx

from tip_broker_client import operations
from tip_broker_client.models import (
    BatchItemError,
    Credentials,
    Grant,
    Identity,
    Permission,
    PresignedPost,
    PresignedUrl,
    PresignItem,
    PresignMethod,
    Privilege,
)

T = TypeVar("T")
# The ID token, or a function returning the current one (called before every request, so it may refresh).
TokenSource = str | Callable[[], str]
DEFAULT_TIMEOUT_SECONDS = 30.0


class BrokerClient:
    """Calls the broker as the holder of an ID token.

    Errors: a problem+json answer raises the ``BrokerError`` subclass of its code; no answer (or an
    answer that is not the broker's) raises ``BrokerUnavailableError``.
    """

    def __init__(
        self,
        base_url: str,
        token: TokenSource,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)

    def __repr__(self) -> str:
        return f"BrokerClient({self.base_url!r})"

    def __enter__(self) -> BrokerClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (unless it was handed in)."""
        if self._owns_http:
            self._http.close()

    def credentials(
        self,
        target: str,
        permission: Permission = "READ",
        *,
        duration_seconds: int | None = None,
        privilege: Privilege | None = None,
    ) -> Credentials:
        """Return S3 credentials for ``target`` (``s3://bucket/prefix/*`` or ``s3://bucket/key``)."""
        return self._call(operations.get_credentials(target, permission, duration_seconds, privilege))

    def presign(
        self,
        bucket: str,
        key: str,
        method: PresignMethod = "GET",
        *,
        expires_in: int = 900,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedUrl:
        """Return a presigned URL for one object operation."""
        item = PresignItem(bucket, key, method, expires_in, content_type, content_disposition)
        return self._call(operations.presign_url(item))

    def presign_batch(self, items: Sequence[PresignItem]) -> list[PresignedUrl | BatchItemError]:
        """Presign up to 1000 operations; a refused item is a ``BatchItemError`` in its place."""
        return self._call(operations.presign_batch(items))

    def presign_post(
        self,
        bucket: str,
        *,
        key: str | None = None,
        key_prefix: str | None = None,
        content_type: str | None = None,
        max_bytes: int | None = None,
        expires_in: int = 900,
    ) -> PresignedPost:
        """Return a browser form upload of ``key``, or of any key under ``key_prefix``."""
        return self._call(
            operations.presign_post(
                bucket,
                key=key,
                key_prefix=key_prefix,
                content_type=content_type,
                max_bytes=max_bytes,
                expires_in=expires_in,
            )
        )

    def grants(self, prefix: str | None = None) -> list[Grant]:
        """Return the grants the caller may use, only those whose scope contains ``prefix`` if given."""
        return self._call(operations.list_grants(prefix))

    def me(self) -> Identity:
        """Return who the broker thinks the caller is."""
        return self._call(operations.get_me())

    def sign_out(self) -> None:
        """Sign the caller out everywhere: every token of theirs issued until now stops working."""
        self._call(operations.sign_out())

    def _call(self, operation: operations.Operation[T]) -> T:
        token = self._token() if callable(self._token) else self._token
        try:
            response = self._http.request(
                operation.method,
                self.base_url + operation.path,
                json=operation.body,
                params=operation.params,
                headers=operations.request_headers(token),
            )
        except httpx.TransportError as exc:
            raise operations.unreachable(exc, self.base_url) from exc
        return operations.read_answer(operation, response, self.base_url)
