"""The broker's operations without I/O: what to send, and how to read the answer (shared by both clients)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from tip_broker_client._version import __version__
from tip_broker_client.errors import BrokerUnavailableError, error_from_response
from tip_broker_client.models import (
    BatchItemError,
    Credentials,
    Grant,
    Identity,
    Permission,
    PresignedPost,
    PresignedUrl,
    PresignItem,
    Privilege,
)

T = TypeVar("T")
USER_AGENT = f"tip-broker-client/{__version__}"


@dataclass(frozen=True)
class Operation(Generic[T]):
    """One HTTP call of the v1 API and the parser of its success answer (None for 204)."""

    method: str
    path: str
    parse: Callable[[Any], T]
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)


def request_headers(token: str) -> dict[str, str]:
    """Return the headers of an authenticated call."""
    return {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, "Accept": "application/json"}


def read_answer(operation: Operation[T], response: httpx.Response, base_url: str) -> T:
    """Return the parsed success answer, or raise the error the answer stands for."""
    if response.is_success:
        return operation.parse(response.json() if response.status_code != 204 else None)
    raise error_from_response(response, base_url)


def unreachable(exc: httpx.TransportError, base_url: str) -> BrokerUnavailableError:
    """Return the error of a call that got no answer (connection refused, timeout, TLS, protocol)."""
    return BrokerUnavailableError(f"cannot reach the broker at {base_url}: {type(exc).__name__}: {exc}")


def _nothing(_: Any) -> None:
    return None


def get_credentials(
    target: str,
    permission: Permission,
    duration_seconds: int | None,
    privilege: Privilege | None,
) -> Operation[Credentials]:
    """POST /v1/credentials."""
    body: dict[str, Any] = {"target": target, "permission": permission}
    if duration_seconds is not None:
        body["duration_seconds"] = duration_seconds
    if privilege is not None:
        body["privilege"] = privilege
    return Operation("POST", "/v1/credentials", Credentials.from_json, body)


def presign_url(item: PresignItem) -> Operation[PresignedUrl]:
    """POST /v1/presign."""
    return Operation("POST", "/v1/presign", PresignedUrl.from_json, item.to_json())


def _batch_results(data: Any) -> list[PresignedUrl | BatchItemError]:
    return [
        BatchItemError(code=result["error"]["code"], detail=result["error"]["detail"])
        if "error" in result
        else PresignedUrl.from_json(result)
        for result in data["results"]
    ]


def presign_batch(items: Sequence[PresignItem]) -> Operation[list[PresignedUrl | BatchItemError]]:
    """POST /v1/presign/batch."""
    return Operation("POST", "/v1/presign/batch", _batch_results, {"items": [i.to_json() for i in items]})


def presign_post(
    bucket: str,
    *,
    key: str | None,
    key_prefix: str | None,
    content_type: str | None,
    max_bytes: int | None,
    expires_in: int,
) -> Operation[PresignedPost]:
    """POST /v1/presign/post."""
    body: dict[str, Any] = {"bucket": bucket, "expires_in": expires_in}
    optional = {"key": key, "key_prefix": key_prefix, "content_type": content_type, "max_bytes": max_bytes}
    body.update({name: value for name, value in optional.items() if value is not None})
    return Operation("POST", "/v1/presign/post", PresignedPost.from_json, body)


def _grants(data: Any) -> list[Grant]:
    return [
        Grant(
            grant_scope=g["grant_scope"], permission=g["permission"], application_arn=g.get("application_arn")
        )
        for g in data["grants"]
    ]


def list_grants(prefix: str | None) -> Operation[list[Grant]]:
    """GET /v1/grants."""
    return Operation("GET", "/v1/grants", _grants, params={"prefix": prefix} if prefix is not None else {})


def get_me() -> Operation[Identity]:
    """GET /v1/me."""
    return Operation("GET", "/v1/me", Identity.from_json)


def sign_out() -> Operation[None]:
    """DELETE /v1/session."""
    return Operation("DELETE", "/v1/session", _nothing)
