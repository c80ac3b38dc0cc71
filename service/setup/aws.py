"""The setup tool's boto3 clients, and calls whose failures name the resource and the operation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.aws_clients import strip_account_prefix

_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=30)


class AwsCallError(Exception):
    """An AWS call failed: which resource, which operation, and what AWS said, on one line."""

    def __init__(self, resource: str, service: str, operation: str, code: str, message: str) -> None:
        self.resource = resource
        self.service = service
        self.operation = operation
        self.code = code
        super().__init__(f"{resource}: {service} {operation} failed: {code}: {message}")


@dataclass
class Clients:
    """One client per service the setup touches, in one region, and the account they act in."""

    sso_admin: Any
    identitystore: Any
    iam: Any
    s3control: Any
    sts: Any
    region: str
    endpoint_url: str | None

    @classmethod
    def build(cls, region: str | None, profile: str | None = None) -> Clients:
        """Create the clients from the standard credential chain (``profile`` or the environment)."""
        region = region or os.environ.get("AWS_REGION") or None
        try:
            session = boto3.session.Session(profile_name=profile, region_name=region)
        except BotoCoreError as exc:  # an unknown --profile, a broken config file
            raise AwsCallError("setup", "config", "profile", type(exc).__name__, str(exc)) from None
        chosen = session.region_name
        if not chosen:
            raise AwsCallError(
                "setup", "config", "region", "NoRegion", "set region: in the file, AWS_REGION or a profile"
            )
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or None

        def client(name: str) -> Any:
            return session.client(name, region_name=chosen, config=_CONFIG, endpoint_url=endpoint)

        s3control = client("s3control")
        if endpoint is not None:
            # docs/aws.md#s3-control-wire: the account prefix would make the emulator's host unresolvable.
            s3control.meta.events.register("before-sign.s3-control", strip_account_prefix)
        return cls(
            sso_admin=client("sso-admin"),
            identitystore=client("identitystore"),
            iam=client("iam"),
            s3control=s3control,
            sts=client("sts"),
            region=chosen,
            endpoint_url=endpoint,
        )


def _service(client: Any) -> str:
    return str(client.meta.service_model.service_name)


def call(resource: str, client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """Call ``operation`` (its AWS name, e.g. ``CreateApplication``) and return the answer.

    Raises:
        AwsCallError: AWS refused or could not be reached.
    """
    method = getattr(client, xform_name(operation))
    try:
        answer: dict[str, Any] = method(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsCallError(
            resource,
            _service(client),
            operation,
            str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")),
            str(error.get("Message") or "no message"),
        ) from None
    except BotoCoreError as exc:
        raise AwsCallError(resource, _service(client), operation, type(exc).__name__, str(exc)) from None
    return answer


def absent(exc: AwsCallError, *codes: str) -> bool:
    """Return True when the failure only says the resource does not exist."""
    return exc.code in codes or exc.code.endswith(("NotFoundException", "NotFound", "NoSuchEntity"))


def pages(resource: str, client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    """Yield every item under ``key`` across the pages of a list operation.

    Raises:
        AwsCallError: AWS refused or could not be reached.
    """
    marker_in, marker_out = ("Marker", "Marker") if _service(client) == "iam" else ("NextToken", "NextToken")
    token: str | None = None
    while True:
        answer = call(resource, client, operation, **params, **({marker_in: token} if token else {}))
        yield from answer.get(key) or []
        token = answer.get(marker_out)
        if not token or (_service(client) == "iam" and not answer.get("IsTruncated")):
            return


def tags_of(answer: dict[str, Any]) -> dict[str, str]:
    """Return a ``Tags: [{Key, Value}]`` answer as a dict."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in answer.get("Tags") or []}
