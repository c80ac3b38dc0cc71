"""FastAPI dependencies as Annotated aliases: the running services and the authenticated caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from service.api.shutdown import Drain
from service.broker import Broker
from service.doctor.model import Check
from service.domain.cache_sizes import CacheSizes
from service.domain.errors import InvalidTokenError
from service.domain.identity import Caller
from service.domain.ports import CredentialStore, TokenVerifier
from service.metrics import Metrics

CALLER_STATE_KEY = "caller"


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes need, built once by ``create_app`` and kept on ``app.state.services``."""

    broker: Broker
    verifier: TokenVerifier
    store: CredentialStore
    metrics: Metrics
    region: str
    configuration_problems: tuple[str, ...] = ()
    issuer: str = ""
    admin_token: str | None = None
    # The doctor's configuration checks (/readyz): None when not wired (tests with fake adapters).
    doctor: Callable[[], Awaitable[list[Check] | None]] | None = None
    drain: Drain = field(default_factory=Drain)
    # How many serialized answers the hot routes keep for cached credentials served again.
    answers_kept: int = CacheSizes().serialized_answers


async def get_services(request: Request) -> Services:
    """Return the application's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_token(authorization: str) -> str:
    """Return the token of an ``Authorization: Bearer <token>`` value, or raise 401 invalid_token."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("send the ID token as 'Authorization: Bearer <token>'")
    return token.strip()


async def get_caller(request: Request) -> Caller:
    """Return the caller the limits middleware verified before the body was read.

    Verifies the Authorization header here only when no middleware did (an app mounted without it).
    """
    caller = request.scope.get("state", {}).get(CALLER_STATE_KEY)
    if isinstance(caller, Caller):
        return caller
    services: Services = request.app.state.services
    return await services.broker.authenticate(bearer_token(request.headers.get("authorization", "")))


CallerDep = Annotated[Caller, Depends(get_caller)]
