"""AsyncBrokerClient: the asyncio client of the broker's v1 API, on httpx (the twin of BrokerClient)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TypeVar

import httpx

from tip_broker_client import operations
from tip_broker_client.client import DEFAULT_TIMEOUT_SECONDS
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
# The ID token, or a function (plain or async) returning the current one, called before every request.
AsyncTokenSource = str | Callable[[], str] | Callable[[], Awaitable[str]]


class AsyncBrokerClient:
    """Calls the broker as the holder of an ID token.

    Errors: a problem+json answer raises the ``BrokerError`` subclass of its code; no answer (or an
    answer that is not the broker's) raises ``BrokerUnavailableError``.
    """

    def __init__(
        self,
        base_url: str,
        token: AsyncTokenSource,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)

    def __repr__(self) -> str:
        return f"AsyncBrokerClient({self.base_url!r})"

    async def __aenter__(self) -> AsyncBrokerClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless it was handed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def credentials(
        self,
        target: str,
        permission: Permission = "READ",
        *,
        duration_seconds: int | None = None,
        privilege: Privilege | None = None,
    ) -> Credentials:
        """Return S3 credentials for ``target`` (``s3://bucket/prefix/*`` or ``s3://bucket/key``)."""
        return await self._call(operations.get_credentials(target, permission, duration_seconds, privilege))

    async def presign(
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
        return await self._call(operations.presign_url(item))

    async def presign_batch(self, items: Sequence[PresignItem]) -> list[PresignedUrl | BatchItemError]:
        """Presign up to 1000 operations; a refused item is a ``BatchItemError`` in its place."""
        return await self._call(operations.presign_batch(items))

    async def presign_post(
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
        return await self._call(
            operations.presign_post(
                bucket,
                key=key,
                key_prefix=key_prefix,
                content_type=content_type,
                max_bytes=max_bytes,
                expires_in=expires_in,
            )
        )

    async def grants(self, prefix: str | None = None) -> list[Grant]:
        """Return the grants the caller may use, only those whose scope contains ``prefix`` if given."""
        return await self._call(operations.list_grants(prefix))

    async def me(self) -> Identity:
        """Return who the broker thinks the caller is."""
        return await self._call(operations.get_me())

    async def sign_out(self) -> None:
        """Sign the caller out everywhere: every token of theirs issued until now stops working."""
        await self._call(operations.sign_out())

    async def _token_now(self) -> str:
        if not callable(self._token):
            return self._token
        token = self._token()
        return await token if inspect.isawaitable(token) else token

    async def _call(self, operation: operations.Operation[T]) -> T:
        token = await self._token_now()
        try:
            response = await self._http.request(
                operation.method,
                self.base_url + operation.path,
                json=operation.body,
                params=operation.params,
                headers=operations.request_headers(token),
            )
        except httpx.TransportError as exc:
            raise operations.unreachable(exc, self.base_url) from exc
        return operations.read_answer(operation, response, self.base_url)
