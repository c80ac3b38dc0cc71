"""`python -m service serve` under cProfile; stats are dumped when it stops (SIGTERM: serve drains, exits).

Usage: `python -m bench.profiled_serve OUT.prof serve --host 127.0.0.1 --port N`.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    """Run the broker's command line under the profiler and write the stats however it ends."""
    out, argv = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGTERM, _exit)
    from service.__main__ import main as broker_main  # noqa: PLC0415 - import after the handler is set

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        broker_main(argv)
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
