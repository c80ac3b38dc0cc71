"""Several regions and accounts: bucket regions (HeadBucket), Access Grants instances, per-region signing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from service.adapters.access_grants import S3ControlDataAccessVendor
from service.adapters.bucket_regions import BucketRegions
from service.adapters.grants_instances import GrantsInstance, InstanceLocator, parse_instance_arn
from service.adapters.s3_presigner import SigV4Presigner
from service.adapters.ttl_cache import TtlCache
from service.domain.access import DataAccessRequest, Permission, S3Target
from service.domain.credentials import TemporaryCredentials

BROKER_ACCOUNT = "111122223333"
DATA_OWNER = "444455556666"
CREDENTIALS = TemporaryCredentials(
    access_key_id="ASIAEXAMPLE000000001",
    secret_access_key="secret",
    session_token="token",
    expiration=datetime(2030, 1, 1, tzinfo=UTC),
)
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _error(status: int, code: str, headers: dict[str, str]) -> ClientError:
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers}},
        "HeadBucket",
    )


class FakeS3:
    """HeadBucket answers scripted per bucket; counts calls."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def head_bucket(self, Bucket: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        self.calls.append(Bucket)
        answer = self.answers[Bucket]
        if isinstance(answer, Exception):
            raise answer
        return {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {"x-amz-bucket-region": answer}}}


def test_bucket_region_comes_from_head_bucket_and_is_cached() -> None:
    s3 = FakeS3({"west": "eu-west-1"})
    regions = BucketRegions(lambda: s3, "us-east-1")
    assert regions.known("west") is None
    assert regions.region_of("west") == "eu-west-1"
    assert regions.region_of("west") == "eu-west-1"
    assert regions.known("west") == "eu-west-1"
    assert s3.calls == ["west"]


@pytest.mark.parametrize("status", [301, 400, 403])
def test_bucket_region_is_read_from_error_answers_too(status: int) -> None:
    s3 = FakeS3({"west": _error(status, str(status), {"x-amz-bucket-region": "eu-west-1"})})
    assert BucketRegions(lambda: s3, "us-east-1").region_of("west") == "eu-west-1"


def test_an_unknown_bucket_region_falls_back_to_the_default_region() -> None:
    s3 = FakeS3({"gone": _error(404, "404", {}), "down": EndpointConnectionError(endpoint_url="http://x")})
    regions = BucketRegions(lambda: s3, "us-east-1")
    assert regions.region_of("gone") == "us-east-1"
    assert regions.region_of("down") == "us-east-1"


def test_ttl_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache: TtlCache[str, int] = TtlCache(10, 2, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    now[0] = 11
    assert cache.get("b") is None
    assert len(cache) == 1


def test_instance_arn_gives_account_and_region() -> None:
    arn = f"arn:aws:s3:eu-west-1:{DATA_OWNER}:access-grants/default"
    assert parse_instance_arn(arn) == GrantsInstance(DATA_OWNER, "eu-west-1")
    assert parse_instance_arn("arn:aws:s3:::nonsense") is None


class FakeS3Control:
    """GetAccessGrantsInstanceForPrefix and GetDataAccess of one region, recorded."""

    def __init__(
        self, region: str, instance_arn: str | None, calls: list[tuple[str, str, dict[str, Any]]]
    ) -> None:
        self.region = region
        self.instance_arn = instance_arn
        self.calls = calls

    def get_access_grants_instance_for_prefix(self, **params: Any) -> dict[str, Any]:
        self.calls.append((self.region, "GetAccessGrantsInstanceForPrefix", params))
        if self.instance_arn is None:
            raise ClientError({"Error": {"Code": "AccessGrantsInstanceNotExistsError"}}, "Get")
        return {"AccessGrantsInstanceArn": self.instance_arn, "AccessGrantsInstanceId": "default"}

    def get_data_access(self, **params: Any) -> dict[str, Any]:
        self.calls.append((self.region, "GetDataAccess", params))
        return {
            "Credentials": {
                "AccessKeyId": "ASIAVENDED0000000001",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": datetime(2030, 1, 1, tzinfo=UTC),
            },
            "MatchedGrantTarget": params["Target"],
            "Grantee": {"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": "u"},
        }


@contextmanager
def _signed(_: TemporaryCredentials) -> Iterator[None]:
    yield


def _vendor(instance_arns: dict[str, str | None], calls: list[tuple[str, str, dict[str, Any]]]) -> Any:
    clients = {region: FakeS3Control(region, arn, calls) for region, arn in instance_arns.items()}
    regions = BucketRegions(lambda: FakeS3({"west-data": "eu-west-1", "east-data": "us-east-1"}), "us-east-1")
    locator = InstanceLocator(
        clients.__getitem__,
        _signed,
        regions,
        caller_account_id=BROKER_ACCOUNT,
        fallback_account_id=BROKER_ACCOUNT,
    )
    return S3ControlDataAccessVendor(clients["us-east-1"], _signed, BROKER_ACCOUNT, locator=locator)


def test_get_data_access_goes_to_the_account_and_region_of_the_buckets_instance() -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    vendor = _vendor(
        {"eu-west-1": f"arn:aws:s3:eu-west-1:{DATA_OWNER}:access-grants/default", "us-east-1": None}, calls
    )
    request = DataAccessRequest(S3Target.parse("s3://west-data/users/alice/*"), Permission.READ, 3600)
    vendor.get_data_access(CREDENTIALS, request)
    vendor.get_data_access(CREDENTIALS, request)
    assert [(region, op, params["AccountId"]) for region, op, params in calls] == [
        ("eu-west-1", "GetAccessGrantsInstanceForPrefix", BROKER_ACCOUNT),
        ("eu-west-1", "GetDataAccess", DATA_OWNER),
        ("eu-west-1", "GetDataAccess", DATA_OWNER),  # the instance is cached per bucket
    ]
    assert calls[0][2]["S3Prefix"] == "s3://west-data/users/alice/*"


def test_without_an_instance_answer_the_configured_account_is_used_in_the_buckets_region() -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    vendor = _vendor({"us-east-1": None}, calls)
    request = DataAccessRequest(S3Target.parse("s3://east-data/a/*"), Permission.READ, 3600)
    vendor.get_data_access(CREDENTIALS, request)
    assert [(region, op, params["AccountId"]) for region, op, params in calls][-1] == (
        "us-east-1",
        "GetDataAccess",
        BROKER_ACCOUNT,
    )


def test_presigner_signs_for_the_region_a_call_names() -> None:
    default = SigV4Presigner("us-east-1", "http://127.0.0.1:9000", "path")
    west = SigV4Presigner("eu-west-1", "http://127.0.0.1:9000", "path")
    args: dict[str, Any] = {"method": "GET", "bucket": "west-data", "key": "k", "expires_in": 60, "now": NOW}
    signed = default.presign_url(CREDENTIALS, region="eu-west-1", **args)
    assert signed == west.presign_url(CREDENTIALS, **args)
    assert "%2Feu-west-1%2Fs3%2F" in signed.url
    assert default.presign_url(CREDENTIALS, region="us-east-1", **args) == default.presign_url(
        CREDENTIALS, **args
    )
    post = default.presign_post(
        CREDENTIALS, bucket="west-data", key="k", expires_in=60, now=NOW, region="eu-west-1"
    )
    assert post.fields["x-amz-credential"].split("/")[2] == "eu-west-1"


def test_presigner_on_aws_uses_the_regional_host_of_the_bucket() -> None:
    signed = SigV4Presigner("us-east-1").presign_url(
        CREDENTIALS, method="GET", bucket="west-data", key="k", expires_in=60, now=NOW, region="eu-west-1"
    )
    assert signed.url.startswith("https://west-data.s3.eu-west-1.amazonaws.com/k?")
