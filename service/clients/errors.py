"""The one error the client commands raise: a single line naming the cause and the fix."""

from __future__ import annotations


class ClientCommandError(Exception):
    """A failure a user can act on; its message is one line: what went wrong, then what to do.

    `status` is the HTTP status the credentials agent answers an SDK with for this failure.
    """

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(" ".join(message.split()))
        self.message = " ".join(message.split())
        self.status = status
