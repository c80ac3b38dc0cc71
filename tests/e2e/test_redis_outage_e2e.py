"""Redis down 10 s under mixed load over 3 replicas, then restarted empty (docs/architecture.md#outages).

Real processes: a redis-server killed and started again by the test, the emulator with 20 users holding
grants of their own, three broker replicas sharing that Redis, and clients that keep signing in again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench import fleet, mixed_load
from bench import stack as processes

pytestmark = pytest.mark.e2e

USERS = 20
OUTAGE_STARTS, OUTAGE_SECONDS, AFTER_SECONDS = 3.0, 10.0, 5.0


def test_redis_outage_and_empty_restart_under_mixed_load(tmp_path: Path) -> None:
    users = fleet.fleet_users(USERS)
    scenario = fleet.write_scenario(users, tmp_path / "fleet.yaml")
    redis = fleet.StoppableRedis(tmp_path)
    redis.start()
    try:
        with (
            processes.emulator(log_dir=tmp_path, scenario=scenario) as emulator,
            fleet.replicas(emulator, redis.url, 3, tmp_path) as brokers,
        ):
            load = mixed_load.MixedLoad(emulator, [broker.url for broker in brokers], users)
            load.sign_in_all()
            load.warm()
            restarted = OUTAGE_STARTS + OUTAGE_SECONDS
            outcomes = load.run(
                restarted + AFTER_SECONDS, [(OUTAGE_STARTS, redis.stop), (restarted, redis.start)]
            )
    finally:
        redis.stop()

    window = [o for o in outcomes if OUTAGE_STARTS <= o.at <= restarted + AFTER_SECONDS]
    failures = Counter((o.status, o.code) for o in window if o.failed)
    assert len(window) > 200, "too little load to measure"
    assert [o.wrong for o in outcomes if o.wrong] == []  # nothing wrong or nearly expired, ever
    assert not [o for o in outcomes if o.status == 0]  # no connection dropped
    assert not [o for o in outcomes if o.status == 500]
    assert all(code is not None for (_, code) in failures)  # every failure is problem+json with a code
    assert sum(failures.values()) <= 0.05 * len(window), f"{dict(failures)} of {len(window)}"
