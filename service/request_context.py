"""The outermost HTTP middleware: a request id, safe caching headers, the request's metric and log line."""

from __future__ import annotations

import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.error_handlers import problem
from service.api.hot_route import HotRoute
from service.domain.errors import ProblemCode
from service.logs import FIXED, request_id_var
from service.metrics import KNOWN_METHODS, Metrics

logger = logging.getLogger("service.app")

# The access line's fields all come from the server (a route template, a status, a duration), and the
# method too when it is a standard one: none is scanned for secrets (service/logs.py FIXED).
_ACCESS_FIXED = frozenset({"method", "route", "status", "duration_ms"})
_ACCESS_FIXED_ODD_METHOD = _ACCESS_FIXED - {"method"}

# Every answer is nosniff; /v1 answers carry credentials, URLs or who the caller is, so no cache keeps them.
NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))


class Sampler:
    """Takes a share ``rate`` (0 to 1) of the calls, evenly spread (every 1/rate-th call), no random draw."""

    __slots__ = ("_credit", "rate")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._credit = 0.0

    def take(self) -> bool:
        """Return whether this call is one of the share."""
        if self.rate >= 1:
            return True
        self._credit += self.rate
        if self._credit >= 1:
            self._credit -= 1
            return True
        return False


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID in and out) and safe caching headers, counts it and logs it.

    The access line (``http.request``) of a successful answer of a hot route is written for a share
    ``hot_access_log_rate`` of them (BROKER_HOT_ACCESS_LOG_RATE); every other answer always has one.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, hot_access_log_rate: float = 1.0) -> None:
        self.app = app
        self.metrics = metrics
        self.hot_sampler = Sampler(hot_access_log_rate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else os.urandom(16).hex()
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
            if logger.isEnabledFor(logging.INFO) and (
                status >= 400 or not isinstance(route, HotRoute) or self.hot_sampler.take()
            ):
                self._log(scope["method"], template, status, elapsed)
            request_id_var.reset(token)

    @staticmethod
    def _log(method: str, route: str, status: int, elapsed: float) -> None:
        fixed = _ACCESS_FIXED if method in KNOWN_METHODS else _ACCESS_FIXED_ODD_METHOD
        logger.info(
            "http.request",
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                FIXED: fixed,
            },
        )
