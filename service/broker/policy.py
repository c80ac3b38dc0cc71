"""The lifetimes and thresholds the broker's use cases apply, and what a data-access request returns."""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.access import DataAccess


@dataclass(frozen=True, slots=True)
class BrokerPolicy:
    """The lifetimes and thresholds the use cases apply (from Settings)."""

    session_duration_seconds: int
    data_access_duration_seconds: int
    min_remaining_seconds: int
    denied_cache_seconds: int
    upstream_calls_per_minute: int = 0
    requests_per_minute: int = 0

    def threshold(self, duration_seconds: int) -> int:
        """Return the minimum remaining life for credentials of a requested duration.

        Short requested durations scale the floor down (half the duration) so that a 900-second request
        can be served at all when BROKER_MIN_REMAINING_SECONDS is 900.
        """
        return min(self.min_remaining_seconds, duration_seconds // 2)


@dataclass(frozen=True, slots=True)
class Issued:
    """Data access handed to a caller and which layer answered (``cache`` or ``upstream``)."""

    access: DataAccess
    idc_user_id: str | None
    layer: str
    region: str | None = None  # the target bucket's region, when the broker knows it
