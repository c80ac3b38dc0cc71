"""Virtual-hosted S3 addressing: `<bucket>.localhost:<port>` is routed like path style, signed as received."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.routing import split_virtual_host

ACCOUNT = "111122223333"
VIRTUAL = Config(
    signature_version="s3v4", s3={"addressing_style": "virtual"}, retries={"total_max_attempts": 1}
)


def _connect_to_loopback(request: Any, **_: Any) -> None:
    """Send to 127.0.0.1 while keeping the Host botocore signed (`demo-data.localhost:<port>`)."""
    parts = urlsplit(request.url)
    request.headers["Host"] = parts.netloc
    request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))


@pytest.fixture
def virtual_s3(emulator: Any) -> Any:
    def make(session: Any) -> Any:
        client = session.client("s3", endpoint_url=f"http://localhost:{emulator.port}", config=VIRTUAL)
        client.meta.events.register("before-send.s3", _connect_to_loopback)
        return client

    return make


@pytest.fixture
def vended_session(user_session: Any, client_for: Any, make_session: Any) -> Any:
    s3control = client_for(user_session("alice"), "s3control")
    creds = s3control.get_data_access(
        AccountId=ACCOUNT, Target="s3://demo-data/users/alice/*", Permission="READWRITE"
    )["Credentials"]
    return make_session(creds)


def test_split_virtual_host() -> None:
    bases = frozenset({"localhost", "127.0.0.1"})
    assert split_virtual_host("demo-data.localhost:9000", bases) == ("demo-data", "localhost:9000")
    assert split_virtual_host("demo-data.localhost", bases) == ("demo-data", "localhost")
    assert split_virtual_host("localhost:9000", bases) is None
    assert split_virtual_host("127.0.0.1:9000", bases) is None
    assert split_virtual_host("demo-data.example.com:9000", bases) is None


def test_presigned_virtual_hosted_url_is_served(emulator: Any, virtual_s3: Any, vended_session: Any) -> None:
    url = virtual_s3(vended_session).generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "users/alice/notes.txt"}, ExpiresIn=300
    )
    parts = urlsplit(url)
    assert parts.netloc == f"demo-data.localhost:{emulator.port}"
    assert parts.path == "/users/alice/notes.txt"

    response = httpx.get(
        f"http://127.0.0.1:{emulator.port}{parts.path}?{parts.query}", headers={"Host": parts.netloc}
    )
    assert response.status_code == 200, response.text
    assert response.content == b"alice's notes\n"


def test_virtual_hosted_signature_covers_the_host_as_received(
    emulator: Any, virtual_s3: Any, vended_session: Any
) -> None:
    url = virtual_s3(vended_session).generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "users/alice/notes.txt"}, ExpiresIn=300
    )
    parts = urlsplit(url)
    # The same path and query sent path-style: the signed host no longer matches.
    response = httpx.get(f"http://127.0.0.1:{emulator.port}{parts.path}?{parts.query}")
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


def test_virtual_hosted_presigned_url_is_still_confined_to_the_grant(
    emulator: Any, virtual_s3: Any, vended_session: Any
) -> None:
    url = virtual_s3(vended_session).generate_presigned_url(
        "get_object", Params={"Bucket": "demo-data", "Key": "finance/budget.csv"}, ExpiresIn=300
    )
    parts = urlsplit(url)
    response = httpx.get(
        f"http://127.0.0.1:{emulator.port}{parts.path}?{parts.query}", headers={"Host": parts.netloc}
    )
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


def test_header_signed_virtual_hosted_requests(virtual_s3: Any, vended_session: Any) -> None:
    s3 = virtual_s3(vended_session)
    s3.put_object(Bucket="demo-data", Key="users/alice/virtual.txt", Body=b"virtual\n")
    assert s3.get_object(Bucket="demo-data", Key="users/alice/virtual.txt")["Body"].read() == b"virtual\n"
    listed = s3.list_objects_v2(Bucket="demo-data", Prefix="users/alice/")
    assert "users/alice/virtual.txt" in [o["Key"] for o in listed["Contents"]]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket="demo-data", Key="users/bob/todo.txt")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
