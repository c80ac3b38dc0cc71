"""Where a client command gets the caller's ID token: a file, a variable, or `tip-broker login`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from service.clients.errors import ClientCommandError
from service.clients.token_store import LOGIN_FIX, SignedInUser

# Read when neither --token-file nor --token-env is given (the variable `credential-process` always read).
DEFAULT_TOKEN_ENV = "TIPB_ID_TOKEN"  # noqa: S105 - a variable name, not a secret

TokenSource = Callable[[], str]


@runtime_checkable
class RenewableTokenSource(Protocol):
    """A token source that can fetch a new ID token from the issuer on demand (`tip-broker login`'s)."""

    def __call__(self) -> str: ...

    def renew(self) -> str: ...


def from_file(path: Path) -> TokenSource:
    """Read the token from a file on every call (a service may rotate it)."""

    def read() -> str:
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise ClientCommandError(
                f"cannot read the ID token file {path} ({type(exc).__name__}): check --token-file", 401
            ) from None
        if not token:
            raise ClientCommandError(f"the ID token file {path} is empty: write a fresh ID token to it", 401)
        return token

    return read


def from_env(name: str) -> TokenSource:
    """Read the token from an environment variable."""

    def read() -> str:
        token = os.environ.get(name, "").strip()
        if not token:
            raise ClientCommandError(
                f"no ID token in ${name}: set it, or drop --token-env and {LOGIN_FIX}", 401
            )
        return token

    return read


def choose(token_file: str | None, token_env: str | None) -> TokenSource:
    """Return the source the flags name: file, variable, `$TIPB_ID_TOKEN` if set, else the signed-in user."""
    if token_file:
        return from_file(Path(token_file))
    if token_env:
        return from_env(token_env)
    if os.environ.get(DEFAULT_TOKEN_ENV):
        return from_env(DEFAULT_TOKEN_ENV)
    return SignedInUser()
