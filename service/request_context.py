"""The outermost HTTP middleware: a request id, safe caching headers, the request's metric and log line."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.error_handlers import problem
from service.domain.errors import ProblemCode
from service.logs import request_id_var
from service.metrics import Metrics

logger = logging.getLogger("service.app")

logger = logging.getLogger("service.app")

# Every answer is nosniff; /v1 answers carry credentials, URLs or who the caller is, so no cache keeps them.
NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID in and out) and safe caching headers, counts it and logs it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        started_response = False
        path: str = scope["path"]
        extra = (NOSNIFF, *NO_STORE) if path == "/v1" or path.startswith("/v1/") else (NOSNIFF,)

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *extra,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, inside the request's context, so even this body carries its request id.
            logger.exception("request.failed")
            if started_response:
                raise
            await problem(
                500, ProblemCode.INTERNAL_ERROR, "Internal error", "the broker failed unexpectedly"
            )(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(template, scope["method"], status, elapsed)
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "http.request",
                    extra={
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
            request_id_var.reset(token)
