"""Presigned-URL throughput: SigV4Presigner against boto3's generate_presigned_url and bare botocore signing.

Run: ``.venv/bin/python bench/bench_presign.py``. ``run()`` returns rows for a driver to collect.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.adapters.s3_presigner import SigV4Presigner
from service.domain.credentials import TemporaryCredentials

URLS_PER_ROUND = 20_000
BATCH = 1_000
ROUNDS = 5
REGION = "eu-west-1"
BUCKET = "bench-bucket"
NOW = datetime(2026, 11, 27, 12, 1, 42, tzinfo=UTC)
CREDS = TemporaryCredentials(
    access_key_id="ASIAEXAMPLEEXAMPLE",
    secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",  # noqa: S106 - AWS docs example key
    # Realistic STS session tokens run to several hundred characters of base64.
    session_token="IQoJb3JpZ2luX2VjE" + "A/b+C=" * 120,
    expiration=NOW + timedelta(hours=1),
)
KEYS = [f"users/u{i % 97}/reports/2026/report {i}.pdf" for i in range(URLS_PER_ROUND)]


def _best_seconds(fn: Callable[[], None]) -> float:
    """Return the fastest of ROUNDS runs of ``fn``."""
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _ours(
    credentials: TemporaryCredentials = CREDS, bucket: str = BUCKET, region: str = REGION
) -> Callable[[list[str]], None]:
    presigner = SigV4Presigner(region, None, "virtual")

    def sign(keys: list[str]) -> None:
        for key in keys:
            presigner.presign_url(credentials, method="GET", bucket=bucket, key=key, expires_in=900, now=NOW)

    return sign


def _boto3(
    credentials: TemporaryCredentials = CREDS, bucket: str = BUCKET, region: str = REGION
) -> Callable[[list[str]], None]:
    client = boto3.client(
        "s3",
        region_name=region,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )

    def sign(keys: list[str]) -> None:
        for key in keys:
            client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=900)

    return sign


def _botocore_auth() -> Callable[[list[str]], None]:
    credentials = Credentials(CREDS.access_key_id, CREDS.secret_access_key, CREDS.session_token)
    origin = f"https://{BUCKET}.s3.{REGION}.amazonaws.com/"
    from urllib.parse import quote  # noqa: PLC0415 - only this baseline needs it

    def sign(keys: list[str]) -> None:
        for key in keys:
            request = AWSRequest(method="GET", url=origin + quote(key, safe="/~"))
            S3SigV4QueryAuth(credentials, "s3", REGION, expires=900).add_auth(request)
            request.prepare()

    return sign


def _check_equal_output() -> None:
    """Refuse to time anything unless ours and boto3 produce the same URL (clock pinned)."""
    from unittest import mock  # noqa: PLC0415 - only the sanity check needs it

    client = boto3.client(
        "s3",
        region_name=REGION,
        aws_access_key_id=CREDS.access_key_id,
        aws_secret_access_key=CREDS.secret_access_key,
        aws_session_token=CREDS.session_token,
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        theirs = client.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": KEYS[1]}, ExpiresIn=900
        )
    ours = SigV4Presigner(REGION, None, "virtual").presign_url(
        CREDS, method="GET", bucket=BUCKET, key=KEYS[1], expires_in=900, now=NOW
    )
    assert ours.url == theirs, (ours.url, theirs)


def run() -> list[dict[str, Any]]:
    """Time ours, boto3 and bare botocore per URL and per batch; return one row per comparison."""
    _check_equal_output()
    signers = {"ours": _ours(), "boto3": _boto3(), "botocore_auth": _botocore_auth()}
    for sign in signers.values():
        sign(KEYS[:500])  # warm caches: signing key, bucket location, botocore's endpoint cache
    per_url = {
        name: _best_seconds(functools.partial(sign, KEYS)) / URLS_PER_ROUND * 1e9
        for name, sign in signers.items()
    }
    batch = KEYS[:BATCH]
    per_batch = {name: _best_seconds(functools.partial(sign, batch)) * 1e6 for name, sign in signers.items()}
    rows: list[dict[str, Any]] = []
    for baseline in ("boto3", "botocore_auth"):
        rows.append(
            {
                "name": "presign_url_get",
                "baseline": f"{baseline} (per URL, best of {ROUNDS} x {URLS_PER_ROUND})",
                "baseline_value": round(per_url[baseline], 1),
                "ours_value": round(per_url["ours"], 1),
                "unit": "ns/url",
                "ratio": round(per_url[baseline] / per_url["ours"], 1),
            }
        )
        rows.append(
            {
                "name": "presign_url_get_batch",
                "baseline": f"{baseline} (batch of {BATCH}, best of {ROUNDS})",
                "baseline_value": round(per_batch[baseline], 1),
                "ours_value": round(per_batch["ours"], 1),
                "unit": "us/batch",
                "ratio": round(per_batch[baseline] / per_batch["ours"], 1),
            }
        )
    for row in rows:
        print(
            f"{row['name']:<24} {row['baseline']:<48} baseline={row['baseline_value']:>12} "
            f"ours={row['ours_value']:>10} {row['unit']:<9} ratio={row['ratio']}x"
        )
    return rows


if __name__ == "__main__":
    run()
