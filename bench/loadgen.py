"""Fallback HTTP load generator (when wrk is absent): raw-socket keep-alive clients, run as its own process.

`python -m bench.loadgen URL --connections 64 --duration 6 [--body JSON] [--header 'K: V']` prints one JSON
line: requests, non_2xx, errors, seconds, rps and latency percentiles in ms. It runs on uvloop (installed
with uvicorn's standard extra), which leaves more of a shared machine's cores to the server measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlsplit

import uvloop

MAX_REQUESTS = 2_000_000


async def _client(  # noqa: PLR0917 - private coroutine, called from one place
    host: str, port: int, raw: bytes, deadline: float, latencies: list[float], tally: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline and tally["requests"] < MAX_REQUESTS:
            start = time.perf_counter()
            writer.write(raw)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            tally["requests"] += 1
            if status_line[9:10] != b"2":
                tally["non_2xx"] += 1
    except (OSError, asyncio.IncompleteReadError):
        tally["errors"] += 1
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> dict[str, float]:
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = args.body.encode() if args.body else b""
    headers = [f"Host: {host}:{port}", "Connection: keep-alive", *args.header]
    if args.body:
        headers += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    method = "POST" if args.body else "GET"
    raw = (f"{method} {parts.path or '/'} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode() + body
    latencies: list[float] = []
    tally = {"requests": 0, "non_2xx": 0, "errors": 0}
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(
        *(_client(host, port, raw, deadline, latencies, tally) for _ in range(args.connections))
    )
    seconds = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        **tally,
        "seconds": round(seconds, 3),
        "rps": round(tally["requests"] / seconds, 1),
        "p50_ms": round(cuts[49] * 1000, 3),
        "p90_ms": round(cuts[89] * 1000, 3),
        "p99_ms": round(cuts[98] * 1000, 3),
    }


def main() -> None:
    """Parse arguments, run the load and print the JSON summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--body", default="")
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    if urlsplit(args.url).hostname != "127.0.0.1":
        parser.error("loopback (127.0.0.1) targets only")
    print(json.dumps(uvloop.run(_main(args))))


if __name__ == "__main__":
    main()
