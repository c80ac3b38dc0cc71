"""At DEBUG the broker logs botocore's wire traffic, yet no token, key, assertion or signature it saw."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bench import stack as processes

pytestmark = pytest.mark.e2e

# The emulator's Identity Center access tokens ("aoa" + 86 base64url characters) are not kept in its
# state, so the log is searched for their shape instead.
IDC_ACCESS_TOKEN = re.compile(r"aoa[A-Za-z0-9_-]{80,}")


def _journey(emulator: processes.Emulator, broker: processes.Broker) -> list[str]:
    """Sign in, get credentials, presign, list grants and ask whoami; return what was handed out."""
    token = emulator.sign_in("alice")
    with broker.client(token) as client:
        issued = client.post(
            "/v1/credentials", json={"target": "s3://demo-data/users/alice/*", "permission": "READ"}
        )
        presigned = client.post(
            "/v1/presign", json={"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET"}
        )
        grants = client.get("/v1/grants")
        me = client.get("/v1/me")
    for response in (issued, presigned, grants, me):
        assert response.status_code == 200, response.text
    query = parse_qs(urlsplit(presigned.json()["url"]).query)
    assert httpx.get(presigned.json()["url"]).content == b"alice's notes\n"
    return [
        token,
        issued.json()["secret_access_key"],
        issued.json()["session_token"],
        query["X-Amz-Signature"][0],
        query["X-Amz-Security-Token"][0],
    ]


def _emulator_secrets(emulator: processes.Emulator) -> list[str]:
    issued = httpx.get(f"{emulator.url}/_emulator/issued", timeout=5).json()
    assert issued["identity_contexts"], "the broker never exchanged a token"
    assert issued["refresh_tokens"]
    return [secret for secrets in issued.values() for secret in secrets]


@pytest.fixture(scope="module")
def debug_run(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    logs = tmp_path_factory.mktemp("debug-logs")
    with (
        processes.emulator(log_dir=logs) as emulator,
        processes.broker(emulator, redis_url=redis_url, log_level="DEBUG", log_dir=logs) as broker,
    ):
        handed_out = _journey(emulator, broker)
        secrets = handed_out + _emulator_secrets(emulator)
    return Path(broker.log).read_text(), secrets


def test_debug_log_holds_botocore_wire_lines(debug_run: tuple[str, list[str]]) -> None:
    text, _ = debug_run
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    debug = {(line["logger"], line["event"].split(":")[0]) for line in lines if line["level"] == "debug"}
    assert ("botocore.parsers", "Response body") in debug
    assert ("botocore.endpoint", "Sending http request") in debug
    assert any(logger.startswith("urllib3") for logger, _ in debug)
    assert "[redacted]" in text


def test_debug_log_holds_no_secret(debug_run: tuple[str, list[str]]) -> None:
    text, secrets = debug_run
    assert len(secrets) >= 9
    leaked = [secret[:12] for secret in secrets if secret in text]
    assert not leaked, f"secrets reached the DEBUG log: {leaked}"
    assert not IDC_ACCESS_TOKEN.search(text), "an Identity Center access token reached the DEBUG log"
