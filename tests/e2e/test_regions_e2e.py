"""Two regions, two accounts (multi.yaml): one user's credentials and presigned URLs for buckets in both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

from bench import stack as processes
from emulator.scenario import DEFAULT_SCENARIO

MULTI = DEFAULT_SCENARIO.parent / "multi.yaml"


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[processes.Emulator, processes.Broker]]:
    logs: Path = tmp_path_factory.mktemp("e2e-multi-logs")
    # Identity Center named explicitly; the default region (STS, fallback) is where the broker lives.
    env = {"BROKER_IDC_REGION": "us-east-1"}
    with (
        processes.emulator(log_dir=logs, scenario=MULTI) as emulator,
        processes.broker(emulator, log_level="INFO", log_dir=logs, extra_env=env) as broker,
    ):
        yield emulator, broker


def test_credentials_name_each_buckets_region_and_work_there(
    multi: tuple[processes.Emulator, processes.Broker],
) -> None:
    emulator, broker = multi
    with broker.client(emulator.sign_in("alice")) as client:
        for bucket, region, body in (
            ("east-data", "us-east-1", b"alice in us-east-1\n"),
            ("west-data", "eu-west-1", b"alice in eu-west-1\n"),
        ):
            answer = client.post(
                "/v1/credentials", json={"target": f"s3://{bucket}/users/alice/*", "permission": "READ"}
            )
            assert answer.status_code == 200, answer.text
            credentials = answer.json()
            assert credentials["region"] == region
            s3 = boto3.client(
                "s3",
                region_name=credentials["region"],
                endpoint_url=emulator.url,
                aws_access_key_id=credentials["access_key_id"],
                aws_secret_access_key=credentials["secret_access_key"],
                aws_session_token=credentials["session_token"],
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            )
            got = s3.get_object(Bucket=bucket, Key=f"users/alice/{region.split('-')[1]}.txt")
            assert got["Body"].read() == body


def test_presigned_urls_for_buckets_in_both_regions_fetch_the_objects(
    multi: tuple[processes.Emulator, processes.Broker],
) -> None:
    emulator, broker = multi
    items = [
        {"bucket": "east-data", "key": "users/alice/east.txt", "method": "GET"},
        {"bucket": "west-data", "key": "users/alice/west.txt", "method": "GET"},
        {"bucket": "west-data", "key": "shared/readme.txt", "method": "GET"},
    ]
    with broker.client(emulator.sign_in("alice")) as client:
        answer = client.post("/v1/presign/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    urls = [result["url"] for result in answer.json()["results"]]
    assert "%2Feu-west-1%2Fs3%2F" in urls[1]
    bodies = [httpx.get(url).content for url in urls]
    assert bodies == [b"alice in us-east-1\n", b"alice in eu-west-1\n", b"west shared\n"]
    calls = emulator.counts()
    assert calls.get("GetAccessGrantsInstanceForPrefix", 0) >= 2
    assert calls.get("HeadBucket", 0) >= 2


def test_presigned_post_for_a_bucket_in_another_region_uploads(
    multi: tuple[processes.Emulator, processes.Broker],
) -> None:
    emulator, broker = multi
    with broker.client(emulator.sign_in("alice")) as client:
        answer = client.post("/v1/presign/post", json={"bucket": "west-data", "key": "users/alice/up.txt"})
    assert answer.status_code == 200, answer.text
    form = answer.json()
    uploaded = httpx.post(form["url"], data=form["fields"], files={"file": ("up.txt", b"uploaded")})
    assert uploaded.status_code in (200, 204), uploaded.text


def test_grants_under_a_bucket_prefix_come_from_the_instance_that_owns_the_bucket(
    multi: tuple[processes.Emulator, processes.Broker],
) -> None:
    emulator, broker = multi
    with broker.client(emulator.sign_in("alice")) as client:
        west = client.get("/v1/grants", params={"prefix": "s3://west-data/"})
        east = client.get("/v1/grants", params={"prefix": "s3://east-data/"})
    assert west.status_code == 200, west.text
    assert {g["grant_scope"] for g in west.json()["grants"]} == {
        "s3://west-data/users/alice/*",
        "s3://west-data/shared/*",
    }
    assert {g["grant_scope"] for g in east.json()["grants"]} == {
        "s3://east-data/users/alice/*",
        "s3://east-data/shared/*",
    }
