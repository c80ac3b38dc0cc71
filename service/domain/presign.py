"""What a presigned request is: the URL or form a client uses, and the headers it must send."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PresignedUrl:
    """A SigV4 query-signed URL plus the headers that were signed into it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PresignedPost:
    """A browser form upload: the URL to POST to and the form fields to send before the file."""

    url: str
    fields: dict[str, str]
