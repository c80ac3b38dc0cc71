"""Capture what the broker's logging writes, as its JSON handler would, for tests to read."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from service.logs import JsonFormatter, RedactingFilter


@contextmanager
def json_log(level: int) -> Iterator[io.StringIO]:
    """Yield a stream receiving every line at ``level`` and above, redacted and JSON-formatted."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
