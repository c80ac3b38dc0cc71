"""The system clock behind the Clock port."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Reads the wall clock in UTC."""

    def now(self) -> datetime:
        """Return the current aware UTC datetime."""
        return datetime.now(UTC)
