"""S3 SigV4 presigned URLs and POST forms, byte-identical to botocore 1.44's, signed with the stdlib only."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta
from typing import Final

from service.adapters.s3_post_policy import post_form_fields
from service.adapters.s3_urls import AddressingStyle, S3Endpoint, quote_path, quote_query
from service.adapters.sigv4_keys import ALGORITHM as _ALGORITHM
from service.adapters.sigv4_keys import DEFAULT_CACHED_IDENTITIES, SigV4KeyRing, clock_second, put_headers
from service.adapters.sigv4_keys import EPOCH as _EPOCH
from service.adapters.sigv4_keys import SERVICE as _SERVICE
from service.domain.credentials import TemporaryCredentials
from service.domain.presign import PresignedPost, PresignedUrl

# SigV4 query auth: X-Amz-Expires is 1..604800 (docs/aws.md#presigned-urls); botocore does not check.
_MAX_EXPIRES_IN: Final = 604_800
# Bounded so a stream of distinct credentials cannot grow memory; entries hold secrets, memory only.
_REGION_CACHE_SIZE: Final = 64


class SigV4Presigner:
    """``UrlSigner``: presign S3 GET/PUT/HEAD/DELETE URLs and POST forms as botocore's s3v4 client does.

    Signs for its own region unless a call names another: then one sibling signer per region does it.
    """

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        addressing_style: AddressingStyle = "virtual",
        cached_identities: int = DEFAULT_CACHED_IDENTITIES,
    ) -> None:
        self._endpoint = S3Endpoint(region, endpoint_url, addressing_style)
        self._cached_identities = cached_identities
        self._region = region
        self._endpoint_url = endpoint_url
        self._addressing_style: AddressingStyle = addressing_style
        self._siblings: dict[str, SigV4Presigner] = {}
        self._scope_suffix = f"/{region}/{_SERVICE}/aws4_request"
        self._keys = SigV4KeyRing(region, cached_identities)
        self._lock = threading.Lock()

    def presign_url(
        self,
        credentials: TemporaryCredentials,
        *,
        method: str,
        bucket: str,
        key: str,
        expires_in: int,
        now: datetime,
        content_type: str | None = None,
        content_disposition: str | None = None,
        region: str | None = None,
    ) -> PresignedUrl:
        """Return a presigned URL for one object operation, valid ``expires_in`` seconds from ``now``.

        For GET/HEAD, ``content_type``/``content_disposition`` become ``response-content-*`` overrides;
        for PUT they become signed headers the uploader must send (returned in ``headers``). ``region`` is
        the bucket's region (None: this signer's).

        Raises:
            ValueError: on an unknown method, an empty key, an invalid bucket, ``expires_in`` outside
                1..604800, content overrides on DELETE, an invalid region, or a naive ``now``.
        """
        if region is not None and region != self._region:
            return self._in_region(region).presign_url(
                credentials,
                method=method,
                bucket=bucket,
                key=key,
                expires_in=expires_in,
                now=now,
                content_type=content_type,
                content_disposition=content_disposition,
            )
        if not 1 <= expires_in <= _MAX_EXPIRES_IN:
            raise ValueError("expires_in must be within 1..604800 seconds")
        if not key:
            raise ValueError("key must not be empty")
        amz_date, datestamp = self._keys.timestamp(now)
        identity = self._keys.identity(credentials, datestamp)
        location = self._endpoint.locate(bucket)

        headers: dict[str, str] = {}
        operation_query = ""
        sorted_operation_query = ""
        if method in {"GET", "HEAD"}:
            signed_headers = "host"
            signed_headers_query = "host"
            canonical_headers = f"host:{location.host}"
            if content_type is not None:
                encoded = quote_query(content_type)
                operation_query = f"response-content-type={encoded}&"
                sorted_operation_query = f"&response-content-type={encoded}"
            if content_disposition is not None:
                encoded = quote_query(content_disposition)
                operation_query += f"response-content-disposition={encoded}&"
                sorted_operation_query = f"&response-content-disposition={encoded}{sorted_operation_query}"
        elif method == "PUT":
            signed_headers, canonical_headers = put_headers(
                location.host, content_type, content_disposition, headers
            )
            signed_headers_query = signed_headers.replace(";", "%3B")
        elif method == "DELETE":
            if content_type is not None or content_disposition is not None:
                raise ValueError("DELETE takes no content type or disposition")
            signed_headers = "host"
            signed_headers_query = "host"
            canonical_headers = f"host:{location.host}"
        else:
            raise ValueError(f"unsupported method {method!r}")

        path = location.path_prefix + quote_path(key)
        credential_query = identity.credential_query
        token_query = identity.token_query
        canonical_request = (
            f"{method}\n{path}\n"
            f"X-Amz-Algorithm={_ALGORITHM}&X-Amz-Credential={credential_query}&X-Amz-Date={amz_date}"
            f"&X-Amz-Expires={expires_in}&X-Amz-Security-Token={token_query}"
            f"&X-Amz-SignedHeaders={signed_headers_query}{sorted_operation_query}\n"
            f"{canonical_headers}\n\n{signed_headers}\nUNSIGNED-PAYLOAD"
        )
        string_to_sign = (
            f"{_ALGORITHM}\n{amz_date}\n{datestamp}{self._scope_suffix}\n"
            f"{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        )
        signer = identity.signer.copy()
        signer.update(string_to_sign.encode())
        signature = signer.hexdigest()
        url = (
            f"{location.origin}{path}?{operation_query}X-Amz-Algorithm={_ALGORITHM}"
            f"&X-Amz-Credential={credential_query}&X-Amz-Date={amz_date}&X-Amz-Expires={expires_in}"
            f"&X-Amz-SignedHeaders={signed_headers_query}&X-Amz-Security-Token={token_query}"
            f"&X-Amz-Signature={signature}"
        )
        return PresignedUrl(url=url, headers=headers)

    def presign_list(
        self,
        credentials: TemporaryCredentials,
        *,
        bucket: str,
        prefix: str,
        expires_in: int,
        now: datetime,
        delimiter: str | None = None,
        max_keys: int | None = None,
        continuation_token: str | None = None,
        region: str | None = None,
    ) -> PresignedUrl:
        """Return a presigned ListObjectsV2 URL (a GET on the bucket) for the keys under ``prefix``.

        Keys come back URL-encoded (``encoding-type=url``, as botocore asks). ``region`` is the bucket's
        region (None: this signer's).

        Raises:
            ValueError: on an invalid bucket, ``expires_in`` outside 1..604800, ``max_keys`` below 1, an
                invalid region, or a naive ``now``.
        """
        if region is not None and region != self._region:
            return self._in_region(region).presign_list(
                credentials,
                bucket=bucket,
                prefix=prefix,
                expires_in=expires_in,
                now=now,
                delimiter=delimiter,
                max_keys=max_keys,
                continuation_token=continuation_token,
            )
        if not 1 <= expires_in <= _MAX_EXPIRES_IN:
            raise ValueError("expires_in must be within 1..604800 seconds")
        if max_keys is not None and max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        amz_date, datestamp = self._keys.timestamp(now)
        identity = self._keys.identity(credentials, datestamp)
        location = self._endpoint.locate(bucket)
        # botocore's order: the operation's URI query, then its members in model order, then auth.
        params = [("list-type", "2"), ("prefix", prefix)]
        if delimiter is not None:
            params.append(("delimiter", delimiter))
        if max_keys is not None:
            params.append(("max-keys", str(max_keys)))
        if continuation_token is not None:
            params.append(("continuation-token", continuation_token))
        params.append(("encoding-type", "url"))
        encoded = [(name, quote_query(value)) for name, value in params]
        operation_query = "".join(f"{name}={value}&" for name, value in encoded)
        sorted_operation_query = "".join(f"&{name}={value}" for name, value in sorted(encoded))
        path = location.path_prefix if location.path_prefix == "/" else location.path_prefix[:-1]
        canonical_request = (
            f"GET\n{path}\n"
            f"X-Amz-Algorithm={_ALGORITHM}&X-Amz-Credential={identity.credential_query}&X-Amz-Date={amz_date}"
            f"&X-Amz-Expires={expires_in}&X-Amz-Security-Token={identity.token_query}"
            f"&X-Amz-SignedHeaders=host{sorted_operation_query}\n"
            f"host:{location.host}\n\nhost\nUNSIGNED-PAYLOAD"
        )
        signature = self._keys.signature(identity, amz_date, datestamp, canonical_request)
        url = (
            f"{location.origin}{path}?{operation_query}X-Amz-Algorithm={_ALGORITHM}"
            f"&X-Amz-Credential={identity.credential_query}&X-Amz-Date={amz_date}&X-Amz-Expires={expires_in}"
            f"&X-Amz-SignedHeaders=host&X-Amz-Security-Token={identity.token_query}"
            f"&X-Amz-Signature={signature}"
        )
        return PresignedUrl(url=url)

    def presign_post(
        self,
        credentials: TemporaryCredentials,
        *,
        bucket: str,
        key: str | None = None,
        key_prefix: str | None = None,
        content_type: str | None = None,
        max_bytes: int | None = None,
        expires_in: int,
        now: datetime,
        region: str | None = None,
    ) -> PresignedPost:
        """Return a presigned POST form for one key, or for any ``${filename}`` under ``key_prefix``.

        ``region`` is the bucket's region (None: this signer's).

        Raises:
            ValueError: unless exactly one of ``key``/``key_prefix`` is given, on an invalid bucket,
                ``max_bytes`` below 1, ``expires_in`` outside 1..604800, an invalid region, or a naive
                ``now``.
        """
        if region is not None and region != self._region:
            return self._in_region(region).presign_post(
                credentials,
                bucket=bucket,
                key=key,
                key_prefix=key_prefix,
                content_type=content_type,
                max_bytes=max_bytes,
                expires_in=expires_in,
                now=now,
            )
        if (key is None) == (key_prefix is None):
            raise ValueError("give exactly one of key and key_prefix")
        if not 1 <= expires_in <= _MAX_EXPIRES_IN:
            raise ValueError("expires_in must be within 1..604800 seconds")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        amz_date, datestamp = self._keys.timestamp(now)
        identity = self._keys.identity(credentials, datestamp)
        location = self._endpoint.locate(bucket)
        form_key = key if key is not None else f"{key_prefix}${{filename}}"
        expiration = (_EPOCH + timedelta(seconds=clock_second(now) + expires_in)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        fields = post_form_fields(
            credentials,
            identity,
            bucket=bucket,
            form_key=form_key,
            content_type=content_type,
            max_bytes=max_bytes,
            amz_date=amz_date,
            expiration=expiration,
        )
        return PresignedPost(url=location.post_url, fields=fields)

    def _in_region(self, region: str) -> SigV4Presigner:
        """Return the signer of ``region`` (same endpoint and addressing), built once and kept."""
        sibling = self._siblings.get(region)
        if sibling is not None:
            return sibling
        sibling = SigV4Presigner(region, self._endpoint_url, self._addressing_style, self._cached_identities)
        with self._lock:
            sibling = self._siblings.setdefault(region, sibling)
            if len(self._siblings) > _REGION_CACHE_SIZE:
                del self._siblings[next(iter(self._siblings))]
        return sibling

    def _signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        """Return the SigV4 signing key for ``secret`` on ``date`` (yyyymmdd), derived once and cached."""
        return self._keys.signing_key(secret, date, region, service)

    @property
    def _signing_keys(self) -> dict[tuple[str, str, str, str], bytes]:
        return self._keys.signing_keys
