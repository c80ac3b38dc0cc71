"""Buckets and Access Grants instances in several regions and accounts (multi.yaml), via boto3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from emulator.scenario import DEFAULT_SCENARIO
from emulator.server import EmulatorServer

MULTI = DEFAULT_SCENARIO.parent / "multi.yaml"
EAST, WEST = "us-east-1", "eu-west-1"
OWNER = "111122223333"
DATA_OWNER = "444455556666"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(MULTI, port=0).start()
    yield server
    server.stop()


def test_head_bucket_names_each_buckets_region(
    admin: boto3.session.Session, client_for: Callable[..., Any]
) -> None:
    for bucket, region in (("east-data", EAST), ("west-data", WEST)):
        response = client_for(admin, "s3", region_name=region).head_bucket(Bucket=bucket)
        assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == region


def test_head_bucket_signed_for_the_wrong_region_answers_400_with_the_region(
    admin: boto3.session.Session, emulator: EmulatorServer
) -> None:
    response = _send_signed(admin, emulator, "HEAD", "/west-data", EAST)
    assert response.status_code == 400
    assert response.headers["x-amz-bucket-region"] == WEST


def test_a_request_signed_for_the_wrong_region_is_refused_like_s3(
    admin: boto3.session.Session, emulator: EmulatorServer
) -> None:
    response = _send_signed(admin, emulator, "GET", "/west-data/users/alice/west.txt", EAST)
    assert response.status_code == 400
    assert "<Code>AuthorizationHeaderMalformed</Code>" in response.text
    assert "the region 'us-east-1' is wrong; expecting 'eu-west-1'" in response.text
    assert "<Region>eu-west-1</Region>" in response.text
    assert _send_signed(admin, emulator, "GET", "/west-data/users/alice/west.txt", WEST).status_code == 200


def test_boto3_follows_the_region_hint_like_on_aws(
    admin: boto3.session.Session, client_for: Callable[..., Any]
) -> None:
    # botocore's S3 region redirector re-signs for the region the error names.
    body = client_for(admin, "s3", region_name=EAST).get_object(
        Bucket="west-data", Key="users/alice/west.txt"
    )
    assert body["Body"].read() == b"alice in eu-west-1\n"


def test_a_presigned_url_signed_for_the_wrong_region_is_refused(
    admin: boto3.session.Session, client_for: Callable[..., Any]
) -> None:
    params = {"Bucket": "west-data", "Key": "users/alice/west.txt"}
    wrong = client_for(admin, "s3", region_name=EAST).generate_presigned_url("get_object", Params=params)
    refused = httpx.get(wrong)
    assert refused.status_code == 400
    assert "<Code>AuthorizationQueryParametersError</Code>" in refused.text
    assert "expecting 'eu-west-1'" in refused.text
    right = client_for(admin, "s3", region_name=WEST).generate_presigned_url("get_object", Params=params)
    assert httpx.get(right).content == b"alice in eu-west-1\n"


def test_a_presigned_post_signed_for_the_wrong_region_is_refused(
    admin: boto3.session.Session, client_for: Callable[..., Any]
) -> None:
    form = client_for(admin, "s3", region_name=EAST).generate_presigned_post(
        "west-data", "users/alice/up.txt"
    )
    refused = httpx.post(form["url"], data=form["fields"], files={"file": ("up.txt", b"x")})
    assert refused.status_code == 400
    assert "expecting 'eu-west-1'" in refused.text


def test_instance_for_prefix_names_the_instance_of_the_buckets_region_and_owner(
    user_session: Callable[[str], boto3.session.Session], client_for: Callable[..., Any]
) -> None:
    session = user_session("alice")
    west = client_for(session, "s3control", region_name=WEST).get_access_grants_instance_for_prefix(
        AccountId=OWNER, S3Prefix="s3://west-data/users/alice/"
    )
    assert west["AccessGrantsInstanceArn"] == f"arn:aws:s3:{WEST}:{DATA_OWNER}:access-grants/default"
    east = client_for(session, "s3control", region_name=EAST).get_access_grants_instance_for_prefix(
        AccountId=OWNER, S3Prefix="s3://east-data/users/alice/"
    )
    assert east["AccessGrantsInstanceArn"] == f"arn:aws:s3:{EAST}:{OWNER}:access-grants/default"
    with pytest.raises(ClientError) as raised:
        client_for(session, "s3control", region_name=EAST).get_access_grants_instance_for_prefix(
            AccountId=OWNER, S3Prefix="s3://west-data/users/alice/"
        )
    assert raised.value.response["Error"]["Code"] == "AccessGrantsInstanceNotExistsError"


def test_get_data_access_goes_to_the_owning_account_in_its_region(
    user_session: Callable[[str], boto3.session.Session], client_for: Callable[..., Any]
) -> None:
    session = user_session("alice")
    answer = client_for(session, "s3control", region_name=WEST).get_data_access(
        AccountId=DATA_OWNER, Target="s3://west-data/users/alice/*", Permission="READ"
    )
    assert answer["MatchedGrantTarget"] == "s3://west-data/users/alice/*"
    with pytest.raises(ClientError) as wrong_region:
        client_for(session, "s3control", region_name=EAST).get_data_access(
            AccountId=DATA_OWNER, Target="s3://west-data/users/alice/*", Permission="READ"
        )
    assert wrong_region.value.response["Error"]["Code"] == "AccessGrantsInstanceNotExistsError"
    with pytest.raises(ClientError) as wrong_account:
        client_for(session, "s3control", region_name=EAST).get_data_access(
            AccountId=OWNER, Target="s3://west-data/users/alice/*", Permission="READ"
        )
    assert wrong_account.value.response["Error"]["Code"] == "AccessDenied"


def _send_signed(
    session: boto3.session.Session, emulator: EmulatorServer, method: str, path: str, region: str
) -> httpx.Response:
    request = AWSRequest(
        method=method, url=emulator.url + path, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    )
    S3SigV4Auth(session.get_credentials(), "s3", region).add_auth(request)
    return httpx.request(method, request.url, headers=dict(request.headers.items()))
