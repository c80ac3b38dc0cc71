"""FastAPI dependencies as Annotated aliases: the running services and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from service.broker import Broker
from service.domain.errors import InvalidTokenError
from service.domain.identity import Caller
from service.domain.ports import CredentialStore, TokenVerifier
from service.metrics import Metrics


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


async def get_services(request: Request) -> Services:
    """Return the application's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_caller(request: Request) -> Caller:
    """Return the caller proven by the Authorization header, or raise 401 invalid_token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("send the ID token as 'Authorization: Bearer <token>'")
    services: Services = request.app.state.services
    return await services.broker.authenticate(token.strip())


CallerDep = Annotated[Caller, Depends(get_caller)]
