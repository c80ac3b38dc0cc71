"""The broker's boto3 clients, built once per process: sso-oidc, sts, s3control and s3, per region.

sso-oidc, sts and s3 (HeadBucket) are signed by the broker's own identity (the standard botocore credential
chain); s3control is signed per call by the identity-enhanced session of the user it acts for
(``signed_as``). Clients for other regions are built on first use and kept, one per (service, region).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from service.adapters.aws_metrics import AwsCallTimer
from service.adapters.upstream_breakers import UpstreamBreakers
from service.domain.credentials import TemporaryCredentials

# s3control is never signed with these: the before-sign hook swaps in the session's credentials or
# refuses to sign. Static values only keep client creation away from the credential chain.
_PLACEHOLDER_KEY: Final = "tip-broker-unsigned"

CONNECT_TIMEOUT_SECONDS: Final = 2.0
READ_TIMEOUT_SECONDS: Final = 5.0
MAX_ATTEMPTS: Final = 3
# botocore's standard retry mode sleeps rand(0, 1) * min(2 ** i, 20) s before retry i (full jitter,
# exponential), raised by an x-amz-retry-after header to at most 5 s more; its retry quota (per client, so
# per replica) stops retrying after repeated failures, and the operation's circuit breaker refuses every
# attempt, first or retry, while it is open (docs/operations.md#upstream-circuit-breakers).
_MAX_BACKOFF_SECONDS: Final = 20.0
_RETRY_AFTER_EXTRA_SECONDS: Final = 5.0


def worst_call_seconds(
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
) -> float:
    """Return the longest one retried AWS call can take with these settings (every attempt timing out).

    The shutdown drain is compared with it (docs/operations.md#shutdown-and-probes).
    """
    retries = range(max_attempts - 1)
    backoff = sum(min(2.0**retry, _MAX_BACKOFF_SECONDS) + _RETRY_AFTER_EXTRA_SECONDS for retry in retries)
    return max_attempts * (connect_timeout + read_timeout) + backoff


ClientFactory = Callable[[str, str], Any]


class AwsClients:
    """The AWS clients the adapters share, plus per-call signing for s3control."""

    def __init__(
        self,
        *,
        sso_oidc: Any,
        sts: Any,
        s3control: Any,
        endpoint_url: str | None,
        factory: ClientFactory | None = None,
    ) -> None:
        self.sso_oidc = sso_oidc
        self.sts = sts
        self.s3control = s3control
        self.endpoint_url = endpoint_url
        self.region: str = s3control.meta.region_name
        self._factory = factory
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._local = threading.local()
        self._prepare_s3control(s3control)

    def _prepare_s3control(self, s3control: Any) -> None:
        s3control.meta.events.register("before-sign.s3-control", self._use_session_credentials)
        if self.endpoint_url is not None:
            s3control.meta.events.register("before-sign.s3-control", strip_account_prefix)

    def s3control_in(self, region: str) -> Any:
        """Return the s3control client of ``region`` (session-signed like ``s3control``)."""
        if region == self.region:
            return self.s3control
        return self.client("s3control", region)

    def client(self, service: str, region: str) -> Any:
        """Return the one ``service`` client of ``region``, building it on first use.

        Raises:
            RuntimeError: these clients were assembled without a factory (tests, benchmarks).
        """
        key = (service, region)
        found = self._clients.get(key)
        if found is not None:
            return found
        if self._factory is None:
            raise RuntimeError(f"no {service} client for {region}: AwsClients was built without a factory")
        with self._clients_lock:
            found = self._clients.get(key)
            if found is None:
                found = self._factory(service, region)
                if service == "s3control":
                    self._prepare_s3control(found)
                self._clients[key] = found
        return found

    @classmethod
    def build(
        cls,
        region: str,
        endpoint_url: str | None,
        *,
        idc_region: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        max_pool_connections: int = 32,
        timer: AwsCallTimer | None = None,
        breakers: UpstreamBreakers | None = None,
    ) -> AwsClients:
        """Create one session and the clients; ``endpoint_url`` None means real AWS.

        ``idc_region`` is Identity Center's region (sso-oidc), ``region`` the default for the others;
        ``timer`` times every call of every client built here; ``breakers`` gate and count every attempt.
        """
        core = botocore.session.get_session()
        if timer is not None:
            timer.register(core)
        if breakers is not None:
            breakers.register(core)
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
        # HeadBucket only reads the region header: s3v4, path style on an emulator, never retried.
        s3_config = config.merge(
            Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                retries={"mode": "standard", "total_max_attempts": 1},
            )
        )

        def factory(service: str, in_region: str) -> Any:
            if service == "s3control":
                return session.client(
                    "s3control",
                    region_name=in_region,
                    config=config,
                    aws_access_key_id=_PLACEHOLDER_KEY,
                    aws_secret_access_key=_PLACEHOLDER_KEY,
                    endpoint_url=endpoint_url,
                )
            chosen = s3_config if service == "s3" else config
            return session.client(service, region_name=in_region, config=chosen, endpoint_url=endpoint_url)

        return cls(
            sso_oidc=session.client(
                "sso-oidc", region_name=idc_region or region, config=once, endpoint_url=endpoint_url
            ),
            sts=factory("sts", region),
            s3control=factory("s3control", region),
            endpoint_url=endpoint_url,
            factory=factory,
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
    remove it, and ``111122223333.127.0.0.1`` does not resolve. Registered on
    ``before-sign`` so the rewritten host is the one that gets signed.
    """
    account = request.headers.get("x-amz-account-id")
    if isinstance(account, bytes):
        account = account.decode()
    parts = urlsplit(str(request.url))
    if isinstance(account, str) and account and parts.netloc.startswith(account + "."):
        request.url = urlunsplit(parts._replace(netloc=parts.netloc[len(account) + 1 :]))
