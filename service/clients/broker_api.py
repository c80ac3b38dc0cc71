"""The broker's credentials endpoint as the client commands call it, and its problem+json codes turned
into one line naming the cause and the fix."""

from __future__ import annotations

from typing import Any

import httpx

from service.clients.errors import ClientCommandError
from service.clients.token_sources import RenewableTokenSource, TokenSource
from service.clients.token_store import LOGIN_FIX

SIGN_IN_AGAIN = f"sign in again: {LOGIN_FIX}"


class BrokerCredentials:
    """Asks one broker for credentials to one target, with the caller's current ID token."""

    def __init__(
        self,
        broker_url: str,
        target: str,
        permission: str,
        token: TokenSource,
        *,
        duration_seconds: int | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.broker_url = broker_url.rstrip("/")
        self.target = target
        self.permission = permission
        self.token = token
        self.duration_seconds = duration_seconds
        self._http = http or httpx.Client(timeout=30)

    def fetch(self, output_format: str | None = None) -> dict[str, Any]:
        """Return the broker's JSON answer (`?format=credential_process` when asked)."""
        body: dict[str, Any] = {"target": self.target, "permission": self.permission}
        if self.duration_seconds:
            body["duration_seconds"] = self.duration_seconds
        response = self._post(body, output_format, self.token())
        if _code(response) == "token_state_lost" and isinstance(self.token, RenewableTokenSource):
            # The broker lost its record of the token (its cache restarted empty): a fresh ID token from
            # the issuer is served, so get one silently and ask once more.
            response = self._post(body, output_format, self.token.renew())
        if response.status_code == 200:
            try:
                answer: dict[str, Any] = response.json()
            except ValueError:
                answer = {}
            if not isinstance(answer, dict) or not answer:
                raise ClientCommandError(
                    f"{self.broker_url} answered 200 without a JSON object: is --broker-url the broker?", 502
                )
            return answer
        raise ClientCommandError(self.explain(response), _status_for_sdk(response.status_code))

    def _post(self, body: dict[str, Any], output_format: str | None, token: str) -> httpx.Response:
        url = f"{self.broker_url}/v1/credentials"
        try:
            return self._http.post(
                url,
                params={"format": output_format} if output_format else None,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise ClientCommandError(
                f"cannot reach the broker at {self.broker_url} ({type(exc).__name__}): "
                "check --broker-url and that the broker is running",
                502,
            ) from None

    def explain(self, response: httpx.Response) -> str:
        """Turn a refusal into one line: the broker's code and detail, then what to do about it."""
        try:
            problem = response.json()
            code, detail = str(problem.get("code")), str(problem.get("detail") or problem.get("title"))
        except (ValueError, AttributeError):
            return (
                f"the broker at {self.broker_url} answered HTTP {response.status_code} without a problem "
                "document: check --broker-url points at a tip-broker"
            )
        asked = f"{self.permission} on {self.target}"
        fixes = {
            "invalid_token": f"the broker refused your ID token ({detail}): {SIGN_IN_AGAIN}",
            "token_reused": f"your ID token was already used up ({detail}): {SIGN_IN_AGAIN}",
            "token_state_lost": f"the broker lost its record of your ID token ({detail}): "
            "give it a fresh ID token from your identity provider",
            "session_revoked": f"your session was signed out or revoked ({detail}): {SIGN_IN_AGAIN}",
            "access_denied": f"access denied ({detail}): pick a --target inside one of your grants "
            "(GET /v1/grants lists them) or ask for a grant",
            "scope_not_granted": f"the broker's application may not grant {asked} ({detail}): "
            "use --permission READ or ask the administrator to widen its access scope",
            "identity_not_mapped": f"your sign-in matches no directory user ({detail}): "
            "ask the administrator",
            "identity_conflict": f"your sign-in maps to another directory user than before ({detail}): "
            "ask the administrator",
            "invalid_request": f"the broker refused the request ({detail}): "
            "check --target, --permission and --duration-seconds",
            "rate_limited": f"too many requests ({detail}): retry after "
            f"{response.headers.get('retry-after', 'a few')} seconds",
        }
        if code in fixes:
            return fixes[code]
        if response.status_code >= 500:
            return (
                f"the broker could not serve credentials ({code}: {detail}): "
                "retry later, or tell its operator"
            )
        return f"the broker refused the request ({code}: {detail})"


def _code(response: httpx.Response) -> str | None:
    """Return the problem code of a refusal, or None."""
    if response.status_code < 400:
        return None
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _status_for_sdk(status: int) -> int:
    """Map a broker status to the agent's answer: SDKs retry 5xx, and a broker 5xx is a bad gateway."""
    if status >= 500:
        return 503 if status == 503 else 502
    return status
