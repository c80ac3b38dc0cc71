"""The signed-in user's tokens on disk (0600 file in a 0700 directory under the user's config dir), and
the ID token they yield: refreshed with the issuer's refresh token when it nears expiry."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from service.clients.errors import ClientCommandError

STORE_FILE = "tokens.json"
# Refresh an ID token with less than this left: it must outlive the broker's verification of it.
REFRESH_MARGIN_SECONDS = 300
LOGIN_FIX = (
    "run `tip-broker login` (with --issuer and --client-id, or TIP_BROKER_ISSUER and TIP_BROKER_CLIENT_ID)"
)


def config_dir() -> Path:
    """Return `$XDG_CONFIG_HOME/tip-broker`, else `~/.config/tip-broker`."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tip-broker"


def jwt_expiry(token: str) -> float | None:
    """Return the `exp` claim of a JWT without verifying it (the broker verifies), None when unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


@dataclass
class StoredTokens:
    """What `tip-broker login` keeps: where to refresh, and the issuer's tokens."""

    issuer: str
    client_id: str
    token_endpoint: str
    id_token: str
    refresh_token: str | None
    access_token: str | None
    expires_at: float

    def id_token_expires_at(self) -> float:
        """Return when the ID token stops being usable: its `exp`, or the issuer's `expires_in` if sooner."""
        exp = jwt_expiry(self.id_token)
        return min(self.expires_at, exp) if exp is not None else self.expires_at


class TokenStore:
    """One JSON file of tokens, written atomically and readable by its owner only."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / STORE_FILE

    def load(self) -> StoredTokens | None:
        """Return the stored tokens, None when nobody is signed in."""
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ClientCommandError(
                f"cannot read the token file {self.path} ({type(exc).__name__}): remove it and {LOGIN_FIX}",
                401,
            ) from None
        try:
            return StoredTokens(**data)
        except TypeError:
            raise ClientCommandError(
                f"the token file {self.path} is not one tip-broker wrote: remove it and {LOGIN_FIX}", 401
            ) from None

    def save(self, tokens: StoredTokens) -> None:
        """Write the tokens: directory 0700, file 0600 from its creation, replaced atomically."""
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
        # mkstemp creates the file 0600, so the tokens are never readable by others, even briefly.
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tokens-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(asdict(tokens), handle)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def delete(self) -> bool:
        """Remove the token file; return whether there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def refresh(tokens: StoredTokens, http: httpx.Client) -> StoredTokens:
    """Return new tokens from the issuer's token endpoint (refresh_token grant)."""
    if not tokens.refresh_token:
        raise ClientCommandError(f"your ID token has expired and there is no refresh token: {LOGIN_FIX}", 401)
    try:
        response = http.post(
            tokens.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "client_id": tokens.client_id,
                "refresh_token": tokens.refresh_token,
            },
        )
    except httpx.HTTPError as exc:
        raise ClientCommandError(
            f"cannot reach the issuer's token endpoint {tokens.token_endpoint} to refresh your sign-in "
            f"({type(exc).__name__}): check the network, or {LOGIN_FIX}",
            503,
        ) from None
    if response.status_code != 200:
        error = oauth_error(response)
        raise ClientCommandError(
            f"your sign-in has expired (the issuer refused the refresh token: {error}): {LOGIN_FIX}", 401
        )
    body = response.json()
    return StoredTokens(
        issuer=tokens.issuer,
        client_id=tokens.client_id,
        token_endpoint=tokens.token_endpoint,
        id_token=str(body["id_token"]),
        # Cognito keeps the refresh token unless rotation is on; a rotated one replaces it.
        refresh_token=str(body.get("refresh_token") or tokens.refresh_token),
        access_token=body.get("access_token"),
        expires_at=time.time() + float(body.get("expires_in", 3600)),
    )


def oauth_error(response: httpx.Response) -> str:
    """Return the OAuth ``error`` of a refused token request, or its HTTP status when it has none."""
    try:
        return str(response.json().get("error") or f"HTTP {response.status_code}")
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"


class SignedInUser:
    """The ID token of whoever `tip-broker login` signed in, refreshed when it nears expiry."""

    def __init__(self, store: TokenStore | None = None, http: httpx.Client | None = None) -> None:
        self.store = store or TokenStore()
        self._http = http or httpx.Client(timeout=10)

    def __call__(self) -> str:
        """Return a usable ID token (a token source)."""
        return self.id_token()

    def renew(self) -> str:
        """Return a new ID token from the issuer now, whatever the current one's expiry (and save it)."""
        return self._id_token(force=True)

    def id_token(self) -> str:
        """Return a usable ID token, refreshing (and saving) it first when needed."""
        return self._id_token(force=False)

    def _id_token(self, *, force: bool) -> str:
        tokens = self.store.load()
        if tokens is None:
            raise ClientCommandError(f"not signed in (no {self.store.path}): {LOGIN_FIX}", 401)
        if not force and tokens.id_token_expires_at() - time.time() > REFRESH_MARGIN_SECONDS:
            return tokens.id_token
        fresh = refresh(tokens, self._http)
        self.store.save(fresh)
        return fresh.id_token
