"""Fleet rows: a Redis outage under load, recovery after a restart, the cross-replica stampede, workers.

Real processes on loopback: redis-server (killed and restarted by the bench), the emulator with 20 users
holding grants of their own (``bench.fleet``), and broker replicas sharing that Redis.

``python -m bench.bench_fleet`` runs these rows alone and exits 1 when a target is missed.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_http, fleet, mixed_load, stack
from bench.alone import run_alone

USERS = 20
MAX_FAILED_SHARE = 0.05
STAMPEDE_REPLICAS, STAMPEDE_WORKERS, STAMPEDE_REQUESTS = 4, 2, 500
UPSTREAM = ("CreateTokenWithIAM", "AssumeRole", "GetDataAccess")
WORKERS_TARGET = 1.7
WORKERS_ROUNDS = 3


def _outage_row(work: Path) -> dict[str, Any]:
    run = mixed_load.redis_outage(work, USERS)
    window, after, outcomes = run.window, run.after_restart, run.outcomes
    failed = [o for o in window if o.failed]
    wrong = [o for o in outcomes if o.wrong or o.status in (0, 500)]
    share = len(failed) / len(window)
    refused_after = sum(o.failed for o in after)
    print(
        f" outage: {len(failed)}/{len(window)} failed in the window "
        f"{dict(Counter((o.status, o.code) for o in failed))}, {refused_after} after the restart, "
        f"{len(wrong)} wrong"
    )
    met = share <= MAX_FAILED_SHARE and refused_after == 0 and not wrong
    return {
        "name": "redis_outage_failures [3 replicas, 10 s down, restarted empty]",
        "baseline": "requests in the outage and the 5 s after it",
        "baseline_value": len(window),
        "ours_value": f"{len(failed)} failed ({refused_after} after the restart)",
        "unit": "requests",
        "ratio": round(share, 4),
        "target": f"<= {MAX_FAILED_SHARE} failed; 0 refused after the restart; 0 wrong, 0 500",
        "met": "yes" if met else "no",
        "note": (
            f"{USERS} users (two grants each), 12 client threads round robin over 3 replicas "
            "(credentials, presign, 10-key batch, /v1/me) while a user signs in again every 0.5 s; "
            f"redis-server killed at {mixed_load.OUTAGE_STARTS:g} s and started empty "
            f"{mixed_load.OUTAGE_SECONDS:g} s later; every 200 is checked (the user's own grant, not "
            "nearly expired); ratio = failed share (bench_fleet.py, bench/mixed_load.py)"
        ),
    }


def _restart_row(work: Path, *, appendonly: bool) -> dict[str, Any]:
    """Users with a live session; Redis restarts; a replica started after it serves their old tokens."""
    users = fleet.fleet_users(USERS)
    redis = fleet.StoppableRedis(work, appendonly=appendonly)
    redis.start()
    refused: Counter[str] = Counter()
    key = fleet.new_cache_key()
    try:
        with stack.emulator(log_dir=work, scenario=fleet.write_scenario(users, work / "fleet.yaml")) as emu:
            with fleet.replicas(emu, redis.url, 1, work / "before", cache_key=key) as (before,):
                tokens = {u.username: emu.sign_in(u.username) for u in users}
                for user in users:
                    _credentials(before.url, tokens[user.username], user).raise_for_status()
            redis.stop()
            redis.start()
            with fleet.replicas(emu, redis.url, 1, work / "after", cache_key=key) as (after,):
                for user in users:
                    response = _credentials(after.url, tokens[user.username], user)
                    if response.status_code != 200:
                        refused[response.json()["code"]] += 1
                        # The client fetches a fresh ID token silently, as the code tells it to.
                        _credentials(after.url, emu.sign_in(user.username), user).raise_for_status()
    finally:
        redis.stop()
    label = "AOF, appendfsync always" if appendonly else "no persistence"
    print(f" restart [{label}]: {sum(refused.values())}/{USERS} first requests refused {dict(refused)}")
    return {
        "name": f"redis_restart_refused [{label}]",
        "baseline": "users with a live session before the restart",
        "baseline_value": USERS,
        "ours_value": f"{sum(refused.values())} refused" + (f" {dict(refused)}" if refused else ""),
        "unit": "first requests",
        "ratio": sum(refused.values()),
        "target": "0 (ours)"
        if appendonly
        else "informational: each refused user recovers with one fresh token",
        "met": ("yes" if not refused else "no") if appendonly else "—",
        "note": (
            "each user is served once by a replica, redis-server is killed and started again, and a replica "
            "started after it (so nothing mirrored) serves each user's pre-restart token; a refused user "
            "signs in again once and is served (bench_fleet.py)"
        ),
    }


def _credentials(url: str, token: str, user: fleet.FleetUser) -> httpx.Response:
    body = {"target": user.targets[0], "permission": "READ"}
    return httpx.post(
        f"{url}/v1/credentials", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


async def _stampede(urls: list[str], jobs: list[tuple[str, str]]) -> list[str]:
    limits = httpx.Limits(max_connections=len(jobs), max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def one(n: int, token: str, target: str) -> str:
            headers = {"Authorization": f"Bearer {token}"}
            body = {"target": target, "permission": "READ"}
            response = await client.post(f"{urls[n % len(urls)]}/v1/credentials", json=body, headers=headers)
            if response.status_code == 200:
                return "200"
            problem = response.json()
            return f"{response.status_code} {problem.get('code')}: {problem.get('detail')}"

        return await asyncio.gather(*(one(n, token, target) for n, (token, target) in enumerate(jobs)))


def _stampede_row(work: Path) -> dict[str, Any]:
    users = fleet.fleet_users(USERS)
    cap = {"BROKER_MAX_CONCURRENT_REQUESTS": str(STAMPEDE_REQUESTS)}
    with (
        stack.redis_server() as redis_url,
        stack.emulator(log_dir=work, scenario=fleet.write_scenario(users, work / "fleet.yaml")) as emu,
        fleet.replicas(
            emu, redis_url, STAMPEDE_REPLICAS, work, workers=STAMPEDE_WORKERS, extra_env=cap
        ) as brokers,
    ):
        tokens = {u.username: emu.sign_in(u.username) for u in users}
        pairs = [(tokens[u.username], target) for u in users for target in u.targets]
        jobs = [pairs[n % len(pairs)] for n in range(STAMPEDE_REQUESTS)]
        emu.reset()
        started = time.perf_counter()
        statuses = asyncio.run(_stampede([b.url for b in brokers], jobs))
        seconds = time.perf_counter() - started
        counts = emu.counts()
    calls = [counts.get(op, 0) for op in UPSTREAM]
    expected = [USERS, USERS, len(pairs)]
    others = Counter(s for s in statuses if s != "200")
    print(
        f" stampede: {statuses.count('200')}/{len(jobs)} 200 in {seconds:.2f} s, others {dict(others)}, "
        f"calls {calls}"
    )
    return {
        "name": f"stampede_cross_replica [{STAMPEDE_REPLICAS} replicas x {STAMPEDE_WORKERS} workers]",
        "baseline": "exactly one per layer: users / users / (user, target) pairs",
        "baseline_value": " / ".join(map(str, expected)),
        "ours_value": " / ".join(map(str, calls)),
        "unit": "calls (IdC / STS / GetDataAccess)",
        "ratio": round(max(c / e for c, e in zip(calls, expected, strict=True)), 2),
        "target": "exactly 1 per layer per (user, scope), every answer 200",
        "met": "yes" if calls == expected and not others else "no",
        "note": (
            f"{len(jobs)} concurrent cold POST /v1/credentials ({USERS} users x 2 targets, each under its "
            f"own grant, about {len(jobs) // len(pairs)} per pair) spread over {STAMPEDE_REPLICAS} broker "
            f"processes of {STAMPEDE_WORKERS} uvicorn workers sharing one Redis, one new connection each; "
            f"answered in {seconds:.2f} s; ratio = worst layer's calls / expected (bench_fleet.py)"
        ),
    }


def _tree_cpu_seconds(pid: int) -> float:
    """Return the CPU seconds (user + system) used so far by ``pid`` and its child processes."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    ticks = 0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _workers_row(work: Path) -> dict[str, Any]:
    rounds: dict[int, list[tuple[float, float]]] = {1: [], 2: []}  # (req/s, broker cores) per round
    with stack.redis_server() as redis_url, stack.emulator(log_dir=work) as emu, ExitStack() as running:
        brokers = {
            workers: running.enter_context(
                stack.broker(emu, redis_url=redis_url, log_dir=work, workers=workers)
            )
            for workers in (1, 2)
        }
        tokens = {workers: emu.sign_in(bench_http.USER) for workers in brokers}
        for workers, broker in brokers.items():
            with broker.client(tokens[workers]) as client:
                for _ in range(4):  # every worker warm
                    client.post("/v1/credentials", json=bench_http.CREDENTIALS_BODY).raise_for_status()
        for _ in range(WORKERS_ROUNDS):  # interleaved: drift on a shared machine hits both alike
            for workers, broker in brokers.items():
                cpu, started = _tree_cpu_seconds(broker.pid), time.monotonic()
                result = bench_http.load(
                    f"{broker.url}/v1/credentials", tokens[workers], bench_http.CREDENTIALS_BODY
                )
                used = (_tree_cpu_seconds(broker.pid) - cpu) / (time.monotonic() - started)
                rounds[workers].append((result["rps"], used))
    ratio = statistics.median(two[0] / one[0] for one, two in zip(rounds[1], rounds[2], strict=True))
    rps = {workers: statistics.median(rps for rps, _ in series) for workers, series in rounds.items()}
    cores = {workers: statistics.median(used for _, used in series) for workers, series in rounds.items()}
    return {
        "name": "http_credentials_throughput [2 workers vs 1, redis cache]",
        "baseline": "the same broker with 1 worker",
        "baseline_value": f"{rps[1]:.0f}",
        "ours_value": f"{rps[2]:.0f}",
        "unit": "req/s",
        "ratio": round(ratio, 2),
        "target": f">= {WORKERS_TARGET} (ours/baseline)",
        "met": "yes" if ratio >= WORKERS_TARGET else "no",
        "note": (
            f"warm POST /v1/credentials, {bench_http.GENERATOR}; {WORKERS_ROUNDS} interleaved rounds, "
            "median; both brokers run throughout, one loaded at a time; the generator, redis-server and the "
            f"workers share the machine's {os.cpu_count()} cores: the broker got {cores[1]:.2f} cores with 1 "
            f"worker and {cores[2]:.2f} with 2, so {rps[1] / cores[1]:.0f} and {rps[2] / cores[2]:.0f} "
            "requests per broker CPU-second (bench_fleet.py)"
        ),
    }


def run() -> list[dict[str, Any]]:
    """Return the fleet rows."""
    with tempfile.TemporaryDirectory(prefix="tipb-bench-fleet-") as tmp:
        work = Path(tmp)
        rows = []
        for name, make in (
            ("outage", _outage_row),
            ("restart-empty", lambda w: _restart_row(w, appendonly=False)),
            ("restart-aof", lambda w: _restart_row(w, appendonly=True)),
            ("stampede", _stampede_row),
            ("workers", _workers_row),
        ):
            (work / name).mkdir()
            rows.append(make(work / name))
        return rows


if __name__ == "__main__":
    sys.exit(run_alone(run))
