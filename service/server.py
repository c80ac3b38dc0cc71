"""Run the broker under uvicorn: one process or a supervisor of N workers, drained on SIGTERM, exit 0.

What a stop signal does is in docs/operations.md#shutdown-and-probes; the drain itself is
``service/api/shutdown.py``. uvicorn re-raises the signal once its graceful shutdown is over, which
would end the process by that signal (exit 143); the handler installed here takes it instead.
"""

from __future__ import annotations

import inspect
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from service.settings import Settings

STARTUP_FAILURE = 3  # uvicorn's own exit status when the app cannot start
FACTORY = "service.app:create_app_from_env"


def _stopped(_: int, __: FrameType | None) -> None:
    """Take the stop signal uvicorn re-raises after its graceful shutdown: the drain is already over."""


def server_config(app: Any, settings: Settings, *, host: str, port: int, workers: int) -> uvicorn.Config:
    """Return uvicorn's configuration; ``app`` is the factory's import string when ``workers`` > 1."""
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        # Requests still running when it ends are cancelled and answered 503 shutting_down.
        timeout_graceful_shutdown=settings.shutdown_drain_seconds,
        timeout_keep_alive=settings.keepalive_timeout_seconds,
        # h11 only: a hard stop well above the app's own 431 so the app answers with a problem body.
        h11_max_incomplete_event_size=settings.max_header_bytes * 8,
    )


def run_server(app: Any, settings: Settings, *, host: str, port: int, workers: int = 1) -> int:
    """Serve until a stop signal and a finished drain; return the process's exit status.

    ``app`` is the application (one process) or the import string of its factory (``workers`` > 1, each
    worker process builds its own app from the environment).
    """
    config = server_config(app, settings, host=host, port=port, workers=workers)
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        if workers > 1:
            _supervise(config)
            return 0
        server = uvicorn.Server(config)
        server.run()
    except KeyboardInterrupt:  # a second Ctrl-C, as uvicorn.run takes it
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if server.started else STARTUP_FAILURE


def _supervise(config: uvicorn.Config) -> None:
    """Run uvicorn's worker supervisor, closing its copy of the listening socket on the stop signal.

    Every worker holds the socket too and closes it when its drain starts; once the supervisor's copy is
    closed as well, new connections are refused instead of queueing where nobody accepts them.
    """
    sock = config.bind_socket()
    # uvicorn up to 0.50 wants the worker's target, later ones build each worker's server themselves.
    needs_target = "target" in inspect.signature(Multiprocess).parameters
    extra: dict[str, Any] = {"target": uvicorn.Server(config).run} if needs_target else {}
    supervisor = Multiprocess(config, sockets=[sock], **extra)
    for sig in (signal.SIGTERM, signal.SIGINT):
        _close_first(sig, sock)
    supervisor.run()


def _close_first(sig: int, sock: socket.socket) -> None:
    queue_signal = signal.getsignal(sig)  # the supervisor's, installed when it was built
    if not callable(queue_signal):
        return

    def close_then_queue(signum: int, frame: FrameType | None) -> None:
        sock.close()
        queue_signal(signum, frame)

    signal.signal(sig, close_then_queue)
