"""The broker's boto3 clients, built once per process: sso-oidc, sts and s3control.

sso-oidc and sts are signed by the broker's own identity (the standard botocore credential chain);
s3control is signed per call by the identity-enhanced session of the user it acts for (``signed_as``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from service.domain.credentials import TemporaryCredentials

# s3control is never signed with these: the before-sign hook swaps in the session's credentials or
# refuses to sign. Static values only keep client creation away from the credential chain.
_PLACEHOLDER_KEY: Final = "tip-broker-unsigned"


class AwsClients:
    """The three AWS clients the adapters share, plus per-call signing for s3control."""

    def __init__(self, *, sso_oidc: Any, sts: Any, s3control: Any, endpoint_url: str | None) -> None:
        self.sso_oidc = sso_oidc
        self.sts = sts
        self.s3control = s3control
        self.endpoint_url = endpoint_url
        self._local = threading.local()
        s3control.meta.events.register("before-sign.s3-control", self._use_session_credentials)
        if endpoint_url is not None:
            s3control.meta.events.register("before-sign.s3-control", strip_account_prefix)

    @classmethod
    def build(
        cls,
        region: str,
        endpoint_url: str | None,
        *,
        connect_timeout: float = 2,
        read_timeout: float = 5,
        max_attempts: int = 3,
        max_pool_connections: int = 32,
    ) -> AwsClients:
        """Create one session and the three clients; ``endpoint_url`` None means real AWS."""
        core = botocore.session.get_session()
        # Regional STS endpoints keep the call inside the region (and its failure domain); set it
        # explicitly so an AWS_STS_REGIONAL_ENDPOINTS=legacy in the environment cannot change it.
        core.set_config_variable("sts_regional_endpoints", "regional")
        session = boto3.session.Session(botocore_session=core, region_name=region)
        config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max_pool_connections,
        )
        # CreateTokenWithIAM is never retried by botocore: after a read timeout or a 5xx the assertion may
        # have been consumed, and resending it would be refused as a replay (one exchange per jti).
        once = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
        return cls(
            sso_oidc=session.client("sso-oidc", config=once, endpoint_url=endpoint_url),
            sts=session.client("sts", config=config, endpoint_url=endpoint_url),
            s3control=session.client(
                "s3control",
                config=config,
                aws_access_key_id=_PLACEHOLDER_KEY,
                aws_secret_access_key=_PLACEHOLDER_KEY,
                endpoint_url=endpoint_url,
            ),
            endpoint_url=endpoint_url,
        )

    @contextmanager
    def signed_as(self, credentials: TemporaryCredentials) -> Iterator[None]:
        """Sign every s3control call made by this thread inside the block with ``credentials``."""
        previous = getattr(self._local, "credentials", None)
        self._local.credentials = credentials
        try:
            yield
        finally:
            self._local.credentials = previous

    def _use_session_credentials(self, request: AWSRequest, **_: Any) -> None:
        credentials: TemporaryCredentials | None = getattr(self._local, "credentials", None)
        if credentials is None:
            # Signing with the placeholders would only earn an opaque 403; fail loudly instead.
            raise RuntimeError("s3control call made outside AwsClients.signed_as(): no session credentials")
        request.context.setdefault("signing", {})["request_credentials"] = Credentials(
            credentials.access_key_id, credentials.secret_access_key, credentials.session_token
        )


def strip_account_prefix(request: AWSRequest, **_: Any) -> None:
    """Drop the ``{AccountId}.`` host prefix botocore puts in front of a custom endpoint.

    The prefix comes from the s3control endpoint rule set, so ``inject_host_prefix=False`` does not
    remove it, and ``111122223333.127.0.0.1`` does not resolve (reference §3.1). Registered on
    ``before-sign`` so the rewritten host is the one that gets signed.
    """
    account = request.headers.get("x-amz-account-id")
    if isinstance(account, bytes):
        account = account.decode()
    parts = urlsplit(str(request.url))
    if isinstance(account, str) and account and parts.netloc.startswith(account + "."):
        request.url = urlunsplit(parts._replace(netloc=parts.netloc[len(account) + 1 :]))
