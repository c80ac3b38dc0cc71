"""The emulator's optional HTTPS port: same services, a self-signed certificate for localhost names."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from cryptography import x509

from emulator.server import EmulatorServer


@pytest.fixture(scope="module")
def tls_emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(port=0, tls_port=0).start()
    yield server
    server.stop()


def test_tls_port_is_advertised_in_the_config(tls_emulator: EmulatorServer) -> None:
    config = httpx.get(f"{tls_emulator.url}/_emulator/config").json()

    assert config["tls_endpoint_url"] == f"https://localhost:{tls_emulator.tls_port}"
    assert tls_emulator.tls_url == config["tls_endpoint_url"]


def test_tls_certificate_names_localhost_and_its_subdomains(tls_emulator: EmulatorServer) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", tls_emulator.tls_port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls_socket,
    ):
        der = tls_socket.getpeercert(binary_form=True)
    assert der is not None
    names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert set(names.value.get_values_for_type(x509.DNSName)) == {"localhost", "*.localhost"}


def test_tls_port_serves_virtual_hosted_s3_like_the_plain_port(tls_emulator: EmulatorServer) -> None:
    config: dict[str, Any] = httpx.get(f"{tls_emulator.url}/_emulator/config").json()
    s3 = boto3.client(
        "s3",
        region_name=config["region"],
        endpoint_url=config["tls_endpoint_url"],
        aws_access_key_id=config["admin"]["access_key_id"],
        aws_secret_access_key=config["admin"]["secret_access_key"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo-data", "Key": "public/readme.txt"})
    assert url.startswith(f"https://demo-data.localhost:{tls_emulator.tls_port}/")

    # *.localhost is loopback (RFC 6761); connect to 127.0.0.1 and send the signed Host as a browser would.
    loopback = url.replace(
        f"demo-data.localhost:{tls_emulator.tls_port}", f"127.0.0.1:{tls_emulator.tls_port}"
    )
    response = httpx.get(
        loopback,
        headers={"Host": f"demo-data.localhost:{tls_emulator.tls_port}"},
        verify=False,  # noqa: S501 - the emulator's throw-away self-signed certificate
    )

    assert response.status_code == 200, response.text
    assert response.content == b"public readme\n"
