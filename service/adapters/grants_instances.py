"""Which S3 Access Grants instance serves a bucket: GetAccessGrantsInstanceForPrefix, cached per bucket."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.aws_errors import error_code
from service.adapters.bucket_regions import BucketRegions
from service.adapters.ttl_cache import TtlCache
from service.domain.access import S3Target
from service.domain.credentials import TemporaryCredentials

logger = logging.getLogger("service.grants_instances")

GET_INSTANCE_FOR_PREFIX: Final = "GetAccessGrantsInstanceForPrefix"
# As the boto3 Access Grants plugin's account resolver: one hour per bucket, at most 1000 buckets.
INSTANCE_TTL_SECONDS: Final = 3600
FALLBACK_TTL_SECONDS: Final = 60
MAX_BUCKETS: Final = 1000
_INSTANCE_ARN: Final = re.compile(r"^arn:[a-z\-]+:s3:([a-z0-9\-]+):(\d{12}):access-grants/[A-Za-z0-9\-]+$")

Signer = Callable[[TemporaryCredentials], AbstractContextManager[Any]]


@dataclass(frozen=True, slots=True)
class GrantsInstance:
    """Where an Access Grants instance lives: the owning account and its region."""

    account_id: str
    region: str


def parse_instance_arn(arn: str) -> GrantsInstance | None:
    """Return the account and region of ``arn:aws:s3:REGION:ACCOUNT:access-grants/default``, or None."""
    match = _INSTANCE_ARN.fullmatch(arn)
    return GrantsInstance(account_id=match.group(2), region=match.group(1)) if match else None


class InstanceLocator:
    """Resolves the instance for a target in its bucket's region; the configured account is the fallback."""

    def __init__(
        self,
        s3control_in: Callable[[str], Any],
        signer: Signer,
        regions: BucketRegions,
        *,
        caller_account_id: str,
        fallback_account_id: str,
    ) -> None:
        self._s3control_in = s3control_in
        self._signed_as = signer
        self.regions = regions
        self._caller_account_id = caller_account_id or fallback_account_id
        self._fallback_account_id = fallback_account_id
        self._cache: TtlCache[str, GrantsInstance] = TtlCache(INSTANCE_TTL_SECONDS, MAX_BUCKETS)

    def locate(self, session: TemporaryCredentials, target: S3Target) -> GrantsInstance:
        """Return the instance serving ``target`` (blocking on a miss), asked as the caller's session."""
        bucket = target.bucket
        cached = self._cache.get(bucket)
        if cached is not None:
            return cached
        region = self.regions.region_of(bucket)
        found = self._ask(session, target, region)
        if found is None:
            fallback = GrantsInstance(self._fallback_account_id, region)
            self._cache.put(bucket, fallback, FALLBACK_TTL_SECONDS)
            return fallback
        self._cache.put(bucket, found)
        return found

    def client_for(self, instance: GrantsInstance) -> Any:
        """Return the s3control client of the instance's region."""
        return self._s3control_in(instance.region)

    def _ask(self, session: TemporaryCredentials, target: S3Target, region: str) -> GrantsInstance | None:
        try:
            with self._signed_as(session):
                response = self._s3control_in(region).get_access_grants_instance_for_prefix(
                    AccountId=self._caller_account_id, S3Prefix=target.uri
                )
        except (ClientError, BotoCoreError) as error:
            code = error_code(error) if isinstance(error, ClientError) else type(error).__name__
            logger.info("grants_instance.fallback", extra={"bucket": target.bucket, "error": code})
            return None
        instance = parse_instance_arn(str(response.get("AccessGrantsInstanceArn", "")))
        if instance is None:
            logger.warning("grants_instance.bad_arn", extra={"bucket": target.bucket})
        return instance
