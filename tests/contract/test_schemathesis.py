"""Schemathesis against a live broker (real processes): no 5xx and no contract violation on any operation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench import stack as processes

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "contract-operator-token-0123456789abcdef"
# A database the other end-to-end brokers do not use: the operator run revokes everyone.
REDIS_DB = 7
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
# positive_data_acceptance is not asserted: the schema cannot express every rule the broker enforces
# (a target under s3://, a bucket's charset, exactly one of key or key_prefix), so a schema-valid body
# may still get a documented 422.


@dataclass(frozen=True)
class Live:
    """The broker under test and the tokens the runs use."""

    url: str
    tokens: dict[str, str]
    log: Path


def _database(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture(scope="module")
def live(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    logs = tmp_path_factory.mktemp("contract-logs")
    extra_env = {
        # Enough budget that 429 does not drown the run; 429 stays documented on the routes.
        "BROKER_UPSTREAM_CALLS_PER_MINUTE": "100000",
        "BROKER_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    with (
        processes.emulator(log_dir=logs) as emulator,
        processes.broker(
            emulator, redis_url=_database(redis_url, REDIS_DB), log_dir=logs, extra_env=extra_env
        ) as broker,
    ):
        # One ID token per run: the broker exchanges it once and serves the rest from its session.
        tokens = {"alice": emulator.sign_in("alice"), "bob": emulator.sign_in("bob"), "operator": ADMIN_TOKEN}
        yield Live(broker.url, tokens, broker.log)


# Every operation of the document is covered by exactly one run; they run in this order.
RUNS = {
    # All /v1 routes but the sign-out, plus the probes and /metrics (they ignore the header).
    "user": ("alice", ["--exclude-path", "/v1/session", "--exclude-path-regex", "^/admin/"]),
    # DELETE /v1/session signs the user out, so every later call with that token is a (documented) 401:
    # it gets its own user and token.
    "sign-out": ("bob", ["--include-path", "/v1/session"]),
    # The operator API takes BROKER_ADMIN_TOKEN, not an ID token; it may revoke everyone, so it runs last.
    "operator": ("operator", ["--include-path-regex", "^/admin/"]),
}


@pytest.mark.parametrize("run", list(RUNS))
def test_schemathesis_finds_no_server_error_or_contract_violation(
    live: Live, run: str, tmp_path: Path
) -> None:
    holder, selection = RUNS[run]
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{live.url}/openapi.json",
        *selection,
        "--checks",
        CHECKS,
        "--mode",
        "all",
        "--max-examples",
        "40",
        "--seed",
        "20240917",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--no-color",
        "--header",
        f"Authorization: Bearer {live.tokens[holder]}",
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        argv, capture_output=True, text=True, timeout=150, cwd=tmp_path, env=env, check=False
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    selected = re.search(r"Selected: (\d+)/\d+", report)
    tested = re.search(r"Tested: (\d+)", report)
    assert selected, report
    assert tested, report
    assert int(selected[1]) > 0, report
    assert tested[1] == selected[1], f"some selected operations were not tested:\n{report}"
