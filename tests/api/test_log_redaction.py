"""No token, secret key or session token reaches a log line, whatever path it takes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from redis.utils import _set_info_logger

from service.logs import (
    REDACTED,
    ConsoleFormatter,
    configure_logging,
    redact_text,
    redact_value,
)
from tests.api.conftest import World
from tests.logcapture import json_log

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.c2lnbmF0dXJlLWJ5dGVz"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    with json_log(logging.DEBUG) as stream:
        yield stream


async def test_logs_contain_no_vended_secret_after_full_request(
    world: World, log_stream: io.StringIO
) -> None:
    response = await world.client.post(
        "/v1/credentials",
        json={"target": "s3://data/users/alice/a", "permission": "READ"},
        headers=world.auth(),
    )
    body = response.json()
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    text = log_stream.getvalue()
    assert any(line["event"] == "credentials.issued" for line in lines)
    assert body["secret_access_key"] not in text
    assert body["session_token"] not in text
    assert world.auth()["Authorization"].split()[1] not in text


def test_redacting_filter_hides_jwt_in_message(log_stream: io.StringIO) -> None:
    logging.getLogger("t").warning("token was %s", JWT)
    assert JWT not in log_stream.getvalue()
    assert "[redacted]" in log_stream.getvalue()


def test_redacting_filter_hides_secret_named_fields(log_stream: io.StringIO) -> None:
    logging.getLogger("t").info(
        "x",
        extra={"secret_access_key": "wJalrXUtnFEMI", "session_token": "FwoGZXIvYXdzE", "subject": "alice"},
    )
    line = json.loads(log_stream.getvalue())
    assert line["secret_access_key"] == "[redacted]"
    assert line["session_token"] == "[redacted]"
    assert line["subject"] == "alice"


class _Answer:
    """An object logged as it is: the line shows its str()."""

    def __str__(self) -> str:
        return f"Authorization: Bearer {JWT}"


def test_redacting_filter_hides_secrets_inside_nested_bytes_and_object_fields(
    log_stream: io.StringIO,
) -> None:
    # A field's value is not always a string: lists and dicts are scanned all the way down (their keys
    # named like a secret are hidden), bytes and other objects as the text they are written as.
    session_token = "IQoJb3JpZ2luX2VjE" + "A/b+C=" * 60
    logging.getLogger("t").info(
        "x",
        extra={
            "grants": [{"matched_grant": "s3://b/p/*", "note": f"id token {JWT}"}],
            "response": {"Result": {"SessionToken": session_token, "AccessKeyId": "ASIAEXAMPLE"}},
            "answers": {"Credentials": {"AccessKeyId": "ASIAEXAMPLE"}},
            "seen_by": {JWT: "seen"},
            "pair": ("kept", f"Bearer {JWT}"),
            "raw": f"id_token={JWT}".encode(),
            "answer": _Answer(),
            "count": 3,
        },
    )
    text = log_stream.getvalue()
    line = json.loads(text)
    assert JWT not in text
    assert session_token not in text
    assert line["grants"][0]["matched_grant"] == "s3://b/p/*"
    assert line["response"]["Result"] == {"SessionToken": REDACTED, "AccessKeyId": "ASIAEXAMPLE"}
    assert line["answers"] == {"Credentials": REDACTED}
    assert line["seen_by"] == {REDACTED: "seen"}
    assert line["pair"][0] == "kept"
    assert line["count"] == 3


def test_redacting_filter_hides_bearer_header_in_exception(log_stream: io.StringIO) -> None:
    try:
        raise ValueError(f"header was Authorization: Bearer {JWT}")
    except ValueError:
        logging.getLogger("t").exception("boom")
    assert JWT not in log_stream.getvalue()


def test_console_formatter_includes_fields() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "cache.hit", None, None)
    record.layer = "access"
    assert ConsoleFormatter().format(record).endswith("layer=access")


SESSION_TOKEN = "IQoJb3JpZ2luX2VjE" + "q7Rz_Wm2-Xa9" * 8
ASSERTION = "AQoJb3JpZ2luX2Vj" + "Lp4_Hs8-Tn3k" * 8
ACCESS_TOKEN = "aoa" + "Zk3-Jd8_Qp2m" * 7
REFRESH_TOKEN = "aor" + "Vb6_Nr1-Wc4e" * 7
SECRET_KEY = "seC1B2xzJGAnN5SlsZas8UqxyNn45HbjVomdtASw"
SIGNATURE = "e534cc03beafee22def723baf00d554025da25448e2c092a7b06203d90e344d0"
MOTO_TOKEN = "FQoGZXIvYXdzEBYaD" + "k+Zq/8Rt0Lm=" * 8

# (log text as a library writes it, the secret it holds, a neighbour that must stay visible)
LIBRARY_LINES = [
    pytest.param(
        f"""Response body:\nb'{{"accessToken": "{ACCESS_TOKEN}", "tokenType": "Bearer"}}'""",
        ACCESS_TOKEN,
        '"tokenType": "Bearer"',
        id="json-access-token",
    ),
    pytest.param(
        f"""b'{{"expiresIn": 3600, "refreshToken": "{REFRESH_TOKEN}"}}'""",
        REFRESH_TOKEN,
        '"expiresIn": 3600',
        id="json-refresh-token",
    ),
    pytest.param(
        f"""{{"awsAdditionalDetails": {{"identityContext": "{ASSERTION}"}}, "scope": ["openid"]}}""",
        ASSERTION,
        '"scope": ["openid"]',
        id="json-identity-context",
    ),
    pytest.param(
        """'body': b'{"clientId": "app", "clientSecret": "hunter2-s3cr3t"}'""",
        "hunter2-s3cr3t",
        '"clientId": "app"',
        id="json-client-secret",
    ),
    pytest.param(
        """{'USERNAME': 'alice', 'PASSWORD': 'correct horse battery'}""",
        "correct horse",
        "'USERNAME': 'alice'",
        id="repr-password",
    ),
    pytest.param(
        f"<Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>{SECRET_KEY}</SecretAccessKey>",
        SECRET_KEY,
        "<AccessKeyId>ASIAEXAMPLE</AccessKeyId>",
        id="xml-secret-access-key",
    ),
    pytest.param(
        f"<SessionToken>{MOTO_TOKEN}</SessionToken><Expiration>2026-01-01T00:00:00Z</Expiration>",
        MOTO_TOKEN,
        "<Expiration>2026-01-01T00:00:00Z</Expiration>",
        id="xml-session-token",
    ),
    pytest.param(
        f"GET /k?X-Amz-Credential=ASIAEXAMPLE%2F20260101&X-Amz-Security-Token=abc{SECRET_KEY}&X-Amz-Date=1",
        f"abc{SECRET_KEY}",
        "X-Amz-Credential=ASIAEXAMPLE%2F20260101",
        id="query-security-token",
    ),
    pytest.param(
        f"http://h/k?X-Amz-Expires=900&X-Amz-Signature={SIGNATURE} HTTP/1.1",
        SIGNATURE,
        "X-Amz-Expires=900",
        id="query-signature",
    ),
    pytest.param(
        "b'Action=AssumeRole&ProvidedContexts.member.1.ContextAssertion=opaque-ctx-1234&Version=2011'",
        "opaque-ctx-1234",
        "Action=AssumeRole",
        id="form-context-assertion",
    ),
    pytest.param(
        "grantType=refresh_token&refreshToken=opaque-refresh-5678&clientId=app",
        "opaque-refresh-5678",
        "clientId=app",
        id="form-refresh-token",
    ),
    pytest.param(
        "'ProvidedContexts.member.1.ContextAssertion': 'opaque-ctx-1234'}",
        "opaque-ctx-1234",
        "ProvidedContexts.member.1.ContextAssertion",
        id="repr-context-assertion",
    ),
    pytest.param(
        "headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/sts/"
        f"aws4_request, SignedHeaders=host;x-amz-date, Signature={SIGNATURE}'}}",
        SIGNATURE,
        "Credential=AKIAEXAMPLE/20260101/us-east-1/sts/aws4_request",
        id="bytes-repr-sigv4-authorization",
    ),
    pytest.param(
        "{'X-Amz-Date': b'20260101T000000Z', 'X-Amz-Security-Token': b'opaque-session-token'}",
        "opaque-session-token",
        "'X-Amz-Date': b'20260101T000000Z'",
        id="bytes-repr-security-token-header",
    ),
    pytest.param(
        "{'authorization': 'Basic YWxpY2U6cGFzcw==', 'accept': '*/*'}",
        "YWxpY2U6cGFzcw==",
        "'accept': '*/*'",
        id="str-repr-basic-authorization",
    ),
    pytest.param(
        "[(b'content-type', b'text/plain'), (b'set-cookie', b'session=s3ss10n')]",
        "s3ss10n",
        "(b'content-type', b'text/plain')",
        id="header-tuple-cookie",
    ),
    pytest.param(
        "CanonicalRequest:\nGET\n/\n\nhost:h\nx-amz-security-token:opaque-canonical-token\n\nhost\nabc",
        "opaque-canonical-token",
        "host:h",
        id="canonical-request-header",
    ),
    pytest.param(f"Signature:\n{SIGNATURE}", SIGNATURE, "Signature:", id="botocore-auth-signature"),
    pytest.param(f"retrying with {SESSION_TOKEN} now", SESSION_TOKEN, "retrying with", id="bare-iqoj"),
    pytest.param(f"token {MOTO_TOKEN}", MOTO_TOKEN[:30], "token", id="bare-moto-token"),
    pytest.param(f"Fwo: FwoGZXIvYXdzE{'Ab1' * 10}", "FwoGZXIvYXdzEAb1", "Fwo:", id="bare-fwog"),
    pytest.param(f"refreshing {ACCESS_TOKEN}", ACCESS_TOKEN, "refreshing", id="bare-idc-access"),
    pytest.param(f"ctx={ASSERTION[:40]}x", ASSERTION[:40], "ctx=", id="bare-assertion"),
]


@pytest.mark.parametrize(("text", "secret", "kept"), LIBRARY_LINES)
def test_redact_text_hides_secrets_in_library_lines(text: str, secret: str, kept: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert kept in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(("text", "secret", "kept"), LIBRARY_LINES)
def test_redact_text_is_idempotent(text: str, secret: str, kept: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "http.request",
        "Setting config variable for sts_regional_endpoints to 'regional'",
        "issuedTokenType=urn:ietf:params:oauth:token-type:access_token tokenType=x",
        "<AccessKeyId>ASIAEXAMPLE</AccessKeyId> X-Amz-Credential=ASIAEXAMPLE%2F2026",
        "SignedHeaders=host;x-amz-security-token",
    ],
)
def test_redact_text_leaves_non_secret_text_alone(text: str) -> None:
    assert redact_text(text) == text


def test_redact_text_fast_path_returns_the_same_string() -> None:
    line = 'http://127.0.0.1:9000 "GET /v1/me HTTP/1.1" 200 905'
    assert redact_text(line) is line


def test_redact_value_keeps_token_id_and_cache_key_visible() -> None:
    assert redact_value("token_id", "abc123") == "abc123"
    assert redact_value("cache_key", "k1") == "k1"
    assert redact_value("refresh_token", "x") == REDACTED


def test_redacting_filter_hides_botocore_debug_record(log_stream: io.StringIO) -> None:
    logging.getLogger("botocore.parsers").debug(
        "Response body:\n%r", f"<SessionToken>{SESSION_TOKEN}</SessionToken>".encode()
    )
    assert SESSION_TOKEN not in log_stream.getvalue()
    assert "botocore.parsers" in log_stream.getvalue()


@pytest.fixture
def isolated_logging() -> Iterator[None]:
    """Snapshot every logger's handlers, filters and propagation; restore them after the test."""
    manager = logging.Logger.manager
    loggers = [
        logging.getLogger(),
        *(x for x in manager.loggerDict.values() if isinstance(x, logging.Logger)),
    ]
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level) for lg in loggers]
    filters = {h: list(h.filters) for lg in loggers for h in lg.handlers}
    yield
    for logger, handlers, propagate, level in saved:
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)
    for handler, kept in filters.items():
        handler.filters[:] = kept


def test_configure_logging_routes_library_handlers_through_redaction(
    isolated_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    own = io.StringIO()
    library = logging.getLogger("urllib3.tipb-test")
    library.addHandler(logging.StreamHandler(own))
    library.propagate = False
    configure_logging("json", "DEBUG")
    library.debug("sent X-Amz-Security-Token=%s", SESSION_TOKEN)
    assert own.getvalue() == ""
    err = capsys.readouterr().err
    assert "urllib3.tipb-test" in err
    assert SESSION_TOKEN not in err


def test_configure_logging_guards_other_root_handlers(isolated_logging: None) -> None:
    stream = io.StringIO()
    foreign = logging.StreamHandler(stream)
    logging.getLogger().addHandler(foreign)
    configure_logging("console", "DEBUG")
    logging.getLogger("httpcore.http11").debug("headers=[(b'authorization', b'Bearer %s')]", JWT)
    assert JWT not in stream.getvalue()
    assert "b'authorization', b'[redacted]'" in stream.getvalue()


def test_configure_logging_keeps_redis_push_handler_away(isolated_logging: None) -> None:
    logging.Logger.manager.loggerDict.pop("push_response", None)
    configure_logging("json", "INFO")
    _set_info_logger()  # redis adds a bare stderr handler here unless the logger already exists
    assert logging.getLogger("push_response").handlers == []
    assert logging.getLogger("push_response").propagate
