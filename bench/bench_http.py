"""Warm HTTP path: POST /v1/credentials and /v1/presign against GET /healthz of the same broker process.

A real emulator and a real broker (`python -m service serve`, one uvicorn worker) on loopback; load from
`wrk` when it is on PATH, else from `bench.loadgen` in a separate process. Also the broker's peak RSS.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import stack

CONNECTIONS = 64
THREADS = 2
DURATION_SECONDS = 5
USER = "alice"
CREDENTIALS_BODY = {"target": "s3://demo-data/users/alice/*", "permission": "READ"}
PRESIGN_BODY = {"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET"}
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}

GENERATOR = (
    f"wrk {THREADS} threads, {CONNECTIONS} connections, {DURATION_SECONDS} s, --latency"
    if shutil.which("wrk")
    else f"bench.loadgen (uvloop raw-socket keep-alive, separate process), {CONNECTIONS} connections, "
    f"{DURATION_SECONDS} s"
)


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unparseable wrk latency {text!r}")
    return float(match[1]) * _UNIT_MS[match[2]]


def parse_wrk(output: str) -> dict[str, float]:
    """Return rps, p50/p90/p99 (ms), requests, non-2xx and socket errors from `wrk --latency` output."""
    result: dict[str, float] = {"non_2xx": 0, "errors": 0}
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    result["requests"] = float(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    for cut in ("50", "90", "99"):
        result[f"p{cut}_ms"] = _ms(re.search(rf"^\s+{cut}%\s+(\S+)", output, re.M)[1])  # type: ignore[index]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        result["non_2xx"] = float(non_2xx[1])
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if errors:
        result["errors"] = float(sum(int(n) for n in errors.groups()))
    return result


def _wrk(url: str, token: str | None, body: dict[str, Any] | None) -> dict[str, float]:
    argv = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{DURATION_SECONDS}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if body is not None:
            script.write('wrk.method = "POST"\n')
            script.write(f"wrk.body = [[{json.dumps(body)}]]\n")
            script.write('wrk.headers["Content-Type"] = "application/json"\n')
        if token is not None:
            script.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    try:
        done = subprocess.run(
            [*argv, "-s", script.name, url],
            capture_output=True,
            text=True,
            timeout=DURATION_SECONDS + 30,
            check=True,
        )
    finally:
        Path(script.name).unlink()
    return parse_wrk(done.stdout)


def _loadgen(url: str, token: str | None, body: dict[str, Any] | None) -> dict[str, float]:
    argv = [sys.executable, "-m", "bench.loadgen", url, "--connections", str(CONNECTIONS)]
    argv += ["--duration", str(DURATION_SECONDS)]
    if token is not None:
        argv += ["--header", f"Authorization: Bearer {token}"]
    if body is not None:
        argv += ["--body", json.dumps(body)]
    done = subprocess.run(
        argv, cwd=stack.ROOT, capture_output=True, text=True, timeout=DURATION_SECONDS + 30, check=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def load(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> dict[str, float]:
    """Drive ``url`` with the configured generator; return its summary."""
    result = _wrk(url, token, body) if shutil.which("wrk") else _loadgen(url, token, body)
    print(
        f"  load {url.rsplit('/', 2)[-2:]}: {result['rps']:.0f} rps, p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms, non-2xx {result['non_2xx']:.0f}, errors {result['errors']:.0f}"
    )
    return result


def _warm(broker: stack.Broker, token: str) -> None:
    with broker.client(token) as client:
        for path, body in (("/v1/credentials", CREDENTIALS_BODY), ("/v1/presign", PRESIGN_BODY)):
            response = client.post(path, json=body)
            assert response.status_code == 200, (path, response.status_code, response.text)


# Targets of the warm path against GET /healthz on the same server, at the default log level (INFO).
THROUGHPUT_TARGETS = {("credentials", "memory cache"): 0.7, ("credentials", "redis cache"): 0.6}
PRESIGN_THROUGHPUT_TARGET = 0.65
P99_TARGET = 2.0
ROUNDS = 5


def _rows_for(
    label: str, route: str, rounds: list[tuple[dict[str, float], dict[str, float]]]
) -> list[dict[str, Any]]:
    """Rows of one route from interleaved (floor, ours) rounds: the median round's ratios."""
    bad = sum(ours["non_2xx"] + ours["errors"] for _, ours in rounds)
    requests = sum(ours["requests"] for _, ours in rounds)
    health = f"{requests:.0f} requests in {len(rounds)} rounds, {bad:.0f} non-2xx/socket errors"
    rps_ratio = statistics.median(ours["rps"] / floor["rps"] for floor, ours in rounds)
    p99_ratio = statistics.median(ours["p99_ms"] / floor["p99_ms"] for floor, ours in rounds)
    floor = {key: statistics.median(f[key] for f, _ in rounds) for key in ("rps", "p50_ms", "p99_ms")}
    ours = {key: statistics.median(o[key] for _, o in rounds) for key in ("rps", "p50_ms", "p99_ms")}
    target = THROUGHPUT_TARGETS.get((route, label), PRESIGN_THROUGHPUT_TARGET)
    return [
        {
            "name": f"http_{route}_throughput [{label}]",
            "baseline": "GET /healthz, same process",
            "baseline_value": round(floor["rps"]),
            "ours_value": round(ours["rps"]),
            "unit": "req/s",
            "ratio": round(rps_ratio, 2),
            "target": f">= {target} (ours/floor)",
            "met": "yes" if rps_ratio >= target and bad == 0 else "no",
            "note": f"POST /v1/{route} warm cache, INFO log (the default); {health}; median round",
        },
        {
            "name": f"http_{route}_latency [{label}]",
            "baseline": "GET /healthz, same process",
            "baseline_value": f"p50 {floor['p50_ms']:.2f} / p99 {floor['p99_ms']:.2f}",
            "ours_value": f"p50 {ours['p50_ms']:.2f} / p99 {ours['p99_ms']:.2f}",
            "unit": "ms",
            "ratio": round(p99_ratio, 2),
            "target": f"p99 <= {P99_TARGET:g} (ours/floor)",
            "met": "yes" if p99_ratio <= P99_TARGET and bad == 0 else "no",
            "note": f"at {CONNECTIONS} connections; median round",
        },
    ]


def _measure(broker: stack.Broker, token: str, label: str, routes: tuple[str, ...]) -> list[dict[str, Any]]:
    print(f" broker [{label}] pid {broker.pid}")
    _warm(broker, token)
    bodies = {"credentials": CREDENTIALS_BODY, "presign": PRESIGN_BODY}
    rounds: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {route: [] for route in routes}
    for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits the floor and ours alike
        for route in routes:
            floor = load(f"{broker.url}/healthz")
            rounds[route].append((floor, load(f"{broker.url}/v1/{route}", token, bodies[route])))
    return [row for route in routes for row in _rows_for(label, route, rounds[route])]


def _rss_row(label: str, idle_kib: int, peak_kib: int) -> dict[str, Any]:
    return {
        "name": f"broker_peak_rss [{label}]",
        "baseline": "VmRSS idle, after warm-up",
        "baseline_value": round(idle_kib / 1024, 1),
        "ours_value": round(peak_kib / 1024, 1),
        "unit": "MiB",
        "ratio": round(peak_kib / idle_kib, 2),
        "target": "informational (peak/idle)",
        "met": "—",
        "note": "VmHWM of the one uvicorn worker after all warm runs of this configuration",
    }


def run() -> list[dict[str, Any]]:
    """Measure the warm path at the default log level with the in-process cache and with Redis."""
    print(f" generator: {GENERATOR}")
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with stack.emulator() as emu:
        # Each broker process needs its own ID token: Identity Center accepts a token's jti once.
        with stack.broker(emu, log_level="INFO") as broker:
            token = emu.sign_in(USER)
            _warm(broker, token)
            idle = stack.proc_status(broker.pid, "VmRSS")
            rows += _measure(broker, token, "memory cache", ("credentials", "presign"))
            rows.append(_rss_row("memory cache", idle, stack.proc_status(broker.pid, "VmHWM")))
        try:
            with (
                stack.redis_server() as redis_url,
                stack.broker(emu, redis_url=redis_url, log_level="INFO") as broker,
            ):
                token = emu.sign_in(USER)
                _warm(broker, token)
                idle = stack.proc_status(broker.pid, "VmRSS")
                rows += _measure(broker, token, "redis cache", ("credentials", "presign"))
                rows.append(_rss_row("redis cache", idle, stack.proc_status(broker.pid, "VmHWM")))
        except stack.StackError as exc:
            print(f" redis runs skipped: {exc}")
    for row in rows:
        row.setdefault("note", "")
        row["note"] = f"{row['note']}; generator: {GENERATOR}".lstrip("; ")
    print(f" http benchmarks took {time.monotonic() - started:.0f} s")
    return rows


if __name__ == "__main__":
    for result_row in run():
        print(result_row)
