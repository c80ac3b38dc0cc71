"""Several OIDC issuers behind one `TokenVerifier`: the unverified ``iss`` picks the issuer's own verifier."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

from service.adapters.oidc.policy import RejectedError, reject
from service.adapters.oidc.token_format import TOKEN_SHAPE, b64url_decode
from service.adapters.oidc.verifier import JwksTokenVerifier, token_digest
from service.domain.errors import InvalidTokenError
from service.domain.identity import Caller

logger = logging.getLogger("service.oidc")

# Tokens whose verifier is remembered (by SHA-256, after a successful verification): as many as the
# verifiers' own caches of verified tokens hold, about 150 bytes each.
ROUTED_TOKENS = 10_000


class IssuerRouter:
    """Verifies tokens of several issuers: the unverified ``iss`` only picks the issuer's own verifier.

    Nothing is trusted from the unverified payload: the chosen verifier checks the signature with that
    issuer's keys and the issuer again. A token naming no configured issuer is refused before any key
    fetch, so it cannot make the broker call out.
    """

    def __init__(self, verifiers: Sequence[JwksTokenVerifier], routed_tokens: int = ROUTED_TOKENS) -> None:
        if not verifiers:
            raise ValueError("at least one OIDC issuer is required")
        self._verifiers = {v.policy.issuer: v for v in verifiers}
        if len(self._verifiers) != len(verifiers):
            raise ValueError("OIDC issuers must be distinct")
        self._max_token_bytes = max(v.policy.max_token_bytes for v in verifiers)
        self._routed: dict[str, JwksTokenVerifier] = {}
        self._routed_tokens = routed_tokens

    @property
    def verifiers(self) -> list[JwksTokenVerifier]:
        """Return the per-issuer verifiers."""
        return list(self._verifiers.values())

    @property
    def keys_loaded(self) -> bool:
        """Return whether every issuer's key set was loaded (readiness)."""
        return all(v.keys_loaded for v in self._verifiers.values())

    @property
    def keys_stale(self) -> bool:
        """Return whether any issuer's last key refresh failed while its older keys serve."""
        return any(v.keys_stale for v in self._verifiers.values())

    async def load(self) -> None:
        """Fetch every issuer's key set now; failures are logged, not raised."""
        await asyncio.gather(*(v.load() for v in self._verifiers.values()))

    async def aclose(self) -> None:
        """Cancel background key refreshes."""
        for verifier in self._verifiers.values():
            await verifier.aclose()

    async def verify(self, token: str) -> Caller:
        """Return the caller of a valid ID token of one of the configured issuers.

        Raises:
            InvalidTokenError, UpstreamUnavailableError: as ``JwksTokenVerifier.verify``.
        """
        digest = token_digest(token) if isinstance(token, str) else None
        verifier = self._routed.get(digest) if digest else None
        if verifier is not None:  # verified before: the same verifier answers from its cache
            return await verifier.verify(token, digest=digest)
        try:
            verifier = self._verifiers.get(self._unverified_issuer(token))
            if verifier is None:
                reject("unknown_issuer", "token issuer is not trusted")
        except RejectedError as rejection:
            logger.info("token.rejected", extra={"reason": rejection.reason, "detail": rejection.detail})
            raise InvalidTokenError(rejection.detail) from None
        caller = await verifier.verify(token, digest=digest)
        if digest is not None:
            if len(self._routed) >= self._routed_tokens:
                del self._routed[next(iter(self._routed))]
            self._routed[digest] = verifier
        return caller

    def _unverified_issuer(self, token: str) -> str:
        if not isinstance(token, str) or not token:
            reject("token_missing", "bearer token is missing")
        if len(token) > self._max_token_bytes:
            reject("token_too_large", f"token is larger than {self._max_token_bytes} bytes")
        if not TOKEN_SHAPE.fullmatch(token):
            reject("malformed", "token is not three base64url segments")
        try:
            issuer = json.loads(b64url_decode(token.split(".")[1])).get("iss")
        except (ValueError, RecursionError, AttributeError):
            reject("malformed_payload", "token payload is not a JSON object")
        if not isinstance(issuer, str):
            reject("wrong_issuer", "token issuer is not trusted")
        return issuer
