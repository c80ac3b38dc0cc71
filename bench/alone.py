"""Run one benchmark module's rows on their own (`python -m bench.<module>`): print them, exit 1 on a miss."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def run_alone(run: Callable[[], list[dict[str, Any]]]) -> int:
    """Run ``run``, print each row's result and the time taken; return 1 when a target is missed."""
    started = time.monotonic()
    rows = run()
    for row in rows:
        print(
            f"  {row['name']}: ours={row['ours_value']} ratio={row['ratio']} "
            f"target={row.get('target', '—')} met={row.get('met', '—')}"
        )
    print(f"done in {time.monotonic() - started:.0f} s")
    return 1 if any(row.get("met") == "no" for row in rows) else 0
