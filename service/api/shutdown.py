"""Graceful shutdown: the drain a SIGTERM starts, and the 503 a request gets when the drain cuts it short.

The order (docs/operations.md#shutdown-and-probes): the signal marks the process draining (``/readyz``
answers 503), ``delay_seconds`` later the server stops accepting and waits for the requests in flight, up
to the drain it was given; the ones still running then are cancelled and answered 503 ``shutting_down``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.error_handlers import broker_error_response
from service.domain.errors import ShuttingDownError

logger = logging.getLogger("service.shutdown")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How long the lifespan waits, once the server cut the last requests, for their 503s to be written.
_ANSWER_CUT_SECONDS = 2.0

SignalHandler = Callable[[int, FrameType | None], object]


class Drain:
    """One process's shutdown state: draining from the first stop signal; requests in flight counted."""

    def __init__(self, delay_seconds: float = 0) -> None:
        self.delay_seconds = delay_seconds
        self.draining = False
        self.in_flight = 0
        self._server_stopping = False
        self._idle = asyncio.Event()

    def begin(self) -> None:
        """Mark the process draining: ``/readyz`` answers 503 from now on."""
        if not self.draining:
            self.draining = True
            self._announce()

    def _announce(self) -> None:
        logger.info("shutdown.draining", extra={"delay_seconds": self.delay_seconds})

    @contextmanager
    def watch_signals(self) -> Iterator[None]:
        """While inside, SIGTERM and SIGINT start the drain before the server's own handler stops it.

        The server's handler (uvicorn installs it before the lifespan starts) runs ``delay_seconds`` after
        the first signal, so a load balancer polling ``/readyz`` sees 503 while the listener still accepts;
        a second signal runs it at once. Off the main thread (in-process test clients) nothing changes.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        chained: dict[int, SignalHandler] = {}
        for stop_signal in STOP_SIGNALS:
            installed = signal.getsignal(stop_signal)
            if callable(installed):
                chained[stop_signal] = installed

        def stop_server(sig: int) -> None:
            if not self._server_stopping:
                self._server_stopping = True
                chained[sig](sig, None)

        def on_signal(sig: int, _: FrameType | None) -> None:
            first = not self.draining
            self.draining = True
            if first:
                loop.call_soon_threadsafe(self._announce)  # logged from the loop, not inside the handler
            if first and self.delay_seconds > 0:
                # call_soon_threadsafe is the loop's signal-safe entry; call_later must run on the loop.
                loop.call_soon_threadsafe(loop.call_later, self.delay_seconds, stop_server, sig)
            else:
                stop_server(sig)

        for signum in chained:
            signal.signal(signum, on_signal)
        try:
            yield
        finally:
            for signum, handler in chained.items():
                signal.signal(signum, handler)

    def enter(self) -> None:
        """Count a request in."""
        self.in_flight += 1

    def leave(self) -> None:
        """Count a request out."""
        self.in_flight -= 1
        if not self.in_flight and self.draining:
            self._idle.set()

    async def settled(self) -> None:
        """Wait (a bounded time) until no request is in flight: the cut ones have written their answer."""
        if not self.in_flight:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_ANSWER_CUT_SECONDS):
                await self._idle.wait()


class DrainMiddleware:
    """Counts requests in flight and answers 503 ``shutting_down`` to one the server cancels while draining.

    uvicorn cancels the requests still running when its graceful-shutdown timeout (the drain) ends;
    without this they would end with its plain-text 500. Sits inside CORS, so the 503 carries its headers.
    """

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        self.drain.enter()
        try:
            await self.app(scope, receive, send_tracked)
        except asyncio.CancelledError:
            if not self.drain.draining or started:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            logger.warning("request.cut_short", extra={"path": scope["path"]})
            cut = ShuttingDownError("this replica is shutting down and stopped the request; retry it")
            await broker_error_response(cut)(scope, receive, send)
        finally:
            self.drain.leave()
