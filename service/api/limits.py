"""Request limits enforced before any route runs: headers, concurrency, bearer token first, then the body."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.dependencies import CALLER_STATE_KEY, bearer_token
from service.api.error_handlers import broker_error_response, malformed_request, problem
from service.domain.errors import BrokerError, ProblemCode
from service.domain.identity import Caller

PROBES = frozenset({"/healthz", "/readyz"})


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost a replica."""

    max_body_bytes: int
    max_header_bytes: int
    body_timeout_seconds: float
    max_concurrent_requests: int


@dataclass(frozen=True, slots=True)
class _Request:
    """What the headers say about the body and the caller."""

    length: bytes | None
    chunked: bool
    authorization: bytes | None


def _too_large(limit: int) -> JSONResponse:
    return problem(
        413, ProblemCode.PAYLOAD_TOO_LARGE, "Payload too large", f"the body may be at most {limit} bytes"
    )


class LimitsMiddleware:
    """Refuses oversized, slow, excess and (under /v1) unauthenticated requests before buffering a body.

    The body is read here, counted as it arrives and handed on whole, so no route ever parses more than
    ``max_body_bytes``; the verified caller is left in ``scope["state"]`` for ``get_caller``.
    """

    def __init__(
        self, app: ASGIApp, limits: Limits, authenticate: Callable[[str], Awaitable[Caller]]
    ) -> None:
        self.app = app
        self.limits = limits
        self.authenticate = authenticate
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_bytes = 0
        length: bytes | None = None
        chunked = False
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value) + 4
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"authorization" and authorization is None:
                authorization = value
        if header_bytes > self.limits.max_header_bytes:
            detail = f"the request headers may total at most {self.limits.max_header_bytes} bytes"
            await problem(431, ProblemCode.HEADERS_TOO_LARGE, "Request headers too large", detail)(
                scope, receive, send
            )
            return
        request = _Request(length, chunked, authorization)
        cap = self.limits.max_concurrent_requests
        if not cap or scope["path"] in PROBES:
            await self._admit(request, scope, receive, send)
            return
        if self.in_flight >= cap:
            detail = "this replica serves as many requests as it may; retry shortly"
            refusal = problem(503, ProblemCode.OVERLOADED, "Overloaded", detail, {"Retry-After": "1"})
            await refusal(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._admit(request, scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _admit(self, request: _Request, scope: Scope, receive: Receive, send: Send) -> None:
        length = request.length
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await malformed_request("Content-Length is not a number")(scope, receive, send)
                return
            if declared > self.limits.max_body_bytes:
                await _too_large(self.limits.max_body_bytes)(scope, receive, send)
                return
        path: str = scope["path"]
        if (path == "/v1" or path.startswith("/v1/")) and scope["method"] != "OPTIONS":
            try:
                token = bearer_token((request.authorization or b"").decode("latin-1"))
                caller = await self.authenticate(token)
            except BrokerError as exc:
                await broker_error_response(exc)(scope, receive, send)
                return
            scope.setdefault("state", {})[CALLER_STATE_KEY] = caller
        if not request.chunked and not (length and length != b"0"):
            await self.app(scope, receive, send)
            return
        await self._with_body(scope, receive, send)

    async def _with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        refusal: JSONResponse | None = None
        try:
            async with asyncio.timeout(self.limits.body_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        refusal = malformed_request("the client went away before the body arrived")
                        break
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        refusal = _too_large(limit)
                        break
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            detail = f"the body did not arrive within {self.limits.body_timeout_seconds:g} s"
            refusal = problem(
                408, ProblemCode.REQUEST_TIMEOUT, "Request timeout", detail, {"Connection": "close"}
            )
        if refusal is not None:
            chunks.clear()
            await refusal(scope, receive, send)
            return
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
