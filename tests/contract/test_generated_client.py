"""A client generated from openapi/openapi.json by openapi-python-client builds and talks to a live broker."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench import stack as processes

pytestmark = pytest.mark.e2e

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
PACKAGE = "tip_broker_generated"
# No post hooks (they would run ruff from PATH): the test needs the code, not its formatting.
CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generate the client into a temporary directory (failing on any warning) and import it."""
    workdir = tmp_path_factory.mktemp("generated-client")
    (workdir / "config.yaml").write_text(CONFIG)
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(SPEC),
            "--config",
            "config.yaml",
            "--meta",
            "none",
            "--output-path",
            PACKAGE,
            "--fail-on-warning",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Yield the URL of a running broker (against the emulator) and alice's ID token."""
    logs = tmp_path_factory.mktemp("generated-client-logs")
    with processes.emulator(log_dir=logs) as emulator, processes.broker(emulator, log_dir=logs) as broker:
        yield broker.url, emulator.sign_in("alice")


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_generated_client_lists_grants_as_typed_models(generated: ModuleType, live: tuple[str, str]) -> None:
    url, token = live
    list_grants = _module("api.grants.list_grants")
    models = _module("models")
    with generated.AuthenticatedClient(base_url=url, token=token) as client:
        answer = list_grants.sync(client=client, prefix="s3://demo-data/")
    assert isinstance(answer, models.GrantsResponse)
    scopes = {grant.grant_scope: grant.permission for grant in answer.grants}
    assert scopes["s3://demo-data/users/alice/*"] == models.Permission.READWRITE
    assert "s3://demo-data/users/bob/*" not in scopes


def test_generated_client_reads_a_refusal_as_a_typed_problem(
    generated: ModuleType, live: tuple[str, str]
) -> None:
    url, token = live
    get_credentials = _module("api.credentials.get_credentials")
    models = _module("models")
    body = models.CredentialsRequest(target="s3://demo-data/users/bob/*", permission=models.Permission.READ)
    with generated.AuthenticatedClient(base_url=url, token=token) as client:
        answer = get_credentials.sync_detailed(client=client, body=body)
    assert answer.status_code == 403
    assert isinstance(answer.parsed, models.ProblemResponse)
    assert answer.parsed.code == models.ProblemCode.ACCESS_DENIED


def test_generated_client_gets_credentials_with_a_parsed_expiration(
    generated: ModuleType, live: tuple[str, str]
) -> None:
    url, token = live
    get_credentials = _module("api.credentials.get_credentials")
    models = _module("models")
    body = models.CredentialsRequest(target="s3://demo-data/users/alice/*", permission=models.Permission.READ)
    with generated.AuthenticatedClient(base_url=url, token=token) as client:
        answer = get_credentials.sync(client=client, body=body)
    assert isinstance(answer, models.CredentialsResponse)
    assert answer.matched_grant_target == "s3://demo-data/users/alice/*"
    assert answer.expiration > datetime.now(UTC)
