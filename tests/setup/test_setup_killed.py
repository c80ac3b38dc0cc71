"""An apply process killed while AWS is still carrying out its call converges on the next apply: the
resource the lost answer named is found again by its tag, not created twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from tests.setup.conftest import DEMO, ROOT, Account

POLL_SECONDS = 60.0


HELD = 1000  # calls the fault applies to: far more than an apply makes


def _count(account: Account, operation: str) -> int:
    """Return how many calls of ``operation`` the emulator has answered."""
    counts = httpx.get(f"{account.url}/_emulator/calls/counts", timeout=5).json()
    return int(counts.get(operation, 0))


def _arrived(account: Account, operation: str) -> int:
    """Return how many calls of ``operation`` have reached the emulator (the fault counts them on arrival)."""
    faults = httpx.get(f"{account.url}/_emulator/faults", timeout=5).json()
    remaining = next((f["remaining"] for f in faults if f["operation"] == operation), HELD)
    return HELD - int(remaining)


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {POLL_SECONDS:.0f} s for {what}")
        time.sleep(0.02)


@pytest.mark.parametrize("operation", ["CreateApplication", "CreateRole", "CreateAccessGrant"])
def test_setup_apply_killed_during_a_call_converges_without_duplicates(
    account: Account, operation: str
) -> None:
    # Every call of the operation is held before the emulator acts on it; the process is killed while
    # the first one is held, so AWS completes a call whose answer nobody reads.
    slow = {"operation": operation, "latency_ms": 1500, "count": HELD}
    httpx.post(f"{account.url}/_emulator/faults", json=slow, timeout=5).raise_for_status()
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
        [sys.executable, "-m", "service", "setup", "apply", "--file", str(DEMO)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(
            lambda: _arrived(account, operation) == 1 or process.poll() is not None, f"{operation} to arrive"
        )
    finally:
        process.kill()
        process.wait()
    _wait(lambda: _count(account, operation) == 1, f"the held {operation} to complete")
    account.heal()

    resumed = account.setup("apply")
    plan = account.setup("plan")

    assert process.returncode == -signal.SIGKILL
    assert resumed.status == 0, resumed.err
    assert plan.status == 0, plan.out
    found = account.inventory()
    assert found["applications"] == ["tip-broker"]
    assert found["roles"] == ["s3-access-grants-location", "tip-identity-bearer"]
    assert len(found["grants"]) == 8
