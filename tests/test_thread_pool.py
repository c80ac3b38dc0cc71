"""DaemonThreadPool: runs calls on a bounded set of daemon threads, hands back results and errors."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from service.thread_pool import DaemonThreadPool


def test_thread_pool_returns_results_and_raises_errors_through_the_future() -> None:
    pool = DaemonThreadPool(max_workers=2)

    def fail() -> None:
        raise ValueError("boto3 said no")

    assert pool.submit(pow, 2, 10).result(timeout=5) == 1024
    with pytest.raises(ValueError, match="boto3 said no"):
        pool.submit(fail).result(timeout=5)
    pool.shutdown()


def test_thread_pool_runs_at_most_max_workers_daemon_threads() -> None:
    pool = DaemonThreadPool(max_workers=2, thread_name_prefix="aws")
    release = threading.Event()
    seen: set[str] = set()
    daemonic: set[bool] = set()

    def hold() -> None:
        seen.add(threading.current_thread().name)
        daemonic.add(threading.current_thread().daemon)
        release.wait(timeout=5)

    futures = [pool.submit(hold) for _ in range(5)]
    release.set()
    for future in futures:
        future.result(timeout=5)
    pool.shutdown()

    assert seen <= {"aws_0", "aws_1"}
    assert daemonic == {True}


def test_thread_pool_shutdown_cancels_queued_calls_and_refuses_new_ones() -> None:
    pool = DaemonThreadPool(max_workers=1)
    started, release = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return release.wait(timeout=5)

    running = pool.submit(hold)
    assert started.wait(timeout=5)
    queued = pool.submit(pow, 2, 2)

    pool.shutdown(wait=False, cancel_futures=True)
    release.set()

    assert running.result(timeout=5) is True
    with pytest.raises(CancelledError):
        queued.result(timeout=5)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(pow, 2, 2)
