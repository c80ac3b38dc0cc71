"""Throttled amplification: GetDataAccess calls per client request while AWS throttles every call.

Real emulator and broker processes on loopback (in-process cache). The emulator answers every
GetDataAccess with ThrottlingException; one user asks for credentials again and again, and the
emulator's call counters say how many calls each request cost. Ours: the requests after the circuit
breaker opened. Baseline: the same broker with the breaker disabled (BROKER_UPSTREAM_BREAKER_FAILURES=0),
where botocore's three attempts per request reach AWS each time.

``python -m bench.bench_breaker`` runs this row alone and exits 1 when the target is missed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import stack
from bench.alone import run_alone

OPERATION = "GetDataAccess"
USER = "alice"
TARGET = {"target": "s3://demo-data/users/alice/*", "permission": "READ"}
BREAKER_FAILURES = 3
OPEN_SECONDS = 30  # longer than the run, so the row never sees a probe
REQUESTS = 30
BASELINE_REQUESTS = 6
TARGET_CALLS_PER_REQUEST = 1.0


@dataclass(frozen=True, slots=True)
class Answer:
    """One client request under throttling: its status, problem code, Retry-After and upstream cost."""

    status: int
    code: str | None
    retry_after: int | None
    upstream_calls: int


def breaker_env(failures: int = BREAKER_FAILURES, open_seconds: int = OPEN_SECONDS) -> dict[str, str]:
    """Return the broker settings of a breaker that opens after ``failures`` failures."""
    return {
        "BROKER_UPSTREAM_BREAKER_FAILURES": str(failures),
        "BROKER_UPSTREAM_BREAKER_WINDOW_SECONDS": "60",
        "BROKER_UPSTREAM_BREAKER_OPEN_SECONDS": str(open_seconds),
    }


def throttle(emu: stack.Emulator) -> None:
    """Make the emulator answer every GetDataAccess with ThrottlingException."""
    fault = {"operation": OPERATION, "error": "ThrottlingException", "error_rate": 1.0}
    httpx.post(f"{emu.url}/_emulator/faults", json=fault, timeout=5).raise_for_status()


def clear_faults(emu: stack.Emulator) -> None:
    """Remove every injected fault."""
    httpx.delete(f"{emu.url}/_emulator/faults", timeout=5).raise_for_status()


def ask(emu: stack.Emulator, client: httpx.Client, target: dict[str, str] | None = None) -> Answer:
    """POST /v1/credentials once (``TARGET`` by default); count the GetDataAccess calls meanwhile."""
    before = emu.counts().get(OPERATION, 0)
    response = client.post("/v1/credentials", json=target or TARGET)
    calls = emu.counts().get(OPERATION, 0) - before
    code = response.json().get("code") if response.status_code != 200 else None
    retry_after = response.headers.get("retry-after")
    return Answer(response.status_code, code, int(retry_after) if retry_after else None, calls)


def _measure(emu: stack.Emulator, extra_env: dict[str, str], requests: int) -> list[Answer]:
    with stack.broker(emu, extra_env=extra_env) as broker, broker.client(emu.sign_in(USER)) as client:
        client.get("/v1/me").raise_for_status()  # the identity session, before AWS starts throttling
        throttle(emu)
        try:
            return [ask(emu, client) for _ in range(requests)]
        finally:
            clear_faults(emu)


def _after_opening(answers: list[Answer]) -> list[Answer]:
    # The breaker has opened once a request cost fewer calls than botocore's attempts would.
    opened = next((i for i, a in enumerate(answers) if a.upstream_calls < 3), len(answers))
    return answers[opened:]


def run() -> list[dict[str, Any]]:
    """Return the throttled-amplification row."""
    with stack.emulator() as emu:
        baseline = _measure(emu, breaker_env(failures=0), BASELINE_REQUESTS)
        ours_all = _measure(emu, breaker_env(), REQUESTS)
    ours = _after_opening(ours_all)
    baseline_value = sum(a.upstream_calls for a in baseline) / len(baseline)
    ours_value = sum(a.upstream_calls for a in ours) / len(ours) if ours else float("inf")
    statuses = sorted({a.status for a in ours_all})
    met = bool(ours) and ours_value <= TARGET_CALLS_PER_REQUEST and statuses == [503]
    print(
        f"throttled: baseline {baseline_value:.2f} calls/request, ours {ours_value:.2f} calls/request over "
        f"{len(ours)} requests after the breaker opened ({len(ours_all) - len(ours)} before), "
        f"statuses {statuses}",
        flush=True,
    )
    return [
        {
            "name": "throttled amplification",
            "baseline": "breaker disabled (botocore standard retries)",
            "baseline_value": round(baseline_value, 2),
            "ours_value": round(ours_value, 2),
            "unit": "GetDataAccess calls/request",
            "ratio": round(baseline_value / ours_value, 2) if ours_value else "∞",
            "target": f"<= {TARGET_CALLS_PER_REQUEST:g} (ours) while the breaker is open, every answer 503",
            "met": "yes" if met else "no",
            "note": (
                f"emulator answers every {OPERATION} with ThrottlingException; {REQUESTS} sequential "
                f"POST /v1/credentials of one user with a live session, "
                f"BROKER_UPSTREAM_BREAKER_FAILURES={BREAKER_FAILURES}, open {OPEN_SECONDS} s; ours counts "
                "the requests after the breaker opened (the emulator's /_emulator/calls/counts around each "
                f"request); baseline: {BASELINE_REQUESTS} requests with the breaker disabled "
                "(bench_breaker.py)"
            ),
        }
    ]


if __name__ == "__main__":
    sys.exit(run_alone(run))
