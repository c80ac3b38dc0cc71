"""Hot routes: valid requests answered without FastAPI's per-request dependency solving, errors by FastAPI."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import fastapi.routing
from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from pydantic import BaseModel, ValidationError

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])
Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# The Content-Type values the one-pass parse takes; any other goes the standard way (FastAPI decides).
JSON_TYPES = frozenset(
    {"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"}
)


def _request_only(dependency: Dependant) -> bool:
    """Whether ``dependency`` is an ``async def f(request: Request)`` with nothing else to solve."""
    return (
        dependency.request_param_name is not None
        and inspect.iscoroutinefunction(dependency.call)
        and not (
            dependency.path_params
            or dependency.query_params
            or dependency.header_params
            or dependency.cookie_params
            or dependency.body_params
            or dependency.dependencies
        )
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to call one endpoint: its body model, its request-only dependencies and its query parameters."""

    endpoint: Callable[..., Awaitable[Response]]
    body_name: str
    body_model: type[BaseModel]
    # (parameter name, dependency); a router's dependency has no parameter: called, its value unused.
    dependencies: tuple[tuple[str | None, Callable[[Request], Awaitable[Any]]], ...]
    query_params: list[Any]  # FastAPI's fields of the query parameters
    query_defaults: dict[str, Any] | None  # None: a query parameter is required

    @classmethod
    def of(cls, dependant: Dependant) -> _Plan:
        """Return the plan of ``dependant``, or raise TypeError for a signature the fast path cannot serve."""
        body = dependant.body_params[0] if len(dependant.body_params) == 1 else None
        model = body.field_info.annotation if body is not None else None
        unsupported = [
            name
            for name, present in (
                ("one JSON model body", not (isinstance(model, type) and issubclass(model, BaseModel))),
                ("no path parameters", bool(dependant.path_params)),
                ("no header or cookie parameters", bool(dependant.header_params or dependant.cookie_params)),
                ("no request, response, background tasks or security scopes parameter", _extras(dependant)),
                ("only request-only async dependencies", not all(map(_request_only, dependant.dependencies))),
                ("an async endpoint", not inspect.iscoroutinefunction(dependant.call)),
            )
            if present
        ]
        if (
            unsupported
            or body is None
            or dependant.call is None
            or not (isinstance(model, type) and issubclass(model, BaseModel))
        ):
            raise TypeError(f"a hot route needs {', '.join(unsupported)}")
        defaults, missing = request_params_to_args(dependant.query_params, {})
        return cls(
            endpoint=dependant.call,
            body_name=body.name,
            body_model=model,
            dependencies=tuple((sub.name, sub.call) for sub in dependant.dependencies),  # type: ignore[misc]
            query_params=dependant.query_params,
            query_defaults=None if missing else defaults,
        )


def _extras(dependant: Dependant) -> bool:
    return any(
        name is not None
        for name in (
            dependant.request_param_name,
            dependant.websocket_param_name,
            dependant.http_connection_param_name,
            dependant.response_param_name,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
        )
    )


class HotRoute(fastapi.routing.APIRoute):
    """An APIRoute whose valid requests skip ``solve_dependencies`` (docs/architecture.md#hot-routes).

    The endpoint keeps its FastAPI signature, so OpenAPI is generated from it as for any route. A request
    with a JSON body that the body model accepts in one pass (``model_validate_json``) and valid query
    parameters calls the endpoint directly, each dependency called with the request. Anything else (another
    Content-Type, an invalid body or query, dependency overrides) is handed to FastAPI's own handler, so
    every error answer is FastAPI's, unchanged.
    """

    def get_route_handler(self) -> Handler:
        """Return the fast handler, falling back to FastAPI's for the requests it does not take."""
        standard = super().get_route_handler()
        route = _effective_route(self)
        plan = _Plan.of(route.dependant)
        provider = route.dependency_overrides_provider

        async def handle(request: Request) -> Response:
            if getattr(provider, "dependency_overrides", None):
                return await standard(request)
            if request.headers.get("content-type") not in JSON_TYPES:
                return await standard(request)
            try:
                body = plan.body_model.model_validate_json(await request.body())
            except ValidationError:
                return await standard(request)
            values: dict[str, Any]
            if not request.scope.get("query_string") and plan.query_defaults is not None:
                values = dict(plan.query_defaults)
            else:
                values, errors = request_params_to_args(plan.query_params, request.query_params)
                if errors:
                    return await standard(request)
            values[plan.body_name] = body
            for name, dependency in plan.dependencies:
                value = await dependency(request)
                if name is not None:
                    values[name] = value
            response = await plan.endpoint(**values)
            if not isinstance(response, Response):
                raise TypeError(f"{self.path}: a hot route's endpoint returns a Response")
            return response

        return handle


def _effective_route(route: HotRoute) -> Any:
    """The route as included in the app (its dependant may carry the including router's dependencies).

    FastAPI's own ``get_route_handler`` looks it up the same way when a router is included.
    """
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    context = context_var.get() if context_var is not None else None
    return context if context is not None and getattr(context, "original_route", None) is route else route


def hot_post(router: APIRouter, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """Register the decorated endpoint as ``POST path`` on ``router``, served by a HotRoute."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(path, endpoint, methods=["POST"], route_class_override=HotRoute, **options)
        return endpoint

    return register
