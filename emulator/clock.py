"""The emulator's notion of time: wall-clock time plus a settable offset (`/_emulator/clock`).

Every validity decision the emulator makes (token, session and credential expiry, presigned-URL windows,
the SigV4 request-time skew of docs/aws.md#request-time-skew) reads `Clock.now()`, so a test can move
the emulator's time without waiting.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock time shifted by `offset` seconds; thread-safe."""

    def __init__(self, offset: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = float(offset)

    @property
    def offset(self) -> float:
        """Return the current offset from wall-clock time, in seconds."""
        with self._lock:
            return self._offset

    def now(self) -> float:
        """Return the emulator's current time as epoch seconds."""
        return time.time() + self.offset

    def set_offset(self, seconds: float) -> None:
        """Put the emulator's time `seconds` away from wall-clock time (0 = real time)."""
        with self._lock:
            self._offset = float(seconds)

    def advance(self, seconds: float) -> None:
        """Move the emulator's time forward by `seconds` (negative moves it back)."""
        with self._lock:
            self._offset += float(seconds)
