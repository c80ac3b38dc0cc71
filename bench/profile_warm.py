"""Where the warm path's time goes: the broker process under cProfile while wrk/loadgen drives it.

Run by `python -m bench` when a warm-path target is missed (or alone: `python -m bench.profile_warm`);
writes short text summaries under bench/profiles/.
"""

from __future__ import annotations

import io
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_http, stack

PROFILES = Path(__file__).resolve().parent / "profiles"
TOP = 30


def _summary(stats_file: Path, title: str) -> str:
    out = io.StringIO()
    out.write(f"{title}\n\n")
    stats = pstats.Stats(str(stats_file), stream=out)
    stats.strip_dirs()
    out.write(f"== top {TOP} by own time (tottime) ==\n")
    stats.sort_stats("tottime").print_stats(TOP)
    out.write(f"== top {TOP} by cumulative time ==\n")
    stats.sort_stats("cumulative").print_stats(TOP)
    out.write("== the broker's own code (service/) by cumulative time ==\n")
    own = pstats.Stats(str(stats_file), stream=out)
    own.sort_stats("cumulative").print_stats(r"/service/", TOP)
    out.write("Note: cProfile counts every resumption of a coroutine as a call, so ncalls of async frames\n")
    out.write("are a multiple of the request count; cumulative times are what to compare.\n")
    return out.getvalue()


def run() -> list[Path]:
    """Profile warm POST /v1/credentials and /v1/presign (in-process cache); return the files written."""
    PROFILES.mkdir(exist_ok=True)
    written: list[Path] = []
    bodies = {"credentials": bench_http.CREDENTIALS_BODY, "presign": bench_http.PRESIGN_BODY}
    with stack.emulator() as emu, tempfile.TemporaryDirectory() as scratch:
        for route, body in bodies.items():
            raw = Path(scratch) / f"{route}.prof"
            with stack.broker(emu, profile_to=raw) as broker:
                token = emu.sign_in(bench_http.USER)
                with broker.client(token) as client:
                    assert client.post(f"/v1/{route}", json=body).status_code == 200
                result = bench_http.load(f"{broker.url}/v1/{route}", token, body)
            title = (
                "cProfile of one broker worker (bench.profiled_serve: cProfile around "
                "`python -m service serve`, in-process cache, "
                f"WARNING log) while {bench_http.GENERATOR} drove POST /v1/{route} on a warm cache: "
                f"{result['rps']:.0f} req/s under the profiler. Includes start-up and shutdown; "
                "only the main (event-loop) thread is profiled, which is where the warm path runs."
            )
            target = PROFILES / f"warm_{route}.txt"
            target.write_text(_summary(raw, title))
            written.append(target)
            print(f" profile written: {target.relative_to(stack.ROOT)}")
    return written


if __name__ == "__main__":
    run()
