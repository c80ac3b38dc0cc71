"""Temporary AWS credentials and the lifetime maths every layer applies to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    """STS-style credentials: access key, secret, session token and an absolute expiry (aware, UTC)."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    def __repr__(self) -> str:
        # Secrets never reach a log line through repr().
        return f"TemporaryCredentials(access_key_id={self.access_key_id!r}, expiration={self.expiration!r})"

    def remaining_seconds(self, now: datetime) -> float:
        """Return how many seconds these credentials stay valid after ``now``."""
        return (self.expiration - now).total_seconds()

    def usable(self, now: datetime, min_remaining_seconds: int) -> bool:
        """Return whether at least ``min_remaining_seconds`` of validity are left."""
        return self.remaining_seconds(now) >= min_remaining_seconds


def presigned_url_expiry(now: datetime, expires_in: int, credentials: TemporaryCredentials) -> datetime:
    """Return when a URL signed now dies: at ``expires_in`` or when its signing credentials expire."""
    return min(now + timedelta(seconds=expires_in), credentials.expiration)
