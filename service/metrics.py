"""A small Prometheus text exposition: request, cache-layer and upstream counters, no extra dependency."""

from __future__ import annotations

from collections import Counter
from threading import Lock


class Metrics:
    """Thread-safe labelled counters rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._counters: dict[str, Counter[tuple[tuple[str, str], ...]]] = {}
        self._help: dict[str, str] = {}

    def define(self, name: str, help_text: str) -> None:
        """Declare a counter so it is exported even before its first increment."""
        with self._lock:
            self._counters.setdefault(name, Counter())
            self._help[name] = help_text

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        """Add ``amount`` to the counter with these labels."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._counters.setdefault(name, Counter())[key] += amount

    def value(self, name: str, **labels: str) -> int:
        """Return one counter's current value."""
        with self._lock:
            return self._counters.get(name, Counter())[tuple(sorted(labels.items()))]

    def render(self) -> str:
        """Return every counter in the Prometheus text exposition format."""
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines.append(f"# HELP {name} {self._help.get(name, name)}")
                lines.append(f"# TYPE {name} counter")
                for labels, count in sorted(series.items()):
                    rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    lines.append(f"{name}{{{rendered}}} {count}" if rendered else f"{name} {count}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
