"""Redis down 10 s under mixed load over 3 replicas, then restarted empty (docs/architecture.md#outages).

Real processes: a redis-server killed and started again by the test, the emulator with 20 users holding
grants of their own, three broker replicas sharing that Redis, and clients that keep signing in again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench import mixed_load

pytestmark = pytest.mark.e2e


def test_redis_outage_and_empty_restart_under_mixed_load(tmp_path: Path) -> None:
    run = mixed_load.redis_outage(tmp_path, users=20)

    window = run.window
    failures = Counter((o.status, o.code) for o in window if o.failed)
    assert len(window) > 200, "too little load to measure"
    assert [o.wrong for o in run.outcomes if o.wrong] == []  # nothing wrong or nearly expired, ever
    assert not [o for o in run.outcomes if o.status == 0]  # no connection dropped
    assert not [o for o in run.outcomes if o.status == 500]
    assert all(code is not None for (_, code) in failures)  # every failure is problem+json with a code
    assert sum(failures.values()) <= 0.05 * len(window), f"{dict(failures)} of {len(window)}"
