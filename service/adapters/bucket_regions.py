"""Bucket region discovery: S3 ``HeadBucket``'s ``x-amz-bucket-region`` header, cached per bucket."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from service.adapters.ttl_cache import TtlCache

logger = logging.getLogger("service.bucket_regions")

REGION_HEADER: Final = "x-amz-bucket-region"
# As the boto3 Access Grants plugin: a bucket's region rarely changes, an hour is cheap to be wrong for.
REGION_TTL_SECONDS: Final = 3600
# A failed lookup is retried sooner, and the default region is used meanwhile.
FAILED_TTL_SECONDS: Final = 60
MAX_BUCKETS: Final = 1000


class BucketRegions:
    """Finds the region of a bucket with HeadBucket (signed by the broker's own identity), cached."""

    def __init__(
        self,
        s3_client: Callable[[], Any],
        default_region: str,
        cache: TtlCache[str, str] | None = None,
    ) -> None:
        self._s3 = s3_client
        self.default_region = default_region
        self._cache: TtlCache[str, str] = cache or TtlCache(REGION_TTL_SECONDS, MAX_BUCKETS)

    def known(self, bucket: str) -> str | None:
        """Return the cached region of ``bucket`` without any I/O, or None."""
        return self._cache.get(bucket)

    def region_of(self, bucket: str) -> str:
        """Return the region of ``bucket`` (blocking HeadBucket on a miss; the default region on failure)."""
        cached = self._cache.get(bucket)
        if cached is not None:
            return cached
        region = self._head(bucket)
        if region is None:
            self._cache.put(bucket, self.default_region, FAILED_TTL_SECONDS)
            return self.default_region
        self._cache.put(bucket, region)
        return region

    def _head(self, bucket: str) -> str | None:
        # AWS sends the header on 200, and on the 301/400/403 of a wrong region or a denied caller.
        try:
            response = self._s3().head_bucket(Bucket=bucket)
        except ClientError as error:
            response = error.response
        except BotoCoreError as error:
            logger.warning("bucket_region.failed", extra={"bucket": bucket, "error": type(error).__name__})
            return None
        headers: dict[str, str] = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        region = headers.get(REGION_HEADER) or response.get("BucketRegion")
        if not region:
            logger.warning("bucket_region.unknown", extra={"bucket": bucket})
            return None
        return str(region)
