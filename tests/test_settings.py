"""Settings: environment parsing, defaults, and start-up refusal of incomplete or unsafe configuration."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import service.app
import service.logs
import service.server
from service.__main__ import main
from service.adapters.aws_clients import worst_call_seconds
from service.settings import ConfigurationError, Settings, load_settings

COMPLETE = {
    "BROKER_OIDC_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool",
    "BROKER_OIDC_AUDIENCE": "client-a, client-b",
    "BROKER_IDC_APPLICATION_ARN": "arn:aws:sso::111122223333:application/ssoins-1111111111111111/apl-1",
    "BROKER_IDENTITY_BEARER_ROLE_ARN": "arn:aws:iam::111122223333:role/bearer",
    "BROKER_ACCESS_GRANTS_ACCOUNT_ID": "111122223333",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [
        *COMPLETE,
        "BROKER_REDIS_URL",
        "BROKER_REDIS_USERNAME",
        "BROKER_REDIS_PASSWORD",
        "BROKER_REDIS_TLS_CA_FILE",
        "BROKER_REDIS_TLS_CERT_FILE",
        "BROKER_REDIS_TLS_KEY_FILE",
        "BROKER_CACHE_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "WEB_CONCURRENCY",
    ]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no stray .env
    for name, value in COMPLETE.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_settings_parse_complete_environment(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    settings.check()
    assert settings.oidc_audience == ["client-a", "client-b"]
    assert settings.jwks_url == COMPLETE["BROKER_OIDC_ISSUER"] + "/.well-known/jwks.json"
    assert settings.min_remaining_seconds == 900


def test_settings_check_names_every_missing_variable(env: pytest.MonkeyPatch) -> None:
    env.delenv("BROKER_OIDC_ISSUER")
    env.delenv("AWS_REGION")
    with pytest.raises(ConfigurationError) as error:
        load_settings().check()
    assert "BROKER_OIDC_ISSUER is required" in str(error.value)
    assert "AWS_REGION is required" in str(error.value)


def test_settings_check_refuses_redis_without_cache_key(env: pytest.MonkeyPatch) -> None:
    env.setenv("BROKER_REDIS_URL", "redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigurationError, match="BROKER_CACHE_KEY"):
        load_settings().check()


def test_settings_check_accepts_redis_with_cache_key(env: pytest.MonkeyPatch) -> None:
    env.setenv("BROKER_REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setenv("BROKER_CACHE_KEY", base64.b64encode(b"k" * 32).decode())
    load_settings().check()


def test_settings_check_refuses_short_cache_key_with_fix(env: pytest.MonkeyPatch) -> None:
    env.setenv("BROKER_CACHE_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(ConfigurationError, match=r"os\.urandom\(32\)"):
        load_settings().check()


def test_settings_check_refuses_session_not_longer_than_minimum(env: pytest.MonkeyPatch) -> None:
    env.setenv("BROKER_SESSION_DURATION_SECONDS", "900")
    with pytest.raises(ConfigurationError, match="BROKER_SESSION_DURATION_SECONDS"):
        load_settings().check()


def test_settings_check_refuses_bad_account_and_algorithm(env: pytest.MonkeyPatch) -> None:
    env.setenv("BROKER_ACCESS_GRANTS_ACCOUNT_ID", "12345")
    env.setenv("BROKER_OIDC_ALGORITHMS", "RS256,HS256")
    with pytest.raises(ConfigurationError) as error:
        load_settings().check()
    assert "12-digit" in str(error.value)
    assert "BROKER_OIDC_ALGORITHMS" in str(error.value)


def test_load_settings_reports_out_of_range_values(env: pytest.MonkeyPatch) -> None:
    env.setenv("BROKER_SESSION_DURATION_SECONDS", "60")
    with pytest.raises(ConfigurationError, match="SESSION_DURATION_SECONDS"):
        load_settings()


def test_settings_accept_aws_default_region(env: pytest.MonkeyPatch) -> None:
    env.delenv("AWS_REGION")
    env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert Settings().aws_region == "eu-west-1"


def test_serve_refuses_incomplete_configuration(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("BROKER_IDC_APPLICATION_ARN")
    assert main(["serve", "--port", "0"]) == 2
    assert "BROKER_IDC_APPLICATION_ARN is required" in capsys.readouterr().err


def _record_server(env: pytest.MonkeyPatch, seen: dict[str, Any]) -> None:
    """Replace run_server by one that records the uvicorn configuration it would run."""

    def record(app: Any, settings: Settings, *, host: str, port: int, workers: int = 1) -> int:
        seen["config"] = service.server.server_config(app, settings, host=host, port=port, workers=workers)
        return 0

    env.setattr(service.server, "run_server", record)


def test_serve_hands_the_connection_limits_and_the_drain_to_uvicorn(env: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    env.setenv("BROKER_KEEPALIVE_TIMEOUT_SECONDS", "7")
    env.setenv("BROKER_MAX_HEADER_BYTES", "8192")
    env.setenv("BROKER_SHUTDOWN_DRAIN_SECONDS", "45")
    env.setattr(service.app, "create_app", lambda settings: "app")
    env.setattr(service.logs, "configure_logging", lambda *args: None)
    _record_server(env, seen)
    assert main(["serve", "--port", "0"]) == 0
    config: uvicorn.Config = seen["config"]
    assert config.app == "app"
    assert config.timeout_keep_alive == 7
    assert config.h11_max_incomplete_event_size == 8 * 8192
    assert config.timeout_graceful_shutdown == 45


def test_serve_refuses_several_workers_without_a_shared_cache(tmp_path: Path) -> None:
    # WEB_CONCURRENCY used to reach uvicorn, which exited with its generic import-string message.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    env.update(COMPLETE, WEB_CONCURRENCY="2", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--workers 2" in lines[0]
    assert "BROKER_REDIS_URL" in lines[0]
    assert "BROKER_CACHE_KEY" in lines[0]
    assert "Traceback" not in done.stderr


def test_serve_runs_several_workers_from_the_app_factory(env: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    env.setenv("BROKER_REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setenv("BROKER_CACHE_KEY", base64.b64encode(b"k" * 32).decode())
    env.setenv("WEB_CONCURRENCY", "3")
    env.setattr(service.logs, "configure_logging", lambda *args: None)
    _record_server(env, seen)

    assert main(["serve", "--port", "0"]) == 0
    assert seen["config"].app == "service.app:create_app_from_env"
    assert seen["config"].factory is True
    assert seen["config"].workers == 3
    assert main(["serve", "--port", "0", "--workers", "2"]) == 0
    assert seen["config"].workers == 2


def test_serve_refuses_a_worker_count_below_one(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--workers", "0"])
    assert exited.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_limits_have_safe_defaults_and_bounds(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.max_body_bytes == 1048576
    assert settings.max_header_bytes == 16384
    assert settings.body_timeout_seconds == 10
    assert settings.keepalive_timeout_seconds == 5
    assert settings.max_concurrent_requests == 256
    env.setenv("BROKER_MAX_BODY_BYTES", "0")
    with pytest.raises(ConfigurationError, match="MAX_BODY_BYTES"):
        load_settings()


def test_settings_read_several_issuers_from_json_after_the_single_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "BROKER_OIDC_ISSUERS",
        '[{"issuer": "https://login.example.com/t", "audiences": ["web"], "token_use": null,'
        ' "mapping_claim": "upn",'
        ' "application_arn": "arn:aws:sso::111122223333:application/ssoins-1/apl-2"}]',
    )
    settings = Settings(_env_file=None, oidc_issuer="https://issuer.test/pool", oidc_audience=["client"])

    first, second = settings.issuers()

    assert (first.issuer, first.audiences, first.keys_url) == (
        "https://issuer.test/pool",
        ["client"],
        "https://issuer.test/pool/.well-known/jwks.json",
    )
    assert (second.issuer, second.token_use, second.mapping_claim) == (
        "https://login.example.com/t",
        None,
        "upn",
    )
    assert second.application_arn == "arn:aws:sso::111122223333:application/ssoins-1/apl-2"


def test_settings_with_an_issuer_list_need_no_single_issuer() -> None:
    listed = Settings(_env_file=None, oidc_issuers=[{"issuer": "https://a.test", "audiences": ["x"]}])
    duplicated = Settings(
        _env_file=None,
        oidc_issuer="https://a.test",
        oidc_audience=["y"],
        oidc_issuers=[{"issuer": "https://a.test", "audiences": ["x"]}],
    )

    assert "BROKER_OIDC_ISSUER" not in listed.missing()
    with pytest.raises(ConfigurationError, match="each issuer may appear once"):
        duplicated.check()


def test_default_drain_outlasts_the_worst_retried_aws_call(env: pytest.MonkeyPatch) -> None:
    # docs/operations.md#shutdown-and-probes: a request waiting on one AWS call is never cut by default.
    assert Settings().shutdown_drain_seconds > worst_call_seconds()
    assert Settings().shutdown_delay_seconds == 0
